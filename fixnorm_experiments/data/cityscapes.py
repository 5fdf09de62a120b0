"""Cityscapes semantic segmentation from a locally prepared TFDS dataset.

The dataset is TFDS ``cityscapes/semantic_segmentation`` (features
``image_id`` Text, ``image_left`` PNG ``[H, W, 3]``, ``segmentation_label``
PNG ``[H, W, 1]`` holding the Cityscapes *labelIds* 0..33; splits ``train``,
``validation``, ``test``), already built under ``data_dir`` -- nothing here
downloads or prepares data. ``data_dir`` / ``name`` work exactly as in
``fixnorm_experiments.data.tfds_local``: ``name="cityscapes/semantic_segmentation"``
with ``data_dir`` = the TFDS root, or ``name=None`` with ``data_dir`` = the
builder directory itself (the one holding ``dataset_info.json``).

Labels: the labelIds are mapped to the 19 *trainIds* of the standard
cityscapesScripts table (``LABEL_ID_TO_TRAIN_ID``); every other id (and any
value above 33) becomes ``ignore_label`` (255 by default).

Images: float32, normalized per channel with the ImageNet mean and std on
0..255 pixels -- the convention of the classification pipelines
(``fixnorm_experiments.data.augment.normalize``).

Training: random scale in ``scale_range`` (image bilinear, label nearest
neighbour), padding at the bottom / right up to ``crop_size`` where the scaled
image is smaller (the *normalized* image with 0, i.e. the ImageNet mean colour,
the label with ``ignore_label``), a random ``crop_size`` crop and a random
horizontal flip of image and label together; examples are shuffled and the
last partial batch is dropped. Randomness comes from stateless ops fed
per-example seeds (as in ``augment``): with ``seed`` the stream is
reproducible and still changes from epoch to epoch. ``repeat()`` is up to the
caller. Evaluation: whole images in file order, no augmentation, the last
partial batch kept (all Cityscapes images are 1024 x 2048, so they batch).

The helpers ``read_local_split``, ``check_size_pair`` and
``check_scale_range`` are shared with ``fixnorm_experiments.data.coco``.
"""

from __future__ import annotations

import numbers

import numpy as np
import tensorflow as tf

from fixnorm_experiments.data.augment import check_positive_int, normalize
from fixnorm_experiments.data.tfds_local import check_split, import_tfds, load_local_builder

CITYSCAPES_NAME = "cityscapes/semantic_segmentation"
IMAGE_KEY = "image_left"
LABEL_KEY = "segmentation_label"
NUM_CLASSES = 19
IGNORE_LABEL = 255
NUM_LABEL_IDS = 34  # labelIds 0..33 (license plate, -1, is never stored in the PNGs)

# cityscapesScripts labels.py: labelId -> trainId for the 19 evaluated classes.
LABEL_ID_TO_TRAIN_ID = {
    7: 0,    # road
    8: 1,    # sidewalk
    11: 2,   # building
    12: 3,   # wall
    13: 4,   # fence
    17: 5,   # pole
    19: 6,   # traffic light
    20: 7,   # traffic sign
    21: 8,   # vegetation
    22: 9,   # terrain
    23: 10,  # sky
    24: 11,  # person
    25: 12,  # rider
    26: 13,  # car
    27: 14,  # truck
    28: 15,  # bus
    31: 16,  # train
    32: 17,  # motorcycle
    33: 18,  # bicycle
}
TRAIN_ID_NAMES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
    "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus",
    "train", "motorcycle", "bicycle",
)


# --- shared helpers (also used by fixnorm_experiments.data.coco) -------------------


def check_size_pair(name: str, value) -> tuple[int, int]:
    """``(height, width)`` of positive ints from an int or a pair, or one ``ValueError``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or (height, width), got {value!r}")
        return check_positive_int(name, value[0]), check_positive_int(name, value[1])
    size = check_positive_int(name, value)
    return size, size


def check_scale_range(name: str, value) -> tuple[float, float]:
    """``(low, high)`` with ``0 < low <= high``, or one ``ValueError``."""
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
            or not 0.0 < value[0] <= value[1]):
        raise ValueError(f"{name} must be (low, high) with 0 < low <= high, got {value!r}")
    return float(value[0]), float(value[1])


def read_local_split(data_dir, name: str | None, split: str, features, training: bool,
                     seed: int | None = None, input_context=None,
                     skip_decoding=()) -> tf.data.Dataset:
    """One split of a TFDS dataset prepared in ``data_dir``, as a dataset of feature dicts.

    Args:
      data_dir, name: as in ``fixnorm_experiments.data.tfds_local.load_local_builder``.
      split: a split name; TFDS slicing such as ``"train[:10%]"`` is allowed.
      features: feature names the dataset must have (checked up front).
      training: shuffle the files (seeded by ``seed``).
      seed: file-shuffle seed; with a seed, or when not training, element
        order is deterministic.
      input_context: from ``strategy.distribute_datasets_from_function``.
      skip_decoding: features to read as encoded bytes
        (``tfds.decode.SkipDecoding``).

    Raises:
      ImportError: ``tensorflow_datasets`` missing (says how to install it).
      ValueError: missing / empty ``data_dir``, dataset not prepared, unknown
        split (lists the available ones) or a missing feature.
    """
    tfds = import_tfds()
    builder = load_local_builder(data_dir, name)
    check_split(builder, split)
    available = builder.info.features
    missing = [key for key in features if key not in available]
    if missing:
        raise ValueError(f"TFDS dataset {builder.info.name!r} has no feature "
                         f"{', '.join(map(repr, missing))} (it has "
                         f"{', '.join(sorted(available.keys()))}): is data_dir / name the "
                         "right dataset?")
    read_config = tfds.ReadConfig(shuffle_seed=seed, input_context=input_context,
                                  try_autocache=False)
    options = tf.data.Options()
    options.deterministic = seed is not None or not training
    read_config.options = options
    try:
        return builder.as_dataset(
            split=split, shuffle_files=bool(training), read_config=read_config,
            decoders={key: tfds.decode.SkipDecoding() for key in skip_decoding})
    except Exception as error:  # noqa: BLE001 - tfds raises assorted types
        raise ValueError(f"cannot read split {split!r} of TFDS dataset {builder.info.name!r}: "
                         f"{str(error).strip().splitlines()[0]}") from None


def seed_stream(seed: int | None) -> tf.data.Dataset:
    """A dataset of ``[2]`` int64 stateless-op seeds, new ones every epoch."""
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)


def finish(dataset: tf.data.Dataset, deterministic: bool) -> tf.data.Dataset:
    """Set the element-order option and prefetch."""
    options = tf.data.Options()
    options.deterministic = bool(deterministic)
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


# --- labels --------------------------------------------------------------


def train_id_table(ignore_label: int = IGNORE_LABEL) -> np.ndarray:
    """int32 ``[256]``: entry ``i`` is the trainId of labelId ``i`` (``ignore_label`` if none)."""
    table = np.full(256, ignore_label, dtype=np.int32)
    for label_id, train_id in LABEL_ID_TO_TRAIN_ID.items():
        table[label_id] = train_id
    return table


def label_ids_to_train_ids(label_ids, ignore_label: int = IGNORE_LABEL):
    """Map a uint8 (or int in 0..255) labelId tensor to int32 trainIds (``tf.gather``)."""
    table = tf.constant(train_id_table(ignore_label))
    return tf.gather(table, tf.cast(label_ids, tf.int32))


def _check_ignore_label(ignore_label) -> int:
    if isinstance(ignore_label, bool) or not isinstance(ignore_label, numbers.Integral):
        raise ValueError(f"ignore_label must be an integer, got {ignore_label!r}")
    if 0 <= int(ignore_label) < NUM_CLASSES:
        raise ValueError(f"ignore_label must not be a trainId 0..{NUM_CLASSES - 1}, "
                         f"got {ignore_label!r}")
    return int(ignore_label)


# --- per-example transforms -----------------------------------------------


def decode_example(image_bytes, label_bytes, ignore_label: int = IGNORE_LABEL):
    """PNG bytes -> (uint8 image ``[H, W, 3]``, int32 trainIds ``[H, W, 1]``)."""
    image = tf.io.decode_png(image_bytes, channels=3)
    label = label_ids_to_train_ids(tf.io.decode_png(label_bytes, channels=1), ignore_label)
    return image, label


def random_scale_crop_flip(image, label, seed, crop_size, scale_range,
                           ignore_label: int = IGNORE_LABEL):
    """The training augmentation of one example.

    Args:
      image: ``[H, W, 3]`` 0..255 pixels (any real dtype).
      label: int32 ``[H, W, 1]`` trainIds.
      seed: int tensor ``[2]``, a stateless-op seed.
      crop_size: ``(height, width)`` of the output.
      scale_range: ``(low, high)``; the scale is uniform in it.
      ignore_label: label of the padding.

    Returns:
      (float32 normalized image ``[h, w, 3]`` with 0 in the padding, int32
      label ``[h, w]`` with ``ignore_label`` in the padding), ``(h, w) =
      crop_size``.
    """
    crop_h, crop_w = crop_size
    scale_seed, y_seed, x_seed, flip_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 4))
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.random.stateless_uniform([], scale_seed, scale_range[0], scale_range[1])
    new_hw = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), 1)
    image = tf.image.resize(tf.cast(image, tf.float32), new_hw, method="bilinear")
    label = tf.image.resize(label, new_hw, method="nearest")
    image = normalize(image)
    padded_h, padded_w = tf.maximum(new_hw[0], crop_h), tf.maximum(new_hw[1], crop_w)
    paddings = [[0, padded_h - new_hw[0]], [0, padded_w - new_hw[1]], [0, 0]]
    image = tf.pad(image, paddings, constant_values=0.0)
    label = tf.pad(label, paddings, constant_values=ignore_label)
    offset_y = tf.random.stateless_uniform([], y_seed, 0, padded_h - crop_h + 1, dtype=tf.int32)
    offset_x = tf.random.stateless_uniform([], x_seed, 0, padded_w - crop_w + 1, dtype=tf.int32)
    image = tf.slice(image, [offset_y, offset_x, 0], [crop_h, crop_w, 3])
    label = tf.slice(label, [offset_y, offset_x, 0], [crop_h, crop_w, 1])
    flip = tf.random.stateless_uniform([], flip_seed) < 0.5
    image = tf.cond(flip, lambda: tf.reverse(image, [1]), lambda: image)
    label = tf.cond(flip, lambda: tf.reverse(label, [1]), lambda: label)
    image = tf.ensure_shape(image, [crop_h, crop_w, 3])
    return image, tf.ensure_shape(label[..., 0], [crop_h, crop_w])


# --- the pipeline ---------------------------------------------------------


def make_cityscapes_dataset(
    data_dir,
    split: str,
    batch_size: int,
    training: bool,
    crop_size=(512, 1024),
    scale_range=(0.5, 2.0),
    seed: int | None = None,
    name: str | None = CITYSCAPES_NAME,
    ignore_label: int = IGNORE_LABEL,
    *,
    shuffle_buffer: int = 256,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """Cityscapes from a local TFDS dir -> batched ``(images, labels)``.

    Args:
      data_dir: TFDS root (with ``name``) or builder directory (``name=None``).
      split: ``"train"``, ``"validation"`` or ``"test"`` (TFDS slicing allowed).
      batch_size: examples per batch.
      training: augment (scale / crop / flip), shuffle and drop the last
        partial batch; else whole images in order, no augmentation.
      crop_size: training crop, an int or ``(height, width)``.
      scale_range: training random scale ``(low, high)``.
      seed: makes the training stream reproducible (file order, shuffle,
        augmentation).
      name: the TFDS name; ``None``: ``data_dir`` is the builder directory.
      ignore_label: label of unlabelled / unevaluated pixels and of padding.
      shuffle_buffer: example shuffle buffer (encoded PNGs) when training.
      input_context: from ``strategy.distribute_datasets_from_function``.

    Returns:
      ``tf.data.Dataset`` of ``(images float32 [B, H, W, 3], labels int32
      [B, H, W])``: ImageNet mean/std-normalized images, trainIds 0..18 or
      ``ignore_label``. Training: ``(H, W) = crop_size``; evaluation: the
      images' own size.

    Raises:
      ImportError: ``tensorflow_datasets`` missing.
      ValueError: a bad argument, missing / empty ``data_dir``, dataset not
        prepared, unknown split, not a Cityscapes-like dataset.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    crop_hw = check_size_pair("crop_size", crop_size)
    scale_range = check_scale_range("scale_range", scale_range)
    ignore_label = _check_ignore_label(ignore_label)
    training = bool(training)
    deterministic = seed is not None or not training
    parallel = tf.data.AUTOTUNE
    records = read_local_split(data_dir, name, split, (IMAGE_KEY, LABEL_KEY), training, seed,
                               input_context, skip_decoding=(IMAGE_KEY, LABEL_KEY))
    records = records.map(lambda example: (example[IMAGE_KEY], example[LABEL_KEY]),
                          num_parallel_calls=parallel, deterministic=deterministic)
    if training:
        if shuffle_buffer and shuffle_buffer > 0:
            records = records.shuffle(int(shuffle_buffer), seed=seed,
                                      reshuffle_each_iteration=True)

        def train_map(record, example_seed):
            image, label = decode_example(*record, ignore_label)
            return random_scale_crop_flip(image, label, example_seed, crop_hw, scale_range,
                                          ignore_label)

        dataset = tf.data.Dataset.zip((records, seed_stream(seed))).map(
            train_map, num_parallel_calls=parallel, deterministic=deterministic)
    else:
        def eval_map(image_bytes, label_bytes):
            image, label = decode_example(image_bytes, label_bytes, ignore_label)
            return normalize(image), label[..., 0]

        dataset = records.map(eval_map, num_parallel_calls=parallel, deterministic=deterministic)
    dataset = dataset.batch(batch_size, drop_remainder=training, num_parallel_calls=parallel,
                            deterministic=deterministic)
    return finish(dataset, deterministic)
