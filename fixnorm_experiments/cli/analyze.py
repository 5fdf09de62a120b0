"""Print which kernels of a model FixNorm holds, and why: the role table.

    fixnorm-analyze --model=my_model.keras
    fixnorm-analyze --application=ResNet50 --input_shape=224,224,3
    fixnorm-analyze --model=detector.keras --classifier_outputs=cls_logits --json

Every trainable variable gets a role: "scale_invariant" (held at its
initial norm), "classifier" (held at norm alpha) or "other" (left free),
with the reason the graph rules or the sample probe gave (docs/method.md).
A `.keras` file is loaded without its optimizer; --import names modules to
import first, so their custom layers are registered. keras.applications
models are built with random weights (nothing is downloaded).
"""

import importlib
import json
import os
import sys

from absl import flags

from fixnorm_experiments.cli import common
from fixnorm_experiments.config import UsageError

FLAGS = flags.FLAGS  # parsed by absl in run_main
DEFINE = common.BinaryFlags()
DEFINE.string("model", None, "A saved .keras model file.")
DEFINE.string("application", None, "A keras.applications model by name, e.g. "
                    "ResNet50, MobileNetV2, EfficientNetB0 (random weights).")
DEFINE.list("input_shape", None, "--application: the input shape H,W,C (default: the "
                  "application's own, e.g. 224,224,3).")
DEFINE.enum("method", "auto", ["auto", "graph", "sample"],
                  "How roles are decided: the functional graph, a random sample batch, or "
                  "the graph where it can see and the sample for the rest.")
DEFINE.list("classifier_outputs", None, "The outputs that carry logits (default: every "
                  "output whose name does not say box or regression).")
DEFINE.list("import", None, "Modules to import before loading --model (custom layers).")
DEFINE.bool("json", False, "Print the roles as JSON instead of a table.")


def _input_shape(values):
    try:
        shape = tuple(int(v) for v in values)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise UsageError(f"--input_shape must be three positive integers H,W,C, got "
                         f"{','.join(values)}")
    return shape


def load(values):
    """The model the flags name; a UsageError saying what is wrong otherwise."""
    if bool(values.model) == bool(values.application):
        raise UsageError("give exactly one of --model=FILE.keras and --application=NAME")
    for module in getattr(values, "import") or ():
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise UsageError(f"--import {module}: {error}") from None
    import keras

    import tf_fixnorm  # noqa: F401  (registers FixNorm, so compiled models load)

    if values.model:
        if not os.path.isfile(values.model):
            raise UsageError(f"--model {values.model} is not a file")
        try:
            return keras.saving.load_model(values.model, compile=False)
        except (TypeError, ValueError, OSError) as error:
            raise UsageError(f"cannot load {values.model}: {' '.join(str(error).split())[:300]}"
                             " (custom layers: name their module with --import)") from None
    builder = getattr(keras.applications, values.application, None)
    if not callable(builder):
        names = sorted(n for n in dir(keras.applications) if n[:1].isupper())
        raise UsageError(f"--application {values.application} is not in keras.applications "
                         f"(e.g. {', '.join(names[:6])}, ...)")
    shape = {"input_shape": _input_shape(values.input_shape)} if values.input_shape else {}
    try:
        return builder(weights=None, **shape)
    except ValueError as error:
        raise UsageError(f"--application {values.application}: {error}") from None


def main(argv):
    common.no_extra_arguments(argv)
    try:
        model = load(FLAGS)
        import warnings

        import tf_fixnorm

        with warnings.catch_warnings():  # the notes are printed below, once
            warnings.simplefilter("ignore", UserWarning)
            analysis = tf_fixnorm.analyze(model, method=FLAGS.method,
                                          classifier_outputs=FLAGS.classifier_outputs)
    except ValueError as error:
        common.fail(error)
    if FLAGS.json:
        print(json.dumps({"model": model.name, "method": analysis.method,
                          "counts": analysis.counts(), "notes": analysis.warnings,
                          "variables": [{"path": e.path, "layer": e.layer, "shape": list(e.shape),
                                         "role": e.role, "reason": e.reason}
                                        for e in analysis.entries]}, indent=1))
        return
    print(analysis)
    for note in analysis.warnings:
        print(f"note: {note}")


def run():
    """Console-script entry point (`fixnorm-analyze`)."""
    common.run_main(main, sys.modules[__name__], DEFINE)


if __name__ == "__main__":
    run()
