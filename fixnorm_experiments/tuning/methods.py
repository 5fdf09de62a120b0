"""The search methods a tuning session compares, and the ranges they search.

Every method trains the same model on the same data with the same schedule
and epochs; only the searched knobs differ (docs/method.md, "FixNorm-tune"):

| method      | optimizer                         | searched            |
|-------------|-----------------------------------|---------------------|
| `fixnorm`   | FixNorm(SGD momentum 0.9)         | lr, alpha           |
| `bo_wd`     | SGD momentum 0.9 + coupled L2     | lr, weight_decay    |
| `random`    | SGD momentum 0.9 + coupled L2     | lr, weight_decay    |
| `reference` | SGD momentum 0.9 + coupled L2     | nothing: the recipe's reference lr and lambda |

Nothing here imports Keras or keras-tuner.
"""

from __future__ import annotations

import dataclasses

METHODS = ("fixnorm", "bo_wd", "random", "reference")
SEARCHED = {"fixnorm": ("lr", "alpha"), "bo_wd": ("lr", "weight_decay"),
            "random": ("lr", "weight_decay"), "reference": ()}


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
