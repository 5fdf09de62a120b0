"""A small post-activation ResNet for tests, demos and benchmarks.

Every convolution feeds a normalization layer and has no bias, so every conv
kernel is scale-invariant; the final ``Dense`` named ``"classifier"`` produces
logits and is the one kernel FixNorm holds at norm ``alpha``.
"""

from __future__ import annotations

import numbers

import keras
from keras import layers

NORM_KINDS = ("batch", "group", "layer")
MAX_GROUPS = 8


def _group_count(channels: int) -> int:
    """Largest divisor of ``channels`` that is at most ``MAX_GROUPS``.

    This is ``min(8, channels)`` whenever that divides ``channels`` (every
    power-of-two width), and stays valid for other widths.
    """
    return max(g for g in range(1, min(MAX_GROUPS, channels) + 1) if channels % g == 0)


def _norm_layer(norm: str, channels: int, bn_momentum: float, name: str):
    if norm == "batch":
        return layers.BatchNormalization(momentum=bn_momentum, name=name)
    if norm == "group":
        return layers.GroupNormalization(groups=_group_count(channels), name=name)
    if norm == "layer":
        return layers.LayerNormalization(axis=-1, name=name)
    raise ValueError(f"unknown norm {norm!r}; expected one of {NORM_KINDS}")


def _squeeze_excite(y, channels: int, prefix: str):
    """Channel gates from pooled features: two Dense layers (not scale-invariant)."""
    gate = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}_se_pool")(y)
    gate = layers.Dense(max(1, channels // 4), activation="relu", name=f"{prefix}_se_reduce")(gate)
    gate = layers.Dense(channels, activation="sigmoid", name=f"{prefix}_se_expand")(gate)
    return layers.Multiply(name=f"{prefix}_se_scale")([y, gate])


def _basic_block(x, channels: int, stride: int, norm: str, bn_momentum: float, prefix: str,
                 se: bool = False):
    """conv3x3-norm-relu-conv3x3-norm[-SE], plus shortcut, then Add and ReLU."""
    shortcut = x
    y = layers.Conv2D(channels, 3, strides=stride, padding="same", use_bias=False,
                      name=f"{prefix}_conv1")(x)
    y = _norm_layer(norm, channels, bn_momentum, f"{prefix}_norm1")(y)
    y = layers.ReLU(name=f"{prefix}_relu1")(y)
    y = layers.Conv2D(channels, 3, padding="same", use_bias=False, name=f"{prefix}_conv2")(y)
    y = _norm_layer(norm, channels, bn_momentum, f"{prefix}_norm2")(y)
    if se:
        y = _squeeze_excite(y, channels, prefix)
    if stride != 1 or x.shape[-1] != channels:
        shortcut = layers.Conv2D(channels, 1, strides=stride, use_bias=False,
                                 name=f"{prefix}_shortcut_conv")(x)
        shortcut = _norm_layer(norm, channels, bn_momentum, f"{prefix}_shortcut_norm")(shortcut)
    y = layers.Add(name=f"{prefix}_add")([y, shortcut])
    return layers.ReLU(name=f"{prefix}_out")(y)


def _check_positive_int(value, what: str):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")


def small_resnet(input_shape, num_classes: int, width: int = 16, blocks=(1, 1, 1),
                 norm: str = "batch", bn_momentum: float = 0.9, se: bool = False,
                 name: str = "small_resnet") -> keras.Model:
    """Build a post-activation ResNet with the Keras functional API.

    Layout: stem ``Conv2D(width, 3)`` -> norm -> ReLU; then ``len(blocks)``
    stages, stage ``i`` having ``blocks[i]`` basic blocks of width
    ``width * 2**i`` (the first block of every stage but the first has stride
    2 and a 1x1-conv + norm shortcut); global average pooling; a
    ``Dense(num_classes)`` named ``"classifier"`` that outputs logits.

    Args:
      input_shape: ``(height, width, channels)``.
      num_classes: number of logits.
      width: channels of the stem and the first stage.
      blocks: basic blocks per stage.
      norm: ``"batch"`` (BatchNormalization), ``"group"`` (GroupNormalization
        with up to 8 groups) or ``"layer"`` (LayerNormalization over channels).
      bn_momentum: BatchNormalization momentum; keep it ~0.9 for short runs,
        or the moving statistics lag the weights (docs/method.md, "Design
        decisions and the measurements that settled them").
      se: add squeeze-excitation to every block (two Dense kernels per block
        that are neither scale-invariant nor the classifier: role "other").
      name: model name.

    Raises:
      ValueError: on an unknown ``norm`` or a malformed size argument.
    """
    if norm not in NORM_KINDS:
        raise ValueError(f"unknown norm {norm!r}; expected one of {NORM_KINDS}")
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    _check_positive_int(num_classes, "num_classes")
    _check_positive_int(width, "width")
    blocks = tuple(blocks)
    if not blocks:
        raise ValueError("blocks must name at least one stage")
    for count in blocks:
        _check_positive_int(count, "every entry of blocks")
    if not 0.0 <= bn_momentum < 1.0:
        raise ValueError(f"bn_momentum must be in [0, 1), got {bn_momentum!r}")

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(width, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = _norm_layer(norm, width, bn_momentum, "stem_norm")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for stage, count in enumerate(blocks):
        channels = width * 2**stage
        for block in range(count):
            stride = 2 if (stage > 0 and block == 0) else 1
            x = _basic_block(x, channels, stride, norm, bn_momentum,
                             prefix=f"stage{stage + 1}_block{block + 1}", se=se)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    logits = layers.Dense(num_classes, name="classifier")(x)
    return keras.Model(inputs, logits, name=name)
