"""EfficientNet-B0/B1 (Tan & Le 2019), built here with the Keras functional API.

Also the home of the pieces the paper's other models share: the norm-layer
factory (BatchNorm or GroupNorm with up to 32 groups), channel rounding, and
the inverted-residual ("MBConv") block with optional squeeze-excitation that
`mobilenet_v2` reuses.

The network is the one of ``keras.applications.EfficientNetB0/B1`` (same
blocks, same channel and depth rounding, same squeeze-excitation width, same
parameter count at 1000 classes: B0 5,330,564 and B1 7,856,232 trainable +
non-trainable with BatchNorm, against keras.applications' 5,330,571 and
7,856,239, whose extra 7 are the non-trainable statistics of its input
Normalization layer, left out here), with three differences: the norm layer is selectable, stride-2
convolutions use ``padding="same"`` instead of explicit zero padding (same
parameters), and the logits layer is a ``Dense`` named ``"classifier"`` with no
softmax.

Layer names: ``stem_conv``/``stem_norm``, ``block{i}{letter}_expand_conv``,
``..._dwconv``, ``..._se_reduce``, ``..._se_expand``, ``..._project_conv``
(each conv followed by ``..._norm`` names of its own), ``top_conv``,
``classifier``. Every conv kernel feeds a norm layer directly and is
scale-invariant, except the squeeze-excitation kernels (``_se_`` in the
name), whose outputs pass a bias and a non-homogeneous activation before the
gate: those are "other".
"""

from __future__ import annotations

import math

import keras
from keras import layers

from fixnorm_experiments.models.blocks import (CONV_INIT, activation, check_args, make_divisible,
                                      mbconv_block, norm_layer, top)

# (kernel, repeats, filters_in, filters_out, expand_ratio, stride), se_ratio 0.25 throughout.
B0_BLOCKS = (
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
)

# variant -> (width_coefficient, depth_coefficient, native resolution, dropout)
VARIANTS = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
}


def efficientnet(variant: str = "b0", num_classes: int = 1000, input_shape=(224, 224, 3),
                 norm: str = "batch", bn_momentum: float = 0.9,
                 drop_connect_rate: float = 0.2, dropout_rate: float | None = None,
                 name: str | None = None) -> keras.Model:
    """EfficientNet-B0 or -B1 with logits from a ``Dense`` named "classifier".

    Args:
      variant: "b0" (5,330,564 parameters at 1000 classes with BatchNorm;
        Table 2: 5.3M) or "b1" (7,856,232; Table 2: 7.8M, +0.7%). With
        GroupNorm, which keeps no moving statistics: 5,288,548 and 7,794,184
        (also the trainable counts with either norm: -0.22% and -0.08%).
        B1 is B0 with depth x1.1 and native resolution 240; ``input_shape``
        is not changed for you (default 224).
      num_classes: number of logits.
      input_shape: ``(height, width, channels)``; any size (fully convolutional
        up to global pooling).
      norm: "batch" or "group". GroupNorm uses 32 groups when 32 divides the
        channel count, otherwise the largest divisor of the channel count
        that is <= 32 (EfficientNet's widths 16, 24, 40, 80, 96, 112, 144,
        240, 480, 672, 1152, ... give 16, 24, 20, 20, 32, 28, 24, 30, 32,
        32, 32 groups).
      bn_momentum: BatchNormalization momentum.
      drop_connect_rate: stochastic depth; block ``b`` of ``n`` drops its
        residual branch with probability ``drop_connect_rate * b / n``.
      dropout_rate: dropout before the classifier; default 0.2.
      name: model name; default ``"efficientnet_<variant>"``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown EfficientNet variant {variant!r}; expected one of "
                         f"{sorted(VARIANTS)}")
    input_shape = check_args(num_classes, input_shape, norm, bn_momentum)
    width, depth, _, default_dropout = VARIANTS[variant]
    if dropout_rate is None:
        dropout_rate = default_dropout

    def round_filters(filters):
        return make_divisible(filters * width, 8)

    def round_repeats(repeats):
        return int(math.ceil(depth * repeats))

    inputs = keras.Input(shape=input_shape, name="image")
    stem = round_filters(32)
    x = layers.Conv2D(stem, 3, strides=2, padding="same", use_bias=False,
                      kernel_initializer=CONV_INIT, name="stem_conv")(inputs)
    x = norm_layer(norm, stem, bn_momentum, "stem_norm")(x)
    x = activation("swish", "stem_act")(x)

    total = float(sum(round_repeats(b[1]) for b in B0_BLOCKS))
    b = 0
    for i, (kernel, repeats, _, filters_out, expand, stride) in enumerate(B0_BLOCKS):
        filters_out = round_filters(filters_out)
        for j in range(round_repeats(repeats)):
            x = mbconv_block(x, filters_out=filters_out, kernel_size=kernel,
                             stride=stride if j == 0 else 1, expand_ratio=expand,
                             se_ratio=0.25, act="swish", norm=norm, bn_momentum=bn_momentum,
                             drop_rate=drop_connect_rate * b / total,
                             prefix=f"block{i + 1}{chr(j + 97)}")
            b += 1

    head = round_filters(1280)
    x = layers.Conv2D(head, 1, padding="same", use_bias=False, kernel_initializer=CONV_INIT,
                      name="top_conv")(x)
    x = norm_layer(norm, head, bn_momentum, "top_norm")(x)
    x = activation("swish", "top_act")(x)
    logits = top(x, num_classes, dropout_rate)
    return keras.Model(inputs, logits, name=name or f"efficientnet_{variant}")


def efficientnet_b0(num_classes: int = 1000, input_shape=(224, 224, 3), norm: str = "batch",
                    **kwargs) -> keras.Model:
    """EfficientNet-B0; see `efficientnet`."""
    return efficientnet("b0", num_classes=num_classes, input_shape=input_shape, norm=norm,
                        **kwargs)


def efficientnet_b1(num_classes: int = 1000, input_shape=(224, 224, 3), norm: str = "batch",
                    **kwargs) -> keras.Model:
    """EfficientNet-B1; see `efficientnet`."""
    return efficientnet("b1", num_classes=num_classes, input_shape=input_shape, norm=norm,
                        **kwargs)
