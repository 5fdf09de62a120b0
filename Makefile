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

.PHONY: compare demo test bench venv clean distclean

venv: $(STAMP)

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install '$(TF_PACKAGE)>=2.16'
	$(PY) -m pip install -e '.[all]'
	# keras-hub for the segmentation/detection tests, without its
	# tensorflow-text dependency (which would add the full tensorflow wheel).
	$(PY) -m pip install --no-deps 'keras-hub>=0.21'
	touch $@

# FixNorm-tune against BO+WD and random search on the bundled digits, 3 seeds.
compare: $(STAMP)
	$(VENV)/bin/fixnorm-tune --recipe=digits_tune --compare=fixnorm,bo_wd,random --seeds=0,1,2 \
		--directory=tune_out $(TUNE_ARGS)

demo: $(STAMP)
	$(PY) -m fixnorm_experiments.cli.demo $(DEMO_ARGS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS) tests

bench: $(STAMP)
	$(PY) benchmarks/step_overhead.py $(BENCH_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache bench_out tune_out
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
