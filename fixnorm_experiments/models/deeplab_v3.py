"""DeepLabV3 on a dilated ResNet-50-D, output stride 8: the model of Table 3.

The Cityscapes baseline of the seed's Table 3 (lr 0.01, lambda 5e-4, 40k
iterations, batch 8, 512x1024 crops, poly schedule) is the common
segmentation toolboxes' "DeepLabV3 R-50-D8" setting (mmseg's
``deeplabv3_r50-d8`` Cityscapes configs). Built here from our ResNet-D
blocks (`resnet_d.stages`), with random weights; nothing is downloaded.

- Backbone: ResNet-50 with the deep stem (three 3x3 convs, 32/32/64
  channels); stages 3 and 4 at stride 1 with dilations 2 and 4, the first
  block of each at half the dilation (mmseg's ``contract_dilation``), so
  the features come out at stride 8. Unlike mmseg's ResNetV1c, the stride-2
  shortcut of stage 2 is ResNet-D's average pooling + 1x1 conv (the same
  parameters; the dilated stages have no strided shortcut).
- ASPP head on stage 4 (2048 channels): an image-pooling branch (global
  average, 1x1 conv, spread back over the feature map), a 1x1 branch and
  three 3x3 branches at dilations 12, 24 and 36, each conv followed by
  BatchNorm and ReLU, 512 channels each; their concatenation fused by a 3x3
  conv + BN + ReLU (512), channel dropout 0.1, and the 1x1 classifier
  ``segmentation_logits`` (with bias), resized bilinearly to the input size:
  the output ``segmentation``.
- Auxiliary FCN head on stage 3 (1024 channels): a 3x3 conv to 256 + BN +
  ReLU, channel dropout 0.1, the 1x1 classifier ``auxiliary_logits``,
  resized to the input size: the output ``auxiliary``. It only trains
  the backbone (loss weight `AUXILIARY_LOSS_WEIGHT`, 0.4); predictions and
  mIoU use ``segmentation`` alone (`main_output`).

Every conv except the two classifiers is bias-free and feeds a BatchNorm, so
`tf_fixnorm.analyze` finds it scale-invariant; the two 1x1 classifiers make
the logits of the same per-pixel softmax over the same labels, so both are
the classifier role and FixNorm holds each at alpha (its "frobenius"
measure holds every classifier kernel at alpha on its own; docs/method.md,
"The classifier, and regression outputs").

Built for one image size (the Keras graph knows the feature-map size, so the
image-pooling branch and the final resize are plain ``UpSampling2D`` and
``Resizing`` layers the analysis knows); any height and width work, not only
multiples of 8. For whole-image evaluation the task builds a twin at the
image size with the same weights (`tasks.segmentation`).

BatchNorm here uses Keras' momentum 0.9 (PyTorch's 0.1) and epsilon 1e-3
(mmseg: 1e-5), as everywhere in this package.
"""

from __future__ import annotations

import keras
from keras import layers

from fixnorm_experiments.models import resnet_d
from fixnorm_experiments.models.blocks import CONV_INIT, bias_free_conv, check_args, norm_layer

DILATIONS = (1, 1, 2, 4)  # per ResNet stage: output stride 8
ASPP_DILATIONS = (12, 24, 36)
ASPP_CHANNELS = 512
AUXILIARY_CHANNELS = 256
DROPOUT = 0.1
AUXILIARY_LOSS_WEIGHT = 0.4
# The model's outputs (logits at the input size) and their classifier convs.
MAIN, AUXILIARY = "segmentation", "auxiliary"
CLASSIFIERS = {MAIN: "segmentation_logits", AUXILIARY: "auxiliary_logits"}


def _conv_norm_relu(x, filters, kernel, name, norm, bn_momentum, dilation=1):
    x = bias_free_conv(filters, kernel, 1, f"{name}_conv", dilation)(x)
    x = norm_layer(norm, filters, bn_momentum, f"{name}_norm")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _classify(x, num_classes, size, name):
    """Channel dropout, the 1x1 classifier, and the bilinear resize to ``size``."""
    x = layers.SpatialDropout2D(DROPOUT, name=f"{name}_dropout")(x)
    x = layers.Conv2D(num_classes, 1, kernel_initializer=CONV_INIT,
                      name=CLASSIFIERS[name])(x)
    return layers.Resizing(*size, interpolation="bilinear", name=name)(x)


def aspp(x, norm="batch", bn_momentum=0.9):
    """The ASPP head's features (512 channels) on the stride-8 features ``x``."""
    height, width = x.shape[1:3]
    pooled = layers.GlobalAveragePooling2D(keepdims=True, name="aspp_pool")(x)
    pooled = _conv_norm_relu(pooled, ASPP_CHANNELS, 1, "aspp_image_pool", norm, bn_momentum)
    # Bilinear upsampling of a 1x1 map (mmseg's resize) repeats its value.
    branches = [layers.UpSampling2D((height, width), name="aspp_image_pool_spread")(pooled),
                _conv_norm_relu(x, ASPP_CHANNELS, 1, "aspp_1x1", norm, bn_momentum)]
    for dilation in ASPP_DILATIONS:
        branches.append(_conv_norm_relu(x, ASPP_CHANNELS, 3, f"aspp_3x3_d{dilation}", norm,
                                        bn_momentum, dilation))
    x = layers.Concatenate(name="aspp_concat")(branches)
    return _conv_norm_relu(x, ASPP_CHANNELS, 3, "aspp_fuse", norm, bn_momentum)


def deeplab_v3(num_classes: int = 19, image_shape=(512, 1024, 3), norm: str = "batch",
               bn_momentum: float = 0.9, auxiliary: bool = True,
               name: str = "deeplab_v3") -> keras.Model:
    """DeepLabV3 R-50-D8 (see the module docstring).

    Args:
      num_classes: classes of the per-pixel softmax (Cityscapes: 19).
      image_shape: (height, width, 3), both fixed (any positive size).
      norm: "batch" or "group" (`blocks.norm_layer`).
      bn_momentum: BatchNormalization momentum.
      auxiliary: add the auxiliary FCN head; the model then has two outputs,
        a dict ``{"segmentation": ..., "auxiliary": ...}``; else one tensor.
      name: the model's name.
    """
    image_shape = check_args(num_classes, image_shape, norm, bn_momentum)
    if image_shape[-1] != 3 or any(not isinstance(s, int) or s < 1 for s in image_shape[:2]):
        raise ValueError(f"image_shape must be (height, width, 3) with a fixed height and "
                         f"width, got {image_shape}: the model is built for one size "
                         "(build a twin with the same weights for another)")
    inputs = keras.Input(shape=image_shape, name="image")
    _, _, stage3, stage4 = resnet_d.stages(inputs, norm=norm, bn_momentum=bn_momentum,
                                           dilations=DILATIONS)
    size = image_shape[:2]
    segmentation = _classify(aspp(stage4, norm, bn_momentum), num_classes, size, MAIN)
    if not auxiliary:
        return keras.Model(inputs, segmentation, name=name)
    hidden = _conv_norm_relu(stage3, AUXILIARY_CHANNELS, 3, "auxiliary_head", norm,
                             bn_momentum)
    return keras.Model(inputs, {MAIN: segmentation,
                                AUXILIARY: _classify(hidden, num_classes, size, AUXILIARY)},
                       name=name)


def main_output(model) -> keras.Model:
    """``model`` itself, or, when it has the auxiliary head, a model sharing its
    layers that computes ``segmentation`` only (what predictions and mIoU use)."""
    if not isinstance(getattr(model, "output", None), dict):
        return model
    return keras.Model(model.input, model.output[MAIN], name=f"{model.name}_{MAIN}")


def load_resnet_weights(model, path):
    """Copy a classification ResNet50-D's weights into ``model``'s backbone.

    ``path``: a ``.weights.h5`` file of `resnet_d.resnet50_d` with batch
    norm (any number of classes, any input size). Keras names layers in that
    file by their order, not their names, so the classifier is rebuilt to
    read it, then every stem and stage layer is copied by name.
    """
    import h5py

    with h5py.File(path, "r") as weights:
        if "layers/dense/vars/0" not in weights:
            raise ValueError(f"{path} is not a weights file of resnet50_d (no classifier "
                             "'dense' in it)")
        num_classes = weights["layers/dense/vars/0"].shape[-1]
    source = resnet_d.resnet50_d(num_classes=num_classes, input_shape=(64, 64, 3))
    source.load_weights(path)
    copied = 0
    for layer in source.layers:
        if layer.weights and layer.name.startswith(("stem_", "stage")):
            model.get_layer(layer.name).set_weights(layer.get_weights())
            copied += 1
    return copied
