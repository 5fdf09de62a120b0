"""Norm math for FixNorm: plain functions on tensors, no model, no optimizer.

Every function here is pure (tensors in, tensors out) so tests and the
constraint, the optimizer and the callbacks all share one implementation.
Norms are computed in float32 whatever the weight dtype, and a weight whose
norm is zero is left as it is: its direction is undefined, so there is
nothing to rescale, and dividing by it would give NaN.
"""

import tensorflow as tf

# What `alpha` measures: the Frobenius norm of the whole classifier kernel
# ("frobenius") or the norm of each class's weight vector ("per_class").
ALPHA_MEASURES = ("frobenius", "per_class")
# How the scale-invariant kernels are held: one norm over all of them together
# ("global"), or each kernel at its own initial norm ("per_kernel").
SCOPES = ("global", "per_kernel")


def squared_norm(x, axis=None, keepdims=False):
    """Sum of squares of `x` over `axis` (all axes if None), in float32."""
    x = tf.cast(x, tf.float32)
    return tf.reduce_sum(tf.square(x), axis=axis, keepdims=keepdims)


def norm(x, axis=None, keepdims=False):
    """Euclidean (Frobenius) norm of `x` over `axis`, in float32."""
    return tf.sqrt(squared_norm(x, axis=axis, keepdims=keepdims))


def safe_scale(current_norm, target_norm):
    """Factor that takes `current_norm` to `target_norm`.

    1 wherever the current norm is zero (nothing to rescale) or the target is
    not positive (no target), so the result is always finite.
    """
    current_norm = tf.cast(current_norm, tf.float32)
    target_norm = tf.cast(target_norm, tf.float32)
    usable = tf.logical_and(current_norm > 0.0, target_norm > 0.0)
    return tf.where(usable, tf.math.divide_no_nan(target_norm, current_norm), 1.0)


def class_axes(rank):
    """Axes that hold one class's weights in a classifier kernel.

    Keras keeps the output units on the last axis of Dense, Conv and
    EinsumDense kernels, so a class's weight vector is everything else.
    """
    return list(range(rank - 1))


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
    scale = safe_scale(norm(x, axis=axis, keepdims=axis is not None), target_norm)
    return tf.cast(tf.cast(x, tf.float32) * scale, x.dtype)


def global_scale(squared_norms, target_norm):
    """One factor for a group held at a joint norm.

    Args:
        squared_norms: list of scalar squared norms, one per kernel.
        target_norm: the group's target norm.
    """
    return safe_scale(tf.sqrt(tf.add_n(list(squared_norms))), target_norm)


def per_kernel_scales(squared_norms, target_norms):
    """One factor per kernel, each held at its own target norm.

    Args:
        squared_norms: list of scalar squared norms.
        target_norms: 1-D tensor of targets, same length.
    """
    current = tf.sqrt(tf.stack(list(squared_norms)))
    return tf.unstack(safe_scale(current, target_norms), num=len(squared_norms))


def classifier_scale(kernel, alpha, alpha_measure="frobenius"):
    """Factor (scalar, or one per class with keepdims) that takes `kernel` to `alpha`."""
    if alpha_measure == "frobenius":
        return safe_scale(norm(kernel), alpha)
    if alpha_measure == "per_class":
        return safe_scale(norm(kernel, axis=class_axes(kernel.shape.rank), keepdims=True), alpha)
    raise ValueError(f"alpha_measure must be one of {ALPHA_MEASURES}, got {alpha_measure!r}")


def project(kernels, target_norm, scope="global"):
    """Project a group of kernels onto their norm constraint (functional form).

    Args:
        kernels: list of tensors.
        target_norm: scalar for scope "global", one value per kernel for
            "per_kernel".
        scope: "global" or "per_kernel".

    Returns:
        The list of rescaled tensors.
    """
    squared = [squared_norm(k) for k in kernels]
    if scope == "global":
        scales = [global_scale(squared, target_norm)] * len(kernels)
    elif scope == "per_kernel":
        scales = per_kernel_scales(squared, tf.convert_to_tensor(target_norm, tf.float32))
    else:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    return [tf.cast(tf.cast(k, tf.float32) * s, k.dtype) for k, s in zip(kernels, scales)]
