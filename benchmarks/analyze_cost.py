"""What `tf_fixnorm.analyze` costs on the largest keras.applications models.

    python benchmarks/analyze_cost.py [--models=EfficientNetB7,ConvNeXtXLarge] [--repeats=3]

For each model: the time Keras takes to build it (random weights, nothing
downloaded), then the time `analyze(model)` takes to decide every
variable's role from the functional graph, and their ratio (the target:
under 1, analyzing costs less than building). Best of ``--repeats`` runs of
each, in one process, on whichever backend KERAS_BACKEND names.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys  # noqa: E402

# Run from a checkout without installing: put the repository root on the path.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import shlex  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

from absl import app, flags  # noqa: E402

from benchmarks.machine_info import machine  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["EfficientNetB7", "ConvNeXtXLarge"],
                  "keras.applications models to measure.")
flags.DEFINE_integer("repeats", 3, "Runs of each measurement; the best is reported.",
                     lower_bound=1)


def measure(name, repeats):
    """(build seconds, analyze seconds, role counts, trainable variables) of one model."""
    import keras

    import tf_fixnorm

    builder = getattr(keras.applications, name)
    builds, analyses = [], []
    for _ in range(repeats):
        keras.backend.clear_session(free_memory=False)
        start = time.perf_counter()
        model = builder(weights=None)
        builds.append(time.perf_counter() - start)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            analysis = tf_fixnorm.analyze(model)
        analyses.append(time.perf_counter() - start)
    return min(builds), min(analyses), analysis.counts(), len(model.trainable_variables)


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments: {' '.join(argv[1:])}")
    import keras

    from fixnorm_text import format_table

    unknown = [n for n in FLAGS.models if not callable(getattr(keras.applications, n, None))]
    if unknown:
        sys.exit(f"error: {unknown[0]} is not a keras.applications model")
    print("command: " + " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv))
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine().items()))
    rows = []
    for name in FLAGS.models:
        build, analyze, counts, variables = measure(name, FLAGS.repeats)
        rows.append((name, str(variables), f"{counts['scale_invariant']}/{counts['classifier']}/"
                     f"{counts['other']}", f"{build:.2f}", f"{analyze:.2f}",
                     f"{analyze / build:.3f}"))
        print(f"{name}: build {build:.2f} s, analyze {analyze:.2f} s", flush=True)
    print(format_table(("model", "variables", "invariant/classifier/other", "build s",
                        "analyze s", "analyze/build"), rows,
                       [False, True, False, True, True, True]))


if __name__ == "__main__":
    app.run(main)
