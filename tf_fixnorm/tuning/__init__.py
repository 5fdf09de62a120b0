"""FixNorm-tune (docs/method.md, "FixNorm-tune"): lr first, then alpha, in a handful of trials.

- `search.py`: the one-dimensional search as pure functions (`LineSearch`,
  `propose`); no Keras, no TensorFlow.
- `two_stage.py`: the two stages (lr, then alpha) over it: what to run
  next from the trials so far; pure, shared by both front ends.
- `oracle.py`: `FixNormTuneOracle`, the search as a keras-tuner oracle
  (needs keras-tuner: ``pip install 'tf_fixnorm[tune]'``).
- `sampler.py`: `FixNormTuneSampler`, the search as an Optuna sampler
  (needs Optuna, in the same extra).
- `state.py`: the oracle's state files, written so a kill never loses a trial.
- `leases.py`: a worker silent for too long loses its trial to another.

Names are loaded on first use, so `tf_fixnorm.tuning.search` works without
keras-tuner or Optuna installed.
"""

import importlib

_EXPORTS = {
    "LineSearch": "tf_fixnorm.tuning.search",
    "propose": "tf_fixnorm.tuning.search",
    "run_serial": "tf_fixnorm.tuning.search",
    "TwoStageSearch": "tf_fixnorm.tuning.two_stage",
    "LR_STAGE": "tf_fixnorm.tuning.two_stage",
    "ALPHA_STAGE": "tf_fixnorm.tuning.two_stage",
    "FixNormTuneOracle": "tf_fixnorm.tuning.oracle",
    "FixNormTuneSampler": "tf_fixnorm.tuning.sampler",
    "DurableState": "tf_fixnorm.tuning.state",
    "WorkerLeases": "tf_fixnorm.tuning.leases",
}
_NEEDS = {"tf_fixnorm.tuning.oracle": "keras_tuner", "tf_fixnorm.tuning.state": "keras_tuner",
          "tf_fixnorm.tuning.leases": "keras_tuner",
          "tf_fixnorm.tuning.sampler": "optuna"}
_PIP_NAMES = {"keras_tuner": "keras-tuner", "optuna": "Optuna"}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tf_fixnorm.tuning' has no attribute {name!r}")
    module = _EXPORTS[name]
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as error:
        needed = _NEEDS.get(module)
        if needed is not None and error.name == needed:
            raise ImportError(f"tf_fixnorm.tuning.{name} needs {_PIP_NAMES[needed]}: "
                              "pip install 'tf_fixnorm[tune]'") from error
        raise
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
