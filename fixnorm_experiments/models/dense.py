"""Segmentation and detection models of the seed's Tables 3 and 4, by name.

``deeplab_v3`` (Cityscapes, Table 3) is our own DeepLabV3 R-50-D8
(`deeplab_v3`). ``retinanet`` (MS COCO, Table 4) is keras-hub's
``RetinaNetObjectDetector`` on a ResNet-50 backbone built from its
configuration. Random initial weights, nothing downloaded (the paper's runs
start from ImageNet weights: `load_backbone_weights`).

keras-hub is an optional extra (``pip install 'tf_fixnorm[dense]'``); this
module imports it only when the RetinaNet builder is called.

Which kernels ``alpha`` governs (``tf_fixnorm.analyze`` decides it; the seed
gives one alpha per task):
- DeepLabV3: the two 1x1 classifier convs, ``segmentation_logits`` and the
  auxiliary head's ``auxiliary_logits``: both make logits of the same
  per-pixel softmax (the exact analogue of the ImageNet classifier), and
  FixNorm holds each at alpha.
- RetinaNet: the classification head's output conv
  (``classification_head/logits_layer``), the logits of the sigmoid focal
  loss. The box head's output conv (``box_head/logits_layer``) is *not*
  held at alpha: its norm sets the size of the regressed box offsets, which
  the Huber loss compares with targets of a fixed size, so no rescaling of
  it is harmless. ``analyze`` leaves it "other" because its output is named
  ``bbox_regression`` (``classifier_outputs=`` or ``overrides=`` change it).
- The FPN and the heads' hidden convs have no normalization after them
  (keras-hub's default, as in the paper's RetinaNet), so they are "other"
  too. ``head_norm=True`` adds keras-hub's GroupNorm to the heads
  (``use_prediction_head_norm``); ``tf_fixnorm.analyze`` shows what that
  changes.
"""

from __future__ import annotations

from fixnorm_experiments.models import deeplab_v3 as deeplab

INSTALL_HINT = ("keras-hub is not installed: pip install 'tf_fixnorm[dense]' (or, beside "
                "tensorflow-cpu, pip install --no-deps keras-hub && pip install regex "
                "tokenizers; see BUILD.md)")

BACKBONES = ("resnet50", "resnet50_d")
SCORE_THRESHOLD = 0.05  # RetinaNet's detections kept for AP (mmdet's test_cfg)
# The logits outputs of each model: what alpha governs (see the docstring).
CLASSIFIER_OUTPUTS = {"deeplab_v3": (deeplab.MAIN, deeplab.AUXILIARY),
                      "retinanet": ("cls_logits",)}


def import_keras_hub():
    """Import ``keras_hub`` or raise ``ImportError`` saying how to install it."""
    try:
        import keras_hub
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    return keras_hub


def resnet50_backbone(image_shape, variant="resnet50"):
    """keras-hub's ResNet-50 from its configuration (no preset, no download).

    Args:
      image_shape: (height, width, 3); None sizes allowed.
      variant: "resnet50" (7x7 stem, strided shortcuts: the detection
        backbone of the paper's RetinaNet) or "resnet50_d" (3-conv stem and
        average-pooled shortcuts: ResNet-D, close to the "V1c" backbone of
        DeepLab on Cityscapes).
    """
    if variant not in BACKBONES:
        raise ValueError(f"backbone must be one of {BACKBONES}, got {variant!r}")
    keras_hub = import_keras_hub()
    stem = dict(input_conv_filters=[64], input_conv_kernel_sizes=[7],
                block_type="bottleneck_block")
    if variant == "resnet50_d":
        stem = dict(input_conv_filters=[32, 32, 64], input_conv_kernel_sizes=[3, 3, 3],
                    block_type="bottleneck_block_vd")
    return keras_hub.models.ResNetBackbone(
        stackwise_num_filters=[64, 128, 256, 512], stackwise_num_blocks=[3, 4, 6, 3],
        stackwise_num_strides=[1, 2, 2, 2], use_pre_activation=False,
        image_shape=tuple(image_shape), name=f"{variant}_backbone", **stem)


def _check_shape(image_shape, multiple):
    image_shape = tuple(image_shape)
    if len(image_shape) != 3 or image_shape[-1] != 3:
        raise ValueError(f"image_shape must be (height, width, 3), got {image_shape}")
    if any(s is not None and (s < multiple or s % multiple) for s in image_shape[:2]):
        raise ValueError(f"image height and width must be multiples of {multiple} "
                         f"(the backbone's coarsest stride), got {image_shape[:2]}")
    return image_shape


def deeplab_v3(num_classes, image_shape=(512, 1024, 3), backbone="resnet50_d8", **kwargs):
    """Our DeepLabV3 R-50-D8 (`deeplab_v3.deeplab_v3`), with the auxiliary head."""
    if backbone != "resnet50_d8":
        raise ValueError(f"deeplab_v3 is built on resnet50_d8 (ResNet-50-D, output stride "
                         f"8), got backbone {backbone!r}")
    return deeplab.deeplab_v3(num_classes, image_shape, **kwargs)


def retinanet(num_classes, image_shape=(640, 640, 3), backbone="resnet50", head_norm=False):
    """RetinaNet on ResNet-50 + FPN (levels P3-P7, 9 anchors per place).

    Boxes are "yxyx" in pixels; heights and widths must be fixed multiples
    of 128 (the P7 stride; the anchors are laid out for one size). ``head_norm=True`` adds GroupNorm to the heads.
    """
    keras_hub = import_keras_hub()
    image_shape = _check_shape(image_shape, 128)
    if None in image_shape:
        raise ValueError(f"retinanet needs a fixed image size, got {image_shape[:2]}")
    encoder = resnet50_backbone(image_shape, backbone)
    body = keras_hub.models.RetinaNetBackbone(image_encoder=encoder, min_level=3, max_level=7,
                                              use_p5=False, image_shape=image_shape)
    # mmdet's test setting keeps detections scoring 0.05 and more (keras-hub: 0.5,
    # which drops the low-confidence tail that AP counts).
    decoder = keras_hub.layers.NonMaxSuppression(
        bounding_box_format="yxyx", from_logits=True, iou_threshold=0.5,
        confidence_threshold=SCORE_THRESHOLD, max_detections=100)
    model = keras_hub.models.RetinaNetObjectDetector(
        backbone=body, num_classes=num_classes, bounding_box_format="yxyx",
        use_prediction_head_norm=head_norm, prediction_decoder=decoder, name="retinanet")
    _init_heads(model)
    return model


def _init_heads(model, prior=0.01):
    """The head initialization of the RetinaNet paper (Lin et al. 2017, 4.1).

    keras-hub draws head kernels from N(0, 0.05) and puts the focal-loss
    prior bias on the box head; trained from scratch, that gives logits in
    the hundreds and a first step that diverges. Here: every head kernel
    N(0, 0.01), biases 0, and the classification output bias
    -log((1 - prior) / prior), so every anchor starts at probability `prior`.
    """
    import keras
    import numpy as np

    draw = keras.initializers.RandomNormal(stddev=0.01)
    for head in (model.box_head, model.classification_head):
        for layer in head._flatten_layers(include_self=False):
            if isinstance(layer, keras.layers.Conv2D):
                layer.kernel.assign(draw(layer.kernel.shape))
                if layer.bias is not None:
                    layer.bias.assign(np.zeros(layer.bias.shape, "float32"))
    logits = model.classification_head.prediction_layer
    logits.bias.assign(np.full(logits.bias.shape, -np.log((1 - prior) / prior), "float32"))


MODELS = {"deeplab_v3": deeplab_v3, "retinanet": retinanet}


def load_backbone_weights(model, path):
    """Load ImageNet (or any) weights into the ResNet-50 inside ``model``.

    DeepLabV3: ``path`` is a ``.weights.h5`` file of our classification
    ``resnet50_d`` (any number of classes; what ``fixnorm-train`` saves for
    the ImageNet recipes), copied layer by layer (dilation does not change a
    kernel). RetinaNet: a file saved from a keras-hub ``ResNetBackbone`` of
    the same configuration (`resnet50_backbone`).
    """
    import os

    if not os.path.isfile(path):
        raise ValueError(f"backbone weights {path!r} is not a file: give a .weights.h5 file "
                         "of fixnorm_experiments.models.resnet_d.resnet50_d (DeepLabV3) or "
                         "of fixnorm_experiments.models.dense.resnet50_backbone (RetinaNet)")
    if hasattr(model, "backbone"):  # keras-hub
        model.backbone.image_encoder.load_weights(path)
    else:
        deeplab.load_resnet_weights(model, path)


def build(name, num_classes, image_shape, **kwargs):
    """Build the dense model registered as ``name`` (see ``MODELS``)."""
    if name not in MODELS:
        raise ValueError(f"unknown dense model {name!r}; known: {', '.join(sorted(MODELS))}")
    return MODELS[name](num_classes, image_shape, **kwargs)
