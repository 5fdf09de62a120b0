"""ImageNet from TFRecords in the standard layout, as a ``tf.data`` pipeline.

The standard layout is the one written by the TensorFlow / TPU
``imagenet_to_gcs.py`` / ``build_imagenet_data.py`` conversion scripts::

    data_dir/train-00000-of-01024 ... train-01023-of-01024
    data_dir/validation-00000-of-00128 ... validation-00127-of-00128

Each record is a ``tf.train.Example`` with ``image/encoded`` (JPEG bytes) and
``image/class/label`` (int64). Those scripts number the classes **1..1000**
(0 is reserved for "background"), hence ``label_offset=1`` by default: the
labels this pipeline yields are ``image/class/label - label_offset``, i.e.
0..999. Pass ``label_offset=0`` for TFRecords with 0-based labels.

Corrupt files: ``tf.data`` reports a truncated or garbled record as
``tf.errors.DataLossError`` when it reaches it, often without the file name,
in the middle of an epoch. ``make_imagenet_dataset`` therefore validates the
files up front with ``check_readable`` (by default: every record of small file
sets, the first record of each file of big ones) and raises
``ValueError('corrupt TFRecord: <path>: ...')``.
"""

from __future__ import annotations

import os

import tensorflow as tf

from fixnorm_experiments.data.augment import CROP_FRACTION, build_image_pipeline, check_positive_int

SPLIT_PATTERNS = {"train": "train-*-of-*", "validation": "validation-*-of-*"}
SPLIT_ALIASES = {"train": "train", "validation": "validation", "val": "validation",
                 "eval": "validation", "test": "validation"}
IMAGE_KEY = "image/encoded"
LABEL_KEY = "image/class/label"
FULL_CHECK_MAX_BYTES = 256 * 1024 * 1024  # below this, check_readable reads every record

FEATURES = {
    IMAGE_KEY: tf.io.FixedLenFeature([], tf.string),
    LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
}


def check_data_dir(data_dir) -> str:
    """Return ``data_dir`` as a string, or raise one clear ``ValueError`` line
    when it is unset, missing, not a directory or empty."""
    if data_dir is None or str(data_dir).strip() == "":
        raise ValueError("data_dir is not set: pass the directory holding the dataset files")
    data_dir = os.fspath(data_dir)
    if not tf.io.gfile.exists(data_dir):
        raise ValueError(f"data_dir {data_dir!r} does not exist: pass the directory holding "
                         "the dataset files")
    if not tf.io.gfile.isdir(data_dir):
        raise ValueError(f"data_dir {data_dir!r} is not a directory: pass the directory holding "
                         "the dataset files")
    if not tf.io.gfile.listdir(data_dir):
        raise ValueError(f"data_dir {data_dir!r} is empty: put the dataset files there "
                         "(or point data_dir at the directory that has them)")
    return data_dir


def normalize_split(split: str) -> str:
    """Map ``train`` / ``validation`` (or ``val``, ``eval``, ``test``) to a split name."""
    key = str(split).strip().lower()
    if key not in SPLIT_ALIASES:
        raise ValueError(f"unknown split {split!r}: use 'train' or 'validation'")
    return SPLIT_ALIASES[key]


def imagenet_files(data_dir, split: str) -> list[str]:
    """The sorted TFRecord files of ``split`` in ``data_dir`` (standard layout)."""
    data_dir = check_data_dir(data_dir)
    split = normalize_split(split)
    pattern = os.path.join(data_dir, SPLIT_PATTERNS[split])
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise ValueError(
            f"no TFRecord files matching {SPLIT_PATTERNS[split]!r} in {data_dir!r}: expected the "
            "standard ImageNet layout (train-00000-of-01024, ..., validation-00000-of-00128)")
    return files


def _first_line(error: Exception) -> str:
    text = getattr(error, "message", None) or str(error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def check_readable(files, full: bool | None = None, features=None) -> None:
    """Check that each TFRecord file can be read and holds the expected features.

    Args:
      files: paths of TFRecord files.
      full: read every record of every file (finds truncation anywhere) if
        True; only the first record of each file if False; default: full when
        the files total at most 256 MiB, first record otherwise.
      features: ``tf.io.parse_single_example`` spec the first record must
        satisfy; default: ``image/encoded`` (string) and ``image/class/label``
        (int64). Pass ``{}`` to skip the parse.

    Raises:
      ValueError: ``corrupt TFRecord: <path>: <what tf.data said>`` for a file
        that is empty, truncated or garbled, or ``<path>: first record lacks
        ...`` when its records are not of the expected kind.
    """
    files = [os.fspath(f) for f in files]
    if not files:
        raise ValueError("no TFRecord files to check")
    features = FEATURES if features is None else features
    if full is None:
        total = sum(tf.io.gfile.stat(f).length for f in files)
        full = total <= FULL_CHECK_MAX_BYTES
    for path in files:
        try:
            dataset = tf.data.TFRecordDataset(path)
            first = None
            for count, record in enumerate(dataset if full else dataset.take(1)):
                if count == 0:
                    first = record
        except (tf.errors.DataLossError, tf.errors.OutOfRangeError,
                tf.errors.InvalidArgumentError) as error:
            raise ValueError(f"corrupt TFRecord: {path}: {_first_line(error)}") from None
        if first is None:
            raise ValueError(f"corrupt TFRecord: {path}: the file holds no records")
        if features:
            try:
                tf.io.parse_single_example(first, features)
            except (tf.errors.InvalidArgumentError, ValueError) as error:
                names = ", ".join(sorted(features))
                raise ValueError(f"{path}: first record lacks the expected features ({names}): "
                                 f"{_first_line(error)}") from None


def make_imagenet_dataset(
    data_dir,
    split: str = "train",
    image_size=224,
    batch_size: int = 256,
    seed: int | None = None,
    *,
    training: bool | None = None,
    label_offset: int = 1,
    num_classes: int | None = 1000,
    one_hot: bool = False,
    randaugment: bool = False,
    mixup_alpha: float = 0.0,
    cutmix_alpha: float = 0.0,
    crop_fraction: float = CROP_FRACTION,
    shuffle_buffer: int = 10_000,
    drop_remainder: bool | None = None,
    validate: bool = True,
    input_context: tf.distribute.InputContext | None = None,
    cycle_length: int = 16,
) -> tf.data.Dataset:
    """ImageNet TFRecords -> batched ``(images, labels)`` ``tf.data.Dataset``.

    Args:
      data_dir: directory holding ``train-*-of-*`` / ``validation-*-of-*``.
      split: ``"train"`` or ``"validation"`` (``"val"``, ``"eval"``, ``"test"``
        are aliases of ``"validation"``).
      image_size: output height = width (int) or ``(height, width)``.
      batch_size: examples per batch (per replica when ``input_context`` is
        given: pass ``input_context.get_per_replica_batch_size(global)``).
      seed: reproducible file order, shuffle and augmentation if set.
      training: augment (random-resized crop + flip, extras) and shuffle;
        default: ``split == "train"``.
      label_offset: subtracted from ``image/class/label``; 1 for the standard
        conversion (1..1000 -> 0..999), 0 for 0-based files.
      num_classes: for one-hot labels (mixup/cutmix or ``one_hot``).
      one_hot, randaugment, mixup_alpha, cutmix_alpha, crop_fraction,
      drop_remainder: see ``fixnorm_experiments.data.augment.build_image_pipeline``.
      shuffle_buffer: example shuffle buffer when training.
      validate: run ``check_readable`` on the files first.
      input_context: from ``strategy.distribute_datasets_from_function``;
        shards the files by input pipeline.
      cycle_length: files read in parallel.

    Returns:
      ``tf.data.Dataset`` of ``(float32 [B, H, W, 3], int32 [B])`` (or float32
      ``[B, num_classes]`` one-hot labels). It is finite (one epoch per
      iteration); Keras ``fit`` iterates it once per epoch.

    Raises:
      ValueError: missing / empty ``data_dir``, unknown split, no matching
        files, a corrupt file (with its path), bad sizes.
    """
    split = normalize_split(split)
    check_positive_int("batch_size", batch_size)
    files = imagenet_files(data_dir, split)
    if training is None:
        training = split == "train"
    if validate:
        check_readable(files)
    deterministic = seed is not None or not training

    dataset = tf.data.Dataset.from_tensor_slices(files)
    if input_context is not None and input_context.num_input_pipelines > 1:
        if len(files) < input_context.num_input_pipelines:
            raise ValueError(f"{len(files)} {split} files cannot be sharded over "
                             f"{input_context.num_input_pipelines} input pipelines: "
                             "use fewer workers or more files")
        dataset = dataset.shard(input_context.num_input_pipelines,
                                input_context.input_pipeline_id)
    if training:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.interleave(
        lambda path: tf.data.TFRecordDataset(path, buffer_size=8 * 1024 * 1024),
        cycle_length=max(1, min(int(cycle_length), len(files))),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic)

    offset = tf.constant(int(label_offset), tf.int64)

    def parse(serialized):
        example = tf.io.parse_single_example(serialized, FEATURES)
        return example[IMAGE_KEY], example[LABEL_KEY] - offset

    records = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    return build_image_pipeline(
        records, training=bool(training), image_size=image_size, batch_size=batch_size, seed=seed,
        jpeg_only=True, num_classes=num_classes, one_hot=one_hot, randaugment=randaugment,
        mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha, crop_fraction=crop_fraction,
        drop_remainder=drop_remainder, shuffle_buffer=shuffle_buffer if training else 0,
        deterministic=deterministic)
