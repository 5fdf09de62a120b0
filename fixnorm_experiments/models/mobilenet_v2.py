"""MobileNetV2 (Sandler et al. 2018), plain and with EfficientNet-B0's tricks.

Plain (``tricks=False``): the network of ``keras.applications.MobileNetV2``
(ReLU6, no squeeze-excitation, expanded width ``6 * input``, last conv 1280,
or ``make_divisible(1280 * width, 8)`` when ``width > 1``), with the norm
selectable and a ``Dense`` named "classifier" giving logits. Channels are
``make_divisible(c * width, 8)`` (torchvision's and EfficientNet's
``round_filters``; keras.applications truncates ``int(c * width)`` first,
which only matters at widths where ``c * width`` has a fraction that decides
the rounding). Width 1.0 at 1000 classes: 3,504,872 trainable parameters,
3,538,984 with BatchNorm's moving statistics -- exactly keras.applications'
count (Table 2: 3.5M).

With tricks (``tricks=True``): the architecture tricks of EfficientNet-B0
(docs/method.md, "The paper's tables"): swish in place of ReLU6 everywhere, and
squeeze-excitation in every inverted residual block as in EfficientNet
(reduced width from the block's *input* channels x 0.25, swish, sigmoid gate
on the depthwise output), plus, as default training-side settings,
stochastic depth (``drop_connect_rate`` 0.2) and dropout 0.2 before the
classifier. Kernels stay 3x3 and the layout stays MobileNetV2's.

Which variant gives Table 2's 4.7M (x1.12*) and 8.0M (x1.54*)? Counted at
1000 classes, trainable parameters (what the paper's frameworks count: BN
moving statistics are buffers, not parameters; EfficientNet-B0's published
5.3M is likewise its 5,288,548 trainable ones), channels rounded to 8 and the
last conv scaled by the width:

====================================  ===================  ===================
SE reduced width                      x1.12 (4.7M)         x1.54 (8.0M)
====================================  ===================  ===================
``int(0.25 * in)`` (EfficientNet)     4,637,208 (-1.34%)   8,028,936 (+0.36%)
``make_divisible(0.25 * in, 4)``      4,655,248 (-0.95%)   8,049,300 (+0.62%)
``make_divisible(0.25 * in, 8)``      4,685,552 (-0.31%)   8,081,208 (+1.02%)
====================================  ===================  ===================

Only the middle row is within 1% of both, so that is what ``tricks=True``
builds (``SE_DIVISOR = 4``). Counting BN's moving statistics too
(``model.count_params()``) adds 38,480 / 52,128: 4,693,728 (-0.13%) and
8,101,428 (+1.27%). Other variants tried (SE width from the expanded
channels, an unscaled last conv (-6% / -12%), no rounding to 8, 5x5
depthwise kernels where EfficientNet has them) fit worse or need odd channel
counts; the exact model behind the paper's numbers is not in the seed.
"""

from __future__ import annotations

import keras

from fixnorm_experiments.models.blocks import (CONV_INIT, activation, check_args, make_divisible,
                                            mbconv_block, norm_layer, top)

# (expansion t, output channels c, repeats n, first stride s), Sandler et al. Table 2.
BLOCKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)

# Squeeze-excitation width rounding with tricks: make_divisible(0.25 * in, SE_DIVISOR).
SE_DIVISOR = 4


def mobilenet_v2(width: float = 1.0, num_classes: int = 1000, input_shape=(224, 224, 3),
                 norm: str = "batch", bn_momentum: float = 0.9, tricks: bool = False,
                 drop_connect_rate: float | None = None, dropout_rate: float | None = None,
                 name: str | None = None) -> keras.Model:
    """MobileNetV2 at ``width``, optionally with EfficientNet-B0's tricks.

    Args:
      width: width multiplier (keras.applications' ``alpha``).
      num_classes: number of logits.
      input_shape: ``(height, width, channels)``.
      norm: "batch" or "group". GroupNorm uses 32 groups when 32 divides the
        channel count, otherwise the largest divisor of it that is <= 32
        (e.g. 16 -> 16, 24 -> 24, 144 -> 24, 96 -> 32, 40 -> 20).
      bn_momentum: BatchNormalization momentum.
      tricks: swish + squeeze-excitation (EfficientNet-B0's blocks); see
        the module docstring for the exact variant and its parameter counts.
      drop_connect_rate: stochastic depth on the residual branches, rising
        linearly to this value; default 0.2 with tricks, 0 without.
      dropout_rate: dropout before the classifier; default 0.2 with tricks, 0
        without (keras.applications' MobileNetV2 has none).
      name: model name.
    """
    input_shape = check_args(num_classes, input_shape, norm, bn_momentum)
    if not width > 0:
        raise ValueError(f"width must be positive, got {width!r}")
    act = "swish" if tricks else "relu6"
    se_ratio = 0.25 if tricks else 0.0
    if drop_connect_rate is None:
        drop_connect_rate = 0.2 if tricks else 0.0
    if dropout_rate is None:
        dropout_rate = 0.2 if tricks else 0.0

    inputs = keras.Input(shape=input_shape, name="image")
    stem = make_divisible(32 * width, 8)
    x = keras.layers.Conv2D(stem, 3, strides=2, padding="same", use_bias=False,
                            kernel_initializer=CONV_INIT, name="stem_conv")(inputs)
    x = norm_layer(norm, stem, bn_momentum, "stem_norm")(x)
    x = activation(act, "stem_act")(x)

    total = float(sum(n for _, _, n, _ in BLOCKS))
    b = 0
    for i, (t, c, n, s) in enumerate(BLOCKS):
        filters_out = make_divisible(c * width, 8)
        for j in range(n):
            x = mbconv_block(x, filters_out=filters_out, kernel_size=3,
                             stride=s if j == 0 else 1, expand_ratio=t, se_ratio=se_ratio,
                             act=act, norm=norm, bn_momentum=bn_momentum,
                             drop_rate=drop_connect_rate * b / total,
                             se_divisor=SE_DIVISOR if tricks else None,
                             prefix=f"block{i + 1}{chr(j + 97)}")
            b += 1

    head = make_divisible(1280 * width, 8) if width > 1.0 else 1280
    x = keras.layers.Conv2D(head, 1, use_bias=False, kernel_initializer=CONV_INIT,
                            name="top_conv")(x)
    x = norm_layer(norm, head, bn_momentum, "top_norm")(x)
    x = activation(act, "top_act")(x)
    logits = top(x, num_classes, dropout_rate)
    if name is None:
        name = f"mobilenet_v2_x{width:g}" + ("_tricks" if tricks else "")
    return keras.Model(inputs, logits, name=name.replace(".", "_"))
