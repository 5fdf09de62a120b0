"""tf_fixnorm: train normalized Keras networks without weight decay by fixing weight norms.

- `analyze(model)`: which kernels are scale-invariant, which is the classifier
  (`tf_fixnorm.analysis`); `register_layer_rule(LayerClass, rule)` tells it
  how a custom layer treats a scaled input.
- `FixNorm(inner_optimizer, model, alpha)`: the optimizer wrapper; what
  happens after a step is in `tf_fixnorm.optimizer`.
- `FixedNorm(norm)`: a per-layer constraint holding a weight at a norm.
- `NormMonitor()`: weight norms and effective learning rates each epoch.
- `tf_fixnorm.tuning`: FixNorm-tune, the search over lr then alpha, and its
  keras-tuner oracle (`pip install 'tf_fixnorm[tune]'`).

docs/method.md says what FixNorm does and why. The paper's experiments
(recipes, training and tuning binaries) are the separate package
`fixnorm_experiments`, which imports this one and never the reverse.

Where Keras is installed the names above load with the package, which
registers FixNorm and FixedNorm for `keras.saving.load_model`; without it the
package still imports, so the Keras-free parts (the search in
`tf_fixnorm.tuning.search`) work on their own, and the names fail only when
used.
"""

import importlib
import importlib.util

_EXPORTS = {
    "analyze": "tf_fixnorm.analysis",
    "Analysis": "tf_fixnorm.analysis",
    "ROLES": "tf_fixnorm.analysis",
    "SCALE_INVARIANT": "tf_fixnorm.analysis",
    "CLASSIFIER": "tf_fixnorm.analysis",
    "OTHER": "tf_fixnorm.analysis",
    "register_layer_rule": "tf_fixnorm.analysis",
    "NormMonitor": "tf_fixnorm.callbacks",
    "find_fixnorm": "tf_fixnorm.callbacks",
    "FixedNorm": "tf_fixnorm.constraints",
    "FixNorm": "tf_fixnorm.optimizer",
}

# Subpackages reachable as attributes without their own import line.
_SUBPACKAGES = ("analysis", "tuning")

__all__ = list(_EXPORTS)
__version__ = "0.2.0"


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"tf_fixnorm.{name}")
    else:
        raise AttributeError(f"module 'tf_fixnorm' has no attribute {name!r}")
    globals()[name] = value
    return value


def _keras_installed():
    try:
        return importlib.util.find_spec("keras") is not None
    except (ImportError, ValueError):
        return False


if _keras_installed():
    for _name in _EXPORTS:
        __getattr__(_name)


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBPACKAGES))
