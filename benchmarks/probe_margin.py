"""How far apart invariant and non-invariant kernels are in the sample check.

    python benchmarks/probe_margin.py

For keras.applications models (weights=None, 32x32 input, batch 8), runs
the sample-based check (`tf_fixnorm.analysis.probe`) on every kernel and prints, with
the graph rules as the reference, the largest output change among invariant
kernels and the smallest among the others, against `probe.TOLERANCE`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import warnings  # noqa: E402

from absl import app  # noqa: E402

MODELS = ("ResNet50", "ResNet50V2", "MobileNetV2", "EfficientNetB0")


def margin(name):
    import keras

    import tf_fixnorm
    from tf_fixnorm.analysis import analyze as analysis
    from tf_fixnorm.analysis import probe

    model = getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3), classes=10)
    roles = tf_fixnorm.analyze(model, method="graph").roles
    kernels = [(v, layer) for v, layer in analysis._owned_variables(model) if len(v.shape) >= 2]
    measured = probe.probe(model, probe.default_sample(model), kernels)[0]
    invariant = [(measured[id(v)][0], v.path) for v, _ in kernels
                 if roles[v.path] == tf_fixnorm.SCALE_INVARIANT]
    other = [(measured[id(v)][0], v.path) for v, _ in kernels
             if roles[v.path] != tf_fixnorm.SCALE_INVARIANT]
    return max(invariant), min(other)


def main(argv):
    del argv
    from tf_fixnorm.analysis import probe

    warnings.simplefilter("ignore")
    print(f"scales {probe.SCALES}, tolerance {probe.TOLERANCE:g}")
    print(f"{'model':16s} {'max invariant':>14s}  (kernel)  {'min other':>10s}  (kernel)")
    for name in MODELS:
        (hi, hi_path), (lo, lo_path) = margin(name)
        print(f"{name:16s} {hi:14.1e}  ({hi_path})  {lo:10.1e}  ({lo_path})")


if __name__ == "__main__":
    app.run(main)
