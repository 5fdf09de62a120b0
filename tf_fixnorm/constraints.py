"""FixedNorm: a Keras constraint that holds a weight at a given norm."""

import math

import keras

from tf_fixnorm import projection


@keras.saving.register_keras_serializable(package="tf_fixnorm")
class FixedNorm(keras.constraints.Constraint):
    """Rescales a weight to norm `norm` after every optimizer update.

    For people who declare held norms per layer
    (`Conv2D(..., kernel_constraint=FixedNorm(4.0))`). Keras applies
    constraints after each `apply`; a weight of norm zero is left unchanged.

    Args:
        norm: the target norm (> 0).
        axis: axes the norm is taken over; None for the whole tensor (the
            Frobenius norm). E.g. for a Dense kernel `axis=0` holds each
            output unit's weight vector at `norm`.
    """

    def __init__(self, norm, axis=None):
        norm = float(norm)
        if not (norm > 0 and math.isfinite(norm)):
            raise ValueError(f"FixedNorm needs a positive finite norm, got {norm}")
        self.norm = norm
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis

    def __call__(self, w):
        return projection.rescale_to_norm(w, self.norm, axis=self.axis)

    def get_config(self):
        return {"norm": self.norm, "axis": self.axis}
