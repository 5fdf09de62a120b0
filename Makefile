# tf_fixnorm: `make compare` (the main job), `make demo`, `make test`, `make bench`.
# Needs only python3 (>= 3.10) and make; everything else goes into .venv.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tf_fixnorm-installed
PYTEST_ARGS ?= -q --timeout=300 -n 2 --durations=15
DEMO_ARGS ?=
BENCH_ARGS ?=
TUNE_ARGS ?=

# TensorFlow distribution: $TF_PACKAGE if set; else tensorflow-cpu on Linux
# x86_64 with no working nvidia-smi, else tensorflow. setup.py reads it too.
ifeq ($(strip $(TF_PACKAGE)),)
TF_PACKAGE := $(shell if [ "$$(uname -s)-$$(uname -m)" = Linux-x86_64 ] && \
	! nvidia-smi -L >/dev/null 2>&1; then echo tensorflow-cpu; else echo tensorflow; fi)
endif
export TF_PACKAGE
# The other Keras backends the core is tested on (CPU builds). torch 2.13.0
# is the CPU wheel this machine keeps on disk for Python 3.11; a plain
# `torch` would fetch a CUDA build of several GB.
TORCH_PACKAGE ?= torch==2.13.0
JAX_PACKAGE ?= jax
# The library's tests, run again on JAX and on PyTorch (the recipes, the
# tuner and their tests stay on TensorFlow).
CORE_TESTS ?= tests/test_projection.py tests/test_optimizer.py tests/test_callbacks.py \
	tests/test_backends.py tests/test_layer_rules.py tests/test_analysis_auto.py

.PHONY: compare demo test bench venv clean distclean

venv: $(STAMP)

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install '$(TF_PACKAGE)>=2.16'
	$(PY) -m pip install -e '.[all]'
	# keras-hub for the segmentation/detection tests, without its
	# tensorflow-text dependency (which would add the full tensorflow wheel).
	$(PY) -m pip install --no-deps 'keras-hub>=0.21'
	$(PY) -m pip install $(TORCH_PACKAGE) $(JAX_PACKAGE)
	touch $@

# FixNorm-tune against keras-tuner's BO+WD and Optuna's TPE on the bundled digits,
# 3 search seeds, 11 trials each; margin: two seed-noise stds (BENCHMARKS.md).
compare: $(STAMP)
	$(VENV)/bin/fixnorm-tune --recipe=digits_bench --validation_fraction=0.4 \
		--compare=fixnorm,bo_wd,optuna_tpe --seeds=0,1,2 --margin=0.01 \
		--directory=tune_out $(TUNE_ARGS)

demo: $(STAMP)
	$(PY) -m fixnorm_experiments.cli.demo $(DEMO_ARGS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS) tests
	KERAS_BACKEND=jax $(PY) -m pytest $(PYTEST_ARGS) $(CORE_TESTS)
	KERAS_BACKEND=torch $(PY) -m pytest $(PYTEST_ARGS) $(CORE_TESTS)

bench: $(STAMP)
	for backend in tensorflow jax torch; do \
		KERAS_BACKEND=$$backend $(PY) benchmarks/step_overhead.py $(BENCH_ARGS) || exit 1; done

clean:
	rm -rf build dist *.egg-info .pytest_cache bench_out tune_out
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
