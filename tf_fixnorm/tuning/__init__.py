"""FixNorm-tune (docs/method.md, "FixNorm-tune"): lr first, then alpha, in a handful of trials.

- `search.py`: the one-dimensional search as pure functions (`LineSearch`,
  `propose`); no Keras, no TensorFlow.
- `oracle.py`: `FixNormTuneOracle`, the search as a keras-tuner oracle
  (needs keras-tuner: ``pip install 'tf_fixnorm[tune]'``).
- `state.py`: the oracle's state files, written so a kill never loses a trial.

Names are loaded on first use, so `tf_fixnorm.tuning.search` works without
keras-tuner installed.
"""

import importlib

_EXPORTS = {
    "LineSearch": "tf_fixnorm.tuning.search",
    "propose": "tf_fixnorm.tuning.search",
    "run_serial": "tf_fixnorm.tuning.search",
    "FixNormTuneOracle": "tf_fixnorm.tuning.oracle",
    "LR_STAGE": "tf_fixnorm.tuning.oracle",
    "ALPHA_STAGE": "tf_fixnorm.tuning.oracle",
    "DurableState": "tf_fixnorm.tuning.state",
}
_NEEDS_KERAS_TUNER = {"tf_fixnorm.tuning.oracle", "tf_fixnorm.tuning.state"}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tf_fixnorm.tuning' has no attribute {name!r}")
    module = _EXPORTS[name]
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as error:
        if module in _NEEDS_KERAS_TUNER and error.name == "keras_tuner":
            raise ImportError(f"tf_fixnorm.tuning.{name} needs keras-tuner: "
                              "pip install 'tf_fixnorm[tune]'") from error
        raise
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
