"""The search methods a tuning session compares, and the ranges they search.

Every method trains the same model on the same data with the same schedule
and epochs; only the searched knobs differ (docs/method.md, "FixNorm-tune"):

| method          | optimizer                     | searched, by                                  |
|-----------------|-------------------------------|-----------------------------------------------|
| `fixnorm`       | FixNorm(SGD momentum 0.9)     | lr, alpha: FixNorm-tune                       |
| `bo_wd`         | SGD momentum 0.9 + coupled L2 | lr, weight_decay: keras-tuner BO, 3 random initial points |
| `bo_wd_default` | SGD momentum 0.9 + coupled L2 | the same, with keras-tuner's default initial points (3 per knob: 6) |
| `random`        | SGD momentum 0.9 + coupled L2 | lr, weight_decay: keras-tuner random search   |
| `optuna_tpe`    | SGD momentum 0.9 + coupled L2 | lr, weight_decay: Optuna's TPESampler, its defaults |
| `optuna_gp`     | SGD momentum 0.9 + coupled L2 | lr, weight_decay: Optuna's GPSampler, its defaults (needs PyTorch) |
| `no_decay`      | SGD momentum 0.9, no L2       | lr: FixNorm-tune's line search (what dropping weight decay alone gives) |
| `reference`     | SGD momentum 0.9 + coupled L2 | nothing: the recipe's reference lr and lambda |

Every knob is searched on a log scale over the same `Ranges`. Nothing here
imports Keras, keras-tuner or Optuna.
"""

from __future__ import annotations

import dataclasses

METHODS = ("fixnorm", "bo_wd", "bo_wd_default", "random", "optuna_tpe", "optuna_gp",
           "no_decay", "reference")
_LR_WD = ("lr", "weight_decay")
SEARCHED = {"fixnorm": ("lr", "alpha"), "bo_wd": _LR_WD, "bo_wd_default": _LR_WD,
            "random": _LR_WD, "optuna_tpe": _LR_WD, "optuna_gp": _LR_WD, "no_decay": ("lr",),
            "reference": ()}
# Knobs a method trains with but does not search.
FIXED = {"no_decay": {"weight_decay": 0.0}}


@dataclasses.dataclass(frozen=True)
class Ranges:
    """Search ranges, the same for every method that searches a knob."""

    lr: tuple = (1e-3, 10.0)
    alpha: tuple = (2.0 ** -6, 2.0 ** 8)
    weight_decay: tuple = (1e-6, 1e-2)

    def __post_init__(self):
        for name in ("lr", "alpha", "weight_decay"):
            low, high = getattr(self, name)
            if not 0 < low < high:
                raise ValueError(f"{name} range must satisfy 0 < low < high, got ({low}, {high})")


def flavour(method):
    """The recipe flavour a method trains: "fixnorm" or "reference"."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return "fixnorm" if method == "fixnorm" else "reference"
