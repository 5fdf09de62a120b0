"""tf_fixnorm: train normalized Keras networks without weight decay by fixing weight norms.

- `analyze(model)`: which kernels are scale-invariant, which is the classifier.
- `FixNorm(inner_optimizer, model, alpha)`: the optimizer wrapper.
- `FixedNorm(norm)`: a per-layer constraint holding a weight at a norm.
- `NormMonitor()`: weight norms and effective learning rates each epoch.
- `tuning`: FixNorm-tune, a keras-tuner oracle searching lr then alpha.

Where Keras is installed they load with the package, which registers FixNorm
for `keras.saving.load_model`; without it the package still imports, so the
TensorFlow-free parts (the search in `tf_fixnorm.tuning.search`, the reports)
work on their own, and the names above fail only when used.
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
    "NormMonitor": "tf_fixnorm.callbacks",
    "FixedNorm": "tf_fixnorm.constraints",
    "FixNorm": "tf_fixnorm.optimizer",
}

__all__ = list(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tf_fixnorm' has no attribute {name!r}")


def _keras_installed():
    try:
        return importlib.util.find_spec("keras") is not None
    except (ImportError, ValueError):
        return False


if _keras_installed():
    for _name in _EXPORTS:
        __getattr__(_name)


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
