"""A segmentation or detection recipe made concrete: data, model, compile, score.

The dense counterpart of `experiment.py`: `recipes/train_dense.py` (one run)
and the tuner (many trials) build their runs here. Needs keras-hub
(`pip install 'tf_fixnorm[dense]'`) and tensorflow-datasets.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

IGNORE_LABEL = 255


@dataclasses.dataclass
class DenseData:
    """Batched datasets of one run.

    ``train`` repeats forever; ``evaluation`` gives (images, targets) in the
    training format, at the training size (validation loss during
    training); ``scoring`` is what `score` reads: whole validation images
    for segmentation, COCO's AP dataset (ground truth in original pixels)
    for detection.
    """

    train: object
    evaluation: object
    scoring: object
    num_classes: int


def parse_image_size(values):
    """(height, width) from a flag's list of strings, or a ValueError."""
    try:
        size = tuple(int(v) for v in values)
    except ValueError:
        size = ()
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"--image_size must be H,W (two positive integers), got "
                         f"{','.join(values)}")
    return size


def image_size(recipe, override=None):
    """(height, width): ``override`` (an int or a pair) or the recipe's."""
    size = override or recipe.image_size
    if isinstance(size, int):
        size = (size, size)
    return tuple(int(s) for s in size)


def load_data(recipe, global_batch_size, seed=0, data_dir=None, tfds_name=None,
              image_size_override=None, eval_batch_size=None):
    """The recipe's datasets from a local TFDS directory.

    Args:
      recipe: a `tf_fixnorm.recipes.DenseRecipe`.
      global_batch_size: training examples per step over all replicas.
      seed: seed of shuffling and augmentation.
      data_dir: the TFDS root holding ``cityscapes/semantic_segmentation`` or
        ``coco/2017`` (or, with ``tfds_name=""``, the builder directory).
      tfds_name: overrides the dataset name under ``data_dir``.
      image_size_override: training crop / padded image size.
      eval_batch_size: evaluation batch (default: the training batch).
    """
    if not data_dir:
        raise ValueError(f"recipe {recipe.name!r} needs --data_dir: a TFDS directory holding "
                         f"{'cityscapes/semantic_segmentation' if recipe.dataset == 'cityscapes' else 'coco/2017'}")
    size = image_size(recipe, image_size_override)
    eval_batch = eval_batch_size or global_batch_size
    name = {} if tfds_name is None else {"name": tfds_name or None}
    if recipe.dataset == "cityscapes":
        from tf_fixnorm.data import cityscapes

        train = cityscapes.make_cityscapes_dataset(
            data_dir, "train", global_batch_size, True, crop_size=size, seed=seed, **name)
        # Validation loss on one random crop per image at scale 1 (the model
        # is built for the crop size); `score` reads whole images.
        evaluation = cityscapes.make_cityscapes_dataset(
            data_dir, "validation", eval_batch, True, crop_size=size, scale_range=(1.0, 1.0),
            seed=seed, shuffle_buffer=1, **name)
        scoring = cityscapes.make_cityscapes_dataset(
            data_dir, "validation", eval_batch, False, **name)
        return DenseData(train.repeat(), evaluation, scoring, recipe.num_classes)
    if recipe.dataset == "coco":
        from tf_fixnorm.data import coco

        train = coco.make_coco_dataset(data_dir, "train", global_batch_size, True,
                                       image_size=size, seed=seed, **name)
        evaluation = coco.make_coco_dataset(data_dir, "validation", eval_batch, False,
                                            image_size=size, **name)
        scoring = coco.make_coco_eval_dataset(data_dir, "validation", eval_batch,
                                              image_size=size, **name)
        return DenseData(train.repeat(), evaluation, scoring, recipe.num_classes)
    raise ValueError(f"unknown dense dataset {recipe.dataset!r}")


def build_model(recipe, image_size_override=None, sync_batch_norm=None):
    """The recipe's keras-hub model at the training size (random weights,
    nothing downloaded); BatchNorm synchronized across replicas if
    ``sync_batch_norm`` (default: the recipe's setting)."""
    from tf_fixnorm import training
    from tf_fixnorm.models import dense

    model = dense.build(recipe.model, recipe.num_classes,
                        image_size(recipe, image_size_override) + (3,), backbone=recipe.backbone)
    if recipe.sync_batch_norm if sync_batch_norm is None else sync_batch_norm:
        training.synchronize_batch_norm(model)
    return model


def load_backbone_weights(model, path):
    """Load ImageNet (or any) weights into the ResNet-50 inside `model`.

    `path` is a Keras ``.weights.h5`` file saved from a keras-hub
    ``ResNetBackbone`` of the same configuration (`models.dense.resnet50_backbone`).
    The paper's segmentation and detection runs start from ImageNet weights.
    """
    if not os.path.isfile(path):
        raise ValueError(f"backbone weights {path!r} is not a file: give a .weights.h5 file "
                         "saved from tf_fixnorm.models.dense.resnet50_backbone(...)")
    model.backbone.image_encoder.load_weights(path)


def _at_size(model, recipe, size):
    """`model`, or a twin built for images of `size` holding its weights.

    keras-hub's DeepLabV3 upsamples by fixed factors, so it is built for one
    size; whole validation images (Cityscapes: 1024x2048) are larger than the
    training crops. The weights do not depend on the size.
    """
    if tuple(model.input_shape[1:3]) == tuple(size):
        return model
    twin = build_model(recipe, size)
    twin.set_weights(model.get_weights())
    return twin


def classifier_outputs(recipe):
    """The outputs whose kernels alpha governs (`tf_fixnorm.models.dense`)."""
    from tf_fixnorm.models import dense

    return dense.CLASSIFIER_OUTPUTS[recipe.model]


def compile_model(model, recipe, optimizer):
    """Loss and metrics: per-pixel cross-entropy ignoring label 255 and a
    running mIoU; keras-hub's RetinaNet losses (Huber boxes, focal classes)."""
    import keras

    if recipe.task == "segmentation":
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                            ignore_class=IGNORE_LABEL),
            metrics=[keras.metrics.MeanIoU(recipe.num_classes, ignore_class=IGNORE_LABEL,
                                           sparse_y_pred=False, name="mean_iou")])
    else:
        model.compile(optimizer=optimizer)
    return model


def replica_loss(model, recipe):
    """`(x, y, y_pred) -> mean loss` of one replica's batch, for the custom
    multi-worker loop (`training.custom_loop_fit`): the compiled loss."""
    import keras

    if recipe.task == "segmentation":
        cross_entropy = keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=IGNORE_LABEL)
        return lambda x, y, y_pred: cross_entropy(y, y_pred)
    return lambda x, y, y_pred: model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=None)


def score(model, recipe, data, max_batches=None):
    """The recipe's metric on ``data.scoring``: mIoU or COCO AP (percent).

    Segmentation: `tf_fixnorm.metrics.MeanIoUAccumulator` (the Cityscapes
    convention: classes absent from labels and predictions are left out).
    Detection: `tf_fixnorm.metrics.CocoAPAccumulator` (pycocotools' COCOeval
    algorithm, checked against it in tests) on keras-hub's decoded boxes
    (its NonMaxSuppression, 100 per image), scaled back to original pixels.

    Returns:
      dict: ``metric`` (the recipe's headline number, in %) and the details.
    """
    from tf_fixnorm import metrics

    batches = data.scoring if max_batches is None else data.scoring.take(max_batches)
    if recipe.task == "segmentation":
        accumulator = metrics.MeanIoUAccumulator(recipe.num_classes, IGNORE_LABEL)
        sized = {}
        for images, labels in batches:
            size = tuple(images.shape[1:3])
            if size not in sized:
                sized[size] = _at_size(model, recipe, size)
            accumulator.update(labels.numpy(), sized[size].predict_on_batch(images))
        result = accumulator.result()
        return {"metric": 100 * result["mean_iou"], "mean_iou": result["mean_iou"],
                "pixel_accuracy": result["pixel_accuracy"],
                "per_class_iou": [None if np.isnan(v) else float(v)
                                  for v in result["per_class_iou"]]}
    accumulator = metrics.CocoAPAccumulator()
    for images, truth in batches:
        # keras-hub's predict_step chokes on predict_on_batch's 1-tuple
        # (retinanet_object_detector.decode_predictions); decode directly.
        predicted = model.decode_predictions(model(images, training=False), images)
        predicted = {k: np.asarray(v) for k, v in predicted.items()}
        truth = {k: v.numpy() for k, v in truth.items()}
        for i, image_id in enumerate(truth["image_id"]):
            n_true = int(truth["num_boxes"][i])
            scale = np.tile(truth["scale"][i], 2)
            n_found = int(predicted["num_detections"][i])
            accumulator.add(
                {"image_id": int(image_id),
                 "boxes": metrics.yxyx_to_xywh(truth["boxes"][i, :n_true]),
                 "labels": truth["labels"][i, :n_true],
                 "is_crowd": truth["is_crowd"][i, :n_true],
                 "area": truth["area"][i, :n_true]},
                {"boxes": metrics.yxyx_to_xywh(predicted["boxes"][i, :n_found] / scale),
                 "labels": np.asarray(predicted["labels"][i, :n_found]).astype(np.int64),
                 "scores": predicted["confidence"][i, :n_found]})
    result = accumulator.result()
    return {"metric": 100 * max(result["AP"], 0.0), **result}
