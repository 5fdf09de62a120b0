"""Norm math for FixNorm: plain functions on tensors, no model, no optimizer.

Every function here is pure (tensors in, tensors out) and written on
`keras.ops`, so the optimizer, the constraint and the callback share one
implementation on every Keras backend. Norms are computed in float32 whatever
the weight dtype, and a weight whose norm is zero is left as it is: its
direction is undefined, so there is nothing to rescale, and dividing by it
would give NaN.

A held group is measured one of three ways (`MEASURES`):
- "joint": one norm over all its kernels together (the scale-invariant
  kernels under scope "global": layers may trade norm among themselves);
- "each": each kernel at its own target (scope "per_kernel", the held other
  kernels, and the classifier with alpha_measure "frobenius");
- "per_class": each class's weight vector of each kernel at the target (the
  classifier with alpha_measure "per_class").
"""

import numpy as np
from keras import ops

# What `alpha` measures: the Frobenius norm of the whole classifier kernel
# ("frobenius") or the norm of each class's weight vector ("per_class").
ALPHA_MEASURES = ("frobenius", "per_class")
# How the scale-invariant kernels are held: one norm over all of them together
# ("global"), or each kernel at its own initial norm ("per_kernel").
SCOPES = ("global", "per_kernel")
MEASURES = ("joint", "each", "per_class")


def squared_norm(x, axis=None, keepdims=False):
    """Sum of squares of `x` over `axis` (all axes if None), in float32."""
    x = ops.cast(x, "float32")
    return ops.sum(ops.square(x), axis=axis, keepdims=keepdims)


def norm(x, axis=None, keepdims=False):
    """Euclidean (Frobenius) norm of `x` over `axis`, in float32."""
    return ops.sqrt(squared_norm(x, axis=axis, keepdims=keepdims))


def safe_scale(current_norm, target_norm):
    """Factor that takes `current_norm` to `target_norm`.

    1 wherever the current norm is zero (nothing to rescale) or the target is
    not positive (no target), so the result is always finite.
    """
    current_norm = ops.cast(current_norm, "float32")
    target_norm = ops.cast(target_norm, "float32")
    usable = ops.logical_and(current_norm > 0.0, target_norm > 0.0)
    safe_current = ops.where(usable, current_norm, ops.ones_like(current_norm))
    return ops.where(usable, target_norm / safe_current, ops.ones_like(safe_current))


def class_axes(rank):
    """Axes that hold one class's weights in a classifier kernel.

    Keras keeps the output units on the last axis of Dense, Conv and
    EinsumDense kernels, so a class's weight vector is everything else.
    """
    return list(range(rank - 1))


def rescale(x, scale):
    """``x * scale`` in float32, back in the dtype of `x`."""
    return ops.cast(ops.cast(x, "float32") * scale, x.dtype)


def rescale_to_norm(x, target_norm, axis=None):
    """Rescale `x` so its norm over `axis` equals `target_norm`.

    Args:
        x: tensor.
        target_norm: positive scalar (or broadcastable to the reduced shape).
        axis: axes the norm is taken over; None for the whole tensor. With
            `axis=class_axes(rank)` every class (last-axis slice) is rescaled
            on its own.

    Returns:
        A tensor of the dtype of `x`; slices of zero norm are unchanged.
    """
    return rescale(x, safe_scale(norm(x, axis=axis, keepdims=axis is not None), target_norm))


def classifier_scale(kernel, alpha, alpha_measure="frobenius"):
    """Factor (scalar, or one per class with keepdims) that takes `kernel` to `alpha`."""
    if alpha_measure == "frobenius":
        return safe_scale(norm(kernel), alpha)
    if alpha_measure == "per_class":
        return safe_scale(norm(kernel, axis=class_axes(len(kernel.shape)), keepdims=True),
                          alpha)
    raise ValueError(f"alpha_measure must be one of {ALPHA_MEASURES}, got {alpha_measure!r}")


def _is_scalar(target):
    """A number, or a tensor or variable of shape () (a list is one target per kernel)."""
    if isinstance(target, (int, float)):
        return True
    shape = getattr(target, "shape", None)
    return shape is not None and len(shape) == 0


def group_scales(kernels, target, measure):
    """The factors that take a held group of kernels onto its target.

    Args:
        kernels: list of tensors.
        target: the target norm: a scalar, or (measure "each") one per kernel.
        measure: how the group is held, one of `MEASURES`.

    Returns:
        One factor per kernel (a scalar, or one per class for "per_class"),
        each 1 where there is nothing to rescale.
    """
    if not kernels:
        return []
    if measure == "joint":
        total = ops.sqrt(sum(squared_norm(k) for k in kernels))
        return [safe_scale(total, target)] * len(kernels)
    if measure == "each":
        if _is_scalar(target):  # alpha (a number or a scalar variable): one for all
            return [safe_scale(norm(k), target) for k in kernels]
        current = ops.stack([norm(k) for k in kernels])  # one op for all the targets
        return ops.unstack(safe_scale(current, target), num=len(kernels))
    if measure == "per_class":
        return [classifier_scale(k, target, "per_class") for k in kernels]
    raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")


# ---------------------------------------------------------------------------
# Reports (NumPy, outside the training step): one definition of a group's
# norm, shared by FixNorm's `norm_report` and `NormMonitor`.


def to_float(x):
    """A scalar tensor as a Python float, on any backend (detached on PyTorch,
    where ``float()`` of a tensor that needs gradients warns)."""
    return float(ops.convert_to_numpy(x))


def joint_norm(kernels):
    """The norm of all `kernels` together, as one vector (a float)."""
    return float(np.sqrt(sum(to_float(squared_norm(k)) for k in kernels)))


def classifier_norm(kernels, alpha_measure="frobenius"):
    """The classifier's norm in the units of alpha (a float; NaN for no kernel).

    The root mean square of what alpha holds: each kernel's norm
    ("frobenius") or each class's ("per_class"). It is alpha when every
    kernel is held, however many kernels the classifier has (a separable
    conv has two).
    """
    measured = []
    for kernel in kernels:
        if alpha_measure == "per_class":
            axes = class_axes(len(kernel.shape))
            measured += list(np.ravel(ops.convert_to_numpy(norm(kernel, axis=axes))))
        else:
            measured.append(to_float(norm(kernel)))
    return float(np.sqrt(np.mean(np.square(measured)))) if measured else float("nan")
