"""COCO 2017 object detection from a locally prepared TFDS dataset.

The dataset is TFDS ``coco/2017`` (features ``image`` JPEG, ``image/filename``,
``image/id`` int64, ``objects`` = Sequence of {``area`` int64, ``bbox``
normalized ``(ymin, xmin, ymax, xmax)``, ``id`` int64, ``is_crowd`` bool,
``label`` ClassLabel(80)}; splits ``train``, ``validation``, ``test``),
already built under ``data_dir`` -- nothing here downloads or prepares data.
``data_dir`` / ``name`` work exactly as in ``fixnorm_experiments.data.tfds_local``.

``make_coco_dataset`` yields batches in the format of keras_hub's
``RetinaNetObjectDetector`` (``bounding_box_format="yxyx"``)::

    images: float32 [B, H, W, 3]   (H, W) = image_size
    {"boxes":  float32 [B, max_boxes, 4]  absolute pixel (ymin, xmin, ymax, xmax)
                                          in the resized + padded image,
     "labels": int32   [B, max_boxes]     class index 0..79}

Missing boxes are padded with -1 (all four coordinates and the label): the
``RetinaNetLabelEncoder`` gives anchors matched to a -1 class the background
class -1, and keras' ``compute_iou`` masks boxes whose coordinates are all
negative. An image with more than ``max_boxes`` objects keeps its first
``max_boxes``. Crowd boxes (``is_crowd``) are dropped (training and
evaluation: the loss has no use for them), and so are boxes left with no area.

Geometry: each image is resized keeping its aspect ratio so that it fits in
``image_size`` (scale ``min(H / h, W / w)``, bilinear) and padded at the
bottom / right. Images are ImageNet mean/std-normalized like the
classification pipelines (``fixnorm_experiments.data.augment.normalize``) *before*
padding, so the padding is 0 (the mean colour). Build a keras_hub detector on
these with ``preprocessor=None`` (its image converter would rescale again).

Training adds a random horizontal flip (box x coordinates mirrored) and a
scale jitter: the fitted scale is multiplied by a factor uniform in
``scale_range``, ``(1.0, 1.0)`` by default (i.e. no jitter: the standard
RetinaNet 1x recipe is flip only); above 1 the resized image is randomly
cropped to ``image_size`` and boxes are clipped to the crop (those left with
no area are dropped). Randomness comes from stateless ops fed per-example
seeds: with ``seed`` the stream is reproducible and still changes from epoch to
epoch. Evaluation keeps file order and the last partial batch.

COCO AP needs more than the loss targets: ``make_coco_eval_dataset`` yields
the image id, the resize scale and the full ground truth in original-image
pixels, crowd boxes and annotation areas included (the small / medium / large
AP ranges use the annotation ``area`` in original pixels). ``COCO_CATEGORY_IDS``
maps the 0..79 labels to the COCO category ids of the annotation files.
"""

from __future__ import annotations

import tensorflow as tf

from fixnorm_experiments.data.augment import check_positive_int, decode_image, normalize
from fixnorm_experiments.data.cityscapes import (
    check_scale_range,
    check_size_pair,
    finish,
    read_local_split,
    seed_stream,
)

COCO_NAME = "coco/2017"
NUM_CLASSES = 80
PAD_VALUE = -1
IMAGE_KEY = "image"
OBJECTS_KEY = "objects"
FEATURES = (IMAGE_KEY, "image/id", OBJECTS_KEY)

# The COCO category id of each of the 80 TFDS labels (the categories of
# instances_*2017.json in id order, which is the ClassLabel order).
COCO_CATEGORY_IDS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27,
    28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53,
    54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80,
    81, 82, 84, 85, 86, 87, 88, 89, 90,
)


def fit_size(shape_hw, image_size, jitter=1.0):
    """int32 ``[2]`` size of an image of ``shape_hw`` resized to fit ``image_size``, times
    ``jitter`` (without jitter the result never exceeds ``image_size``)."""
    shape = tf.cast(shape_hw, tf.float32)
    target = tf.constant(image_size, tf.float32)
    scale = tf.reduce_min(target / shape) * jitter
    size = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), 1)
    return tf.where(jitter <= 1.0, tf.minimum(size, tf.constant(image_size, tf.int32)), size)


def pad_boxes(boxes, labels, max_boxes: int):
    """Keep the first ``max_boxes`` and pad with ``PAD_VALUE`` to ``[max_boxes, 4]`` /
    ``[max_boxes]`` (float32 boxes, int32 labels)."""
    boxes = tf.cast(boxes[:max_boxes], tf.float32)
    labels = tf.cast(labels[:max_boxes], tf.int32)
    extra = max_boxes - tf.shape(labels)[0]
    boxes = tf.pad(boxes, [[0, extra], [0, 0]], constant_values=float(PAD_VALUE))
    labels = tf.pad(labels, [[0, extra]], constant_values=PAD_VALUE)
    return tf.ensure_shape(boxes, [max_boxes, 4]), tf.ensure_shape(labels, [max_boxes])


def _keep_boxes(boxes, labels, keep):
    return tf.boolean_mask(boxes, keep), tf.boolean_mask(labels, keep)


def _has_area(boxes):
    return tf.logical_and(boxes[:, 2] > boxes[:, 0], boxes[:, 3] > boxes[:, 1])


def resize_and_pad(image, boxes, image_size, seed=None, scale_range=(1.0, 1.0)):
    """Resize (fit + optional jitter), flip, crop and pad one image and its boxes.

    Args:
      image: uint8 ``[h, w, 3]``.
      boxes: float32 ``[N, 4]`` normalized ``(ymin, xmin, ymax, xmax)``.
      image_size: ``(H, W)`` of the output.
      seed: int tensor ``[2]``: training augmentation (flip, jitter, crop);
        ``None``: the deterministic evaluation resize.
      scale_range: jitter factor range (training only).

    Returns:
      (float32 normalized image ``[H, W, 3]``, float32 absolute yxyx boxes
      ``[N, 4]`` in it (clipped to the crop when jittering), int32 ``[2]``
      size of the valid (unpadded) region).
    """
    out_h, out_w = image_size
    jitter = tf.constant(1.0)
    if seed is not None:
        jitter_seed, flip_seed, y_seed, x_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 4))
        jitter = tf.random.stateless_uniform([], jitter_seed, scale_range[0], scale_range[1])
    new_hw = fit_size(tf.shape(image)[:2], image_size, jitter)
    new_h, new_w = tf.cast(new_hw[0], tf.float32), tf.cast(new_hw[1], tf.float32)
    image = normalize(tf.image.resize(tf.cast(image, tf.float32), new_hw, method="bilinear"))
    boxes = tf.cast(boxes, tf.float32) * tf.stack([new_h, new_w, new_h, new_w])
    valid_hw = tf.minimum(new_hw, tf.constant(image_size, tf.int32))
    if seed is not None:
        flip = tf.random.stateless_uniform([], flip_seed) < 0.5
        image = tf.cond(flip, lambda: tf.reverse(image, [1]), lambda: image)
        flipped = tf.stack([boxes[:, 0], new_w - boxes[:, 3], boxes[:, 2], new_w - boxes[:, 1]], 1)
        boxes = tf.where(flip, flipped, boxes)
        offset_y = tf.random.stateless_uniform([], y_seed, 0, new_hw[0] - valid_hw[0] + 1,
                                               dtype=tf.int32)
        offset_x = tf.random.stateless_uniform([], x_seed, 0, new_hw[1] - valid_hw[1] + 1,
                                               dtype=tf.int32)
        image = tf.slice(image, [offset_y, offset_x, 0], [valid_hw[0], valid_hw[1], 3])
        offset = tf.cast(tf.stack([offset_y, offset_x, offset_y, offset_x]), tf.float32)
        limit = tf.cast(tf.concat([valid_hw, valid_hw], 0), tf.float32)
        boxes = tf.clip_by_value(boxes - offset, 0.0, limit)
    image = tf.image.pad_to_bounding_box(image, 0, 0, out_h, out_w)
    return tf.ensure_shape(image, [out_h, out_w, 3]), boxes, valid_hw


def _non_crowd(objects):
    keep = tf.logical_not(objects["is_crowd"])
    return _keep_boxes(objects["bbox"], objects["label"], keep)


def _check_common(batch_size, image_size, max_boxes=1):
    return (check_positive_int("batch_size", batch_size),
            check_size_pair("image_size", image_size),
            check_positive_int("max_boxes", max_boxes))


def make_coco_dataset(
    data_dir,
    split: str,
    batch_size: int,
    training: bool,
    image_size=(640, 640),
    max_boxes: int = 100,
    seed: int | None = None,
    name: str | None = COCO_NAME,
    *,
    scale_range=(1.0, 1.0),
    shuffle_buffer: int = 1024,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """COCO from a local TFDS dir -> batched ``(images, {"boxes", "labels"})``.

    Args:
      data_dir: TFDS root (with ``name``) or builder directory (``name=None``).
      split: ``"train"``, ``"validation"`` or ``"test"`` (TFDS slicing allowed;
        ``test`` has no annotations: all boxes are padding).
      batch_size: images per batch.
      training: flip + scale jitter, shuffle, drop the last partial batch;
        else file order, no augmentation, the last partial batch kept.
      image_size: output ``(height, width)`` (or an int for a square).
      max_boxes: boxes per image after padding / truncation.
      seed: makes the training stream reproducible.
      name: the TFDS name; ``None``: ``data_dir`` is the builder directory.
      scale_range: training scale-jitter factor ``(low, high)``; ``(1, 1)``
        (default) means none.
      shuffle_buffer: example shuffle buffer (encoded JPEGs) when training.
      input_context: from ``strategy.distribute_datasets_from_function``.

    Returns:
      ``tf.data.Dataset`` of ``(images float32 [B, H, W, 3], {"boxes": float32
      [B, max_boxes, 4], "labels": int32 [B, max_boxes]})``, see the module
      docstring; padding is -1.

    Raises:
      ImportError: ``tensorflow_datasets`` missing.
      ValueError: a bad argument, missing / empty ``data_dir``, dataset not
        prepared, unknown split, not a COCO-like dataset.
    """
    batch_size, image_hw, max_boxes = _check_common(batch_size, image_size, max_boxes)
    scale_range = check_scale_range("scale_range", scale_range)
    training = bool(training)
    deterministic = seed is not None or not training
    parallel = tf.data.AUTOTUNE
    records = read_local_split(data_dir, name, split, FEATURES, training, seed, input_context,
                               skip_decoding=(IMAGE_KEY,))
    records = records.map(lambda example: (example[IMAGE_KEY], example[OBJECTS_KEY]),
                          num_parallel_calls=parallel, deterministic=deterministic)

    def to_targets(image, boxes, labels):
        boxes, labels = _keep_boxes(boxes, labels, _has_area(boxes))
        boxes, labels = pad_boxes(boxes, labels, max_boxes)
        return image, {"boxes": boxes, "labels": labels}

    if training:
        if shuffle_buffer and shuffle_buffer > 0:
            records = records.shuffle(int(shuffle_buffer), seed=seed,
                                      reshuffle_each_iteration=True)

        def train_map(record, example_seed):
            image_bytes, objects = record
            boxes, labels = _non_crowd(objects)
            image, boxes, _ = resize_and_pad(decode_image(image_bytes), boxes, image_hw,
                                             example_seed, scale_range)
            return to_targets(image, boxes, labels)

        dataset = tf.data.Dataset.zip((records, seed_stream(seed))).map(
            train_map, num_parallel_calls=parallel, deterministic=deterministic)
    else:
        def eval_map(image_bytes, objects):
            boxes, labels = _non_crowd(objects)
            image, boxes, _ = resize_and_pad(decode_image(image_bytes), boxes, image_hw)
            return to_targets(image, boxes, labels)

        dataset = records.map(eval_map, num_parallel_calls=parallel, deterministic=deterministic)
    dataset = dataset.batch(batch_size, drop_remainder=training, num_parallel_calls=parallel,
                            deterministic=deterministic)
    return finish(dataset, deterministic)


def make_coco_eval_dataset(
    data_dir,
    split: str = "validation",
    batch_size: int = 8,
    image_size=(640, 640),
    name: str | None = COCO_NAME,
    *,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """COCO for AP evaluation: images plus everything needed to score detections.

    Images go through the evaluation resize + pad of ``make_coco_dataset``, in
    file order, the last partial batch kept. Per batch::

        images: float32 [B, H, W, 3]
        {"image_id":      int64   [B]        COCO image id
         "original_size": int32   [B, 2]     (h, w) of the original image
         "resized_size":  int32   [B, 2]     (h', w') of the valid region of ``images``
         "scale":         float32 [B, 2]     (h' / h, w' / w)
         "num_boxes":     int32   [B]        ground-truth objects per image (crowd included)
         "boxes":    float32 [B, N, 4]  ground truth, ORIGINAL-image pixels (ymin, xmin, ymax, xmax)
         "labels":   int32   [B, N]     0..79 (COCO category id: COCO_CATEGORY_IDS[label])
         "is_crowd": bool    [B, N]
         "area":     float32 [B, N]     the annotation's area in original pixels (segment area,
                                        what COCO's small / medium / large ranges use)
         "ann_id":   int64   [B, N]     COCO annotation id}

    ``N`` is the largest ``num_boxes`` in the batch (nothing is truncated);
    entries past ``num_boxes`` are padding: -1 (``is_crowd`` False). To
    compare detections made on ``images`` (yxyx pixels) with this ground
    truth, divide them by ``(scale_y, scale_x, scale_y, scale_x)``.

    Args:
      data_dir, split, name: as in ``make_coco_dataset``.
      batch_size: images per batch.
      image_size: model input ``(height, width)`` (or an int).
      input_context: from ``strategy.distribute_datasets_from_function``.

    Raises:
      ImportError, ValueError: as ``make_coco_dataset``.
    """
    batch_size, image_hw, _ = _check_common(batch_size, image_size)
    parallel = tf.data.AUTOTUNE
    records = read_local_split(data_dir, name, split, FEATURES, False, None, input_context,
                               skip_decoding=(IMAGE_KEY,))

    def eval_map(example):
        objects = example[OBJECTS_KEY]
        image = decode_image(example[IMAGE_KEY])
        original = tf.shape(image)[:2]
        image, _, resized = resize_and_pad(image, tf.zeros([0, 4]), image_hw)
        size = tf.cast(tf.concat([original, original], 0), tf.float32)
        return image, {
            "image_id": tf.cast(example["image/id"], tf.int64),
            "original_size": original,
            "resized_size": resized,
            "scale": tf.cast(resized, tf.float32) / tf.cast(original, tf.float32),
            "num_boxes": tf.shape(objects["label"])[0],
            "boxes": tf.cast(objects["bbox"], tf.float32) * size,
            "labels": tf.cast(objects["label"], tf.int32),
            "is_crowd": tf.cast(objects["is_crowd"], tf.bool),
            "area": tf.cast(objects["area"], tf.float32),
            "ann_id": tf.cast(objects["id"], tf.int64),
        }

    dataset = records.map(eval_map, num_parallel_calls=parallel, deterministic=True)
    padding = {"image_id": tf.constant(0, tf.int64), "original_size": 0, "resized_size": 0,
               "scale": 0.0, "num_boxes": 0, "boxes": float(PAD_VALUE), "labels": PAD_VALUE,
               "is_crowd": False, "area": float(PAD_VALUE),
               "ann_id": tf.constant(PAD_VALUE, tf.int64)}
    dataset = dataset.padded_batch(batch_size, padding_values=(0.0, padding),
                                   drop_remainder=False)
    return finish(dataset, True)
