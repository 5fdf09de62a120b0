"""ResNet50-D and ResNet50-D* (He et al. 2019, "Bag of Tricks"), Keras functional API.

ResNet50-D is ResNet-50 with two changes:

* ResNet-C deep stem: three 3x3 convolutions (32, 32, 64 channels, the
  first with stride 2), each followed by norm and ReLU, then 3x3 max pooling
  with stride 2;
* ResNet-B/D bottlenecks: the stride sits on the 3x3 convolution, and a
  downsampling shortcut is 2x2 average pooling (stride 2, "same" padding)
  before its 1x1 convolution + norm.

ResNet50-D* (``se=True``) adds squeeze-excitation to every bottleneck as in
SE-ResNet-50 (reduction 16): global average pooling -> 1x1 conv with bias +
ReLU -> 1x1 conv with bias + sigmoid -> multiply the residual branch, before
the add.

Parameter counts at 1000 classes, 224x224 (BatchNorm, counting the moving
statistics as Keras' ``count_params`` does): ResNet50-D 25,629,512 (Table 2:
25.6M, +0.12%), ResNet50-D* 28,160,504 (Table 2: 28.1M, +0.22%). With
GroupNorm (no moving statistics): 25,576,264 and 28,107,256, which are also
the trainable counts of either norm (-0.09% and +0.03%; the tests compare
trainable parameters, as the paper's frameworks count them).

Layer names: ``stem_conv{1,2,3}``/``stem_norm{1,2,3}``, then
``stage{s}_block{b}_conv{1,2,3}`` with ``..._norm{1,2,3}``,
``stage{s}_block{b}_shortcut_conv``/``..._shortcut_norm``,
``stage{s}_block{b}_se_reduce``/``..._se_expand``, and the logits ``Dense``
``classifier``. Every conv is bias-free and feeds a norm layer directly, so its
kernel is scale-invariant; the squeeze-excitation kernels (``_se_`` in the
name) are not ("other"); ``classifier/kernel`` is the classifier.
"""

from __future__ import annotations

import keras
from keras import layers

from fixnorm_experiments.models.blocks import CONV_INIT, bias_free_conv, check_args, norm_layer

STAGES = (3, 4, 6, 3)  # bottlenecks per stage
WIDTHS = (64, 128, 256, 512)  # bottleneck (3x3) width; output is 4x
SE_REDUCTION = 16


def _bottleneck(x, width, stride, *, norm, bn_momentum, se, zero_init_last_gamma,
                drop_rate, prefix, dilation=1):
    out = 4 * width
    shortcut = x
    y = bias_free_conv(width, 1, 1, f"{prefix}_conv1")(x)
    y = norm_layer(norm, width, bn_momentum, f"{prefix}_norm1")(y)
    y = layers.ReLU(name=f"{prefix}_relu1")(y)
    y = bias_free_conv(width, 3, stride, f"{prefix}_conv2", dilation)(y)
    y = norm_layer(norm, width, bn_momentum, f"{prefix}_norm2")(y)
    y = layers.ReLU(name=f"{prefix}_relu2")(y)
    y = bias_free_conv(out, 1, 1, f"{prefix}_conv3")(y)
    y = norm_layer(norm, out, bn_momentum, f"{prefix}_norm3",
                   gamma_zero=zero_init_last_gamma)(y)
    if se:
        s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}_se_squeeze")(y)
        s = layers.Conv2D(out // SE_REDUCTION, 1, activation="relu",
                          kernel_initializer=CONV_INIT, name=f"{prefix}_se_reduce")(s)
        s = layers.Conv2D(out, 1, activation="sigmoid", kernel_initializer=CONV_INIT,
                          name=f"{prefix}_se_expand")(s)
        y = layers.Multiply(name=f"{prefix}_se_excite")([y, s])
    if drop_rate > 0:
        y = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{prefix}_drop")(y)
    if stride != 1 or x.shape[-1] != out:
        if stride != 1:
            shortcut = layers.AveragePooling2D(stride, strides=stride, padding="same",
                                               name=f"{prefix}_shortcut_pool")(shortcut)
        shortcut = bias_free_conv(out, 1, 1, f"{prefix}_shortcut_conv")(shortcut)
        shortcut = norm_layer(norm, out, bn_momentum, f"{prefix}_shortcut_norm")(shortcut)
    y = layers.Add(name=f"{prefix}_add")([y, shortcut])
    return layers.ReLU(name=f"{prefix}_out")(y)


def stages(inputs, *, norm="batch", bn_momentum=0.9, se=False, zero_init_last_gamma=False,
           drop_connect_rate=0.0, dilations=(1, 1, 1, 1)):
    """The stem and the four stages on ``inputs``; returns the four stage outputs.

    ``dilations`` (one per stage): a stage with dilation d > 1 keeps stride 1
    and dilates its 3x3 convs by d, its first block by d // 2 (mmseg's
    ``contract_dilation``), so the resolution it would have halved is kept.
    (1, 1, 2, 4) gives the output stride 8 of DeepLab's "D8" backbones.
    """
    x = inputs
    for i, (filters, stride) in enumerate(((32, 2), (32, 1), (64, 1))):
        x = bias_free_conv(filters, 3, stride, f"stem_conv{i + 1}")(x)
        x = norm_layer(norm, filters, bn_momentum, f"stem_norm{i + 1}")(x)
        x = layers.ReLU(name=f"stem_relu{i + 1}")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)

    total = float(sum(STAGES))
    b, outputs = 0, []
    for s, (count, width, dilation) in enumerate(zip(STAGES, WIDTHS, dilations)):
        for k in range(count):
            stride = 2 if (s > 0 and k == 0 and dilation == 1) else 1
            first_dilation = max(1, dilation // 2) if k == 0 else dilation
            x = _bottleneck(x, width, stride, norm=norm, bn_momentum=bn_momentum, se=se,
                            zero_init_last_gamma=zero_init_last_gamma,
                            drop_rate=drop_connect_rate * b / total,
                            prefix=f"stage{s + 1}_block{k + 1}", dilation=first_dilation)
            b += 1
        outputs.append(x)
    return outputs


def resnet50_d(num_classes: int = 1000, input_shape=(224, 224, 3), norm: str = "batch",
               bn_momentum: float = 0.9, se: bool = False, zero_init_last_gamma: bool = False,
               drop_connect_rate: float = 0.0, dropout_rate: float = 0.0,
               name: str | None = None) -> keras.Model:
    """ResNet50-D (``se=False``) or ResNet50-D* (``se=True``).

    Args:
      num_classes: number of logits (``Dense`` named "classifier", no softmax).
      input_shape: ``(height, width, channels)``.
      norm: "batch" or "group". GroupNorm has 32 groups everywhere: every
        channel count here (32, 64, ..., 2048) is a multiple of 32.
      bn_momentum: BatchNormalization momentum.
      se: add squeeze-excitation (reduction 16) to every bottleneck.
      zero_init_last_gamma: start the last norm of each residual branch at
        gamma = 0 (each block starts as the identity); the conv3 kernel stays
        scale-invariant.
      drop_connect_rate: stochastic depth; bottleneck ``b`` of 16 (counting
        from 0) drops its residual branch with probability
        ``drop_connect_rate * b / 16``.
      dropout_rate: dropout before the classifier.
      name: model name; default "resnet50_d" or "resnet50_d_se".
    """
    input_shape = check_args(num_classes, input_shape, norm, bn_momentum)
    inputs = keras.Input(shape=input_shape, name="image")
    x = stages(inputs, norm=norm, bn_momentum=bn_momentum, se=se,
               zero_init_last_gamma=zero_init_last_gamma,
               drop_connect_rate=drop_connect_rate)[-1]
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate, name="top_dropout")(x)
    logits = layers.Dense(num_classes, name="classifier")(x)
    return keras.Model(inputs, logits, name=name or ("resnet50_d_se" if se else "resnet50_d"))


def resnet50_d_se(num_classes: int = 1000, input_shape=(224, 224, 3), norm: str = "batch",
                  **kwargs) -> keras.Model:
    """ResNet50-D* (squeeze-excitation); see `resnet50_d`."""
    return resnet50_d(num_classes=num_classes, input_shape=input_shape, norm=norm, se=True,
                      **kwargs)
