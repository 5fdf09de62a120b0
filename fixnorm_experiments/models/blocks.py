"""Building blocks shared by the paper's models (ResNet50-D, MobileNetV2, EfficientNet).

The norm layer (BatchNorm or GroupNorm with up to 32 groups), channel
rounding, argument checks, activations, the inverted-residual (MBConv)
block with optional squeeze-excitation, and the classifier top.
"""

from __future__ import annotations

import numbers

import keras
from keras import layers

NORM_KINDS = ("batch", "group")
MAX_GROUPS = 32

# He-normal on fan_out (truncated), as in the reference EfficientNet/ResNet code.
CONV_INIT = keras.initializers.VarianceScaling(scale=2.0, mode="fan_out",
                                               distribution="truncated_normal")
DENSE_INIT = keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_out",
                                                distribution="uniform")


def group_count(channels: int, max_groups: int = MAX_GROUPS) -> int:
    """Largest divisor of ``channels`` that is at most ``max_groups`` (32).

    32 whenever 32 divides ``channels``; otherwise fewer groups, e.g. 24
    channels -> 24 groups (one channel per group), 40 -> 20, 144 -> 24,
    1152 -> 32, 16 -> 16.
    """
    return max(g for g in range(1, min(max_groups, channels) + 1) if channels % g == 0)


def norm_layer(norm: str, channels: int, bn_momentum: float, name: str,
               gamma_zero: bool = False):
    """BatchNormalization (``momentum=bn_momentum``) or GroupNormalization."""
    gamma_init = "zeros" if gamma_zero else "ones"
    if norm == "batch":
        return layers.BatchNormalization(momentum=bn_momentum, epsilon=1e-3,
                                         gamma_initializer=gamma_init, name=name)
    if norm == "group":
        return layers.GroupNormalization(groups=group_count(channels), epsilon=1e-3,
                                         gamma_initializer=gamma_init, name=name)
    raise ValueError(f"unknown norm {norm!r}; expected one of {NORM_KINDS}")


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never more than 10% down.

    The rounding of the MobileNetV2 and EfficientNet reference code.
    """
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return int(new)


def check_args(num_classes, input_shape, norm, bn_momentum):
    """Validate the arguments every builder takes; return ``input_shape`` as a tuple."""
    if norm not in NORM_KINDS:
        raise ValueError(f"unknown norm {norm!r}; expected one of {NORM_KINDS}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) \
            or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    if not 0.0 <= bn_momentum < 1.0:
        raise ValueError(f"bn_momentum must be in [0, 1), got {bn_momentum!r}")
    return input_shape


def activation(kind: str, name: str):
    """``"swish"`` (x * sigmoid(x)), ``"relu6"`` or ``"relu"`` as a named layer."""
    if kind == "relu6":
        return layers.ReLU(max_value=6.0, name=name)
    if kind == "relu":
        return layers.ReLU(name=name)
    return layers.Activation(kind, name=name)


def mbconv_block(x, *, filters_out: int, kernel_size: int, stride: int, expand_ratio: float,
                 se_ratio: float, act: str, norm: str, bn_momentum: float, drop_rate: float,
                 prefix: str, expanded: int | None = None, se_divisor: int | None = None):
    """Inverted residual block: [1x1 expand] -> depthwise -> [SE] -> 1x1 project.

    Every conv is bias-free and followed by a norm layer. The
    squeeze-excitation (when ``se_ratio > 0``) has ``max(1, int(filters_in *
    se_ratio))`` reduced channels (``filters_in``: the block's input width, as
    in EfficientNet; ``make_divisible(filters_in * se_ratio, se_divisor)``
    when ``se_divisor`` is given), swish (ReLU when the block's activation is
    not swish), then sigmoid, and
    multiplies the depthwise output. The residual (when the stride is 1 and
    the widths match) gets stochastic depth at rate ``drop_rate``.
    """
    filters_in = x.shape[-1]
    if expanded is None:
        expanded = int(filters_in * expand_ratio)
    inputs = x
    if expand_ratio != 1:
        x = layers.Conv2D(expanded, 1, padding="same", use_bias=False,
                          kernel_initializer=CONV_INIT, name=f"{prefix}_expand_conv")(x)
        x = norm_layer(norm, expanded, bn_momentum, f"{prefix}_expand_norm")(x)
        x = activation(act, f"{prefix}_expand_act")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=stride, padding="same", use_bias=False,
                               depthwise_initializer=CONV_INIT, name=f"{prefix}_dwconv")(x)
    x = norm_layer(norm, expanded, bn_momentum, f"{prefix}_dw_norm")(x)
    x = activation(act, f"{prefix}_dw_act")(x)
    if se_ratio and se_ratio > 0:
        filters_se = (max(1, int(filters_in * se_ratio)) if se_divisor is None
                      else make_divisible(filters_in * se_ratio, se_divisor))
        s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}_se_squeeze")(x)
        s = layers.Conv2D(filters_se, 1, padding="same", activation=act if act == "swish"
                          else "relu", kernel_initializer=CONV_INIT,
                          name=f"{prefix}_se_reduce")(s)
        s = layers.Conv2D(expanded, 1, padding="same", activation="sigmoid",
                          kernel_initializer=CONV_INIT, name=f"{prefix}_se_expand")(s)
        x = layers.Multiply(name=f"{prefix}_se_excite")([x, s])
    x = layers.Conv2D(filters_out, 1, padding="same", use_bias=False,
                      kernel_initializer=CONV_INIT, name=f"{prefix}_project_conv")(x)
    x = norm_layer(norm, filters_out, bn_momentum, f"{prefix}_project_norm")(x)
    if stride == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1),
                               name=f"{prefix}_drop")(x)
        x = layers.Add(name=f"{prefix}_add")([x, inputs])
    return x


def top(x, num_classes: int, dropout_rate: float):
    """Global average pooling, dropout, and the logits ``Dense`` named "classifier"."""
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate, name="top_dropout")(x)
    return layers.Dense(num_classes, kernel_initializer=DENSE_INIT, name="classifier")(x)


@keras.saving.register_keras_serializable(package="fixnorm_experiments")
class AtrousConv2D(layers.Conv2D):
    """A dilated "same" ``Conv2D`` that skips the taps which only see padding.

    The same function and weights as ``Conv2D``: a tap offset by the
    dilation beyond the feature map multiplies the zero padding everywhere,
    so it is dropped from the computation (it gets zero gradient either
    way). This matters on CPU, where TensorFlow computes a dilated conv on
    an input padded to a multiple of the dilation: DeepLab's ASPP at
    dilation 36 on a 4x6 map cost 5.5 s a forward pass for 48 pixels of
    output (`models.deeplab_v3`). On maps larger than the dilation it is
    plain ``Conv2D``, and so it is for even kernel sizes and strides or
    padding other than 1 and "same".
    """

    def convolution_op(self, inputs, kernel):
        size = inputs.shape[1:3]
        # Odd kernels only: an even one has no centre tap to keep.
        if self.padding != "same" or self.data_format != "channels_last" or \
                tuple(self.strides) != (1, 1) or None in size or \
                any(taps % 2 == 0 for taps in self.kernel_size):
            return super().convolution_op(inputs, kernel)
        keep = []
        for extent, taps, dilation in zip(size, self.kernel_size, self.dilation_rate):
            # Taps -r..r around the centre; tap t reaches |t| * dilation pixels away.
            radius = (taps - 1) // 2
            reach = min(radius, (extent - 1) // dilation)
            keep.append(slice(radius - reach, radius + reach + 1))
        if all(s.stop - s.start == taps for s, taps in zip(keep, self.kernel_size)):
            return super().convolution_op(inputs, kernel)
        from keras import ops

        return ops.conv(inputs, kernel[keep[0], keep[1]], strides=1, padding="same",
                        dilation_rate=self.dilation_rate, data_format=self.data_format)


def bias_free_conv(filters, kernel, stride, name, dilation=1):
    """A "same" conv without bias, He-initialized, that feeds a norm layer:
    ``AtrousConv2D`` when dilated, else plain ``Conv2D``."""
    conv = layers.Conv2D if dilation == 1 else AtrousConv2D
    return conv(filters, kernel, strides=stride, padding="same", use_bias=False,
                dilation_rate=dilation, kernel_initializer=CONV_INIT, name=name)
