"""A TensorFlow Datasets (TFDS) dataset already prepared in a local ``data_dir``.

``tensorflow_datasets`` is an optional dependency (``pip install
tensorflow-datasets``); this module imports it only when a function is
called. Nothing here downloads or prepares data: the dataset must already be
built under ``data_dir`` (e.g. ``tfds build imagenet2012 --data_dir=DIR
--manual_dir=DIR_WITH_THE_TARS`` on a machine with the archives, or any
``download_and_prepare()`` run). Two ways to name it:

- ``name="imagenet2012"`` (optionally ``"imagenet2012/config:5.1.0"``) and
  ``data_dir`` = the TFDS root (the directory holding ``imagenet2012/``);
- ``name=None`` and ``data_dir`` = the builder directory itself, the one
  holding ``dataset_info.json`` (``tfds.builder_from_directory``).

Images are read as encoded bytes (``tfds.decode.SkipDecoding``) and go
through the same decode + augmentation graph as the TFRecord and folder
pipelines (``fixnorm_experiments.data.augment``).
"""

from __future__ import annotations

import os

import tensorflow as tf

from fixnorm_experiments.data.augment import CROP_FRACTION, build_image_pipeline, check_positive_int
from fixnorm_experiments.data.imagenet import check_data_dir

INSTALL_HINT = ("tensorflow_datasets is not installed: pip install tensorflow-datasets "
                "(needed only for the TFDS pipeline)")


def check_split(builder, split):
    """The split's base name ("train" of "train[:10%]"); a ValueError naming
    the available splits if it is not one of `builder`'s."""
    splits = sorted(builder.info.splits.keys())
    base_split = str(split).split("[")[0].split("+")[0].strip()
    if base_split not in splits:
        raise ValueError(f"unknown split {split!r} of TFDS dataset {builder.info.name!r}: "
                         f"use one of {', '.join(splits)}")
    return base_split


def import_tfds():
    """Import ``tensorflow_datasets`` or raise ``ImportError`` saying how to install it."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    return tfds


def load_local_builder(data_dir, name: str | None = None):
    """The ``tfds`` builder of a dataset prepared in ``data_dir``; never downloads.

    Raises:
      ImportError: ``tensorflow_datasets`` missing.
      ValueError: ``data_dir`` missing or empty, or no prepared dataset there.
    """
    tfds = import_tfds()
    data_dir = check_data_dir(data_dir)
    if name is None:
        if not tf.io.gfile.exists(os.path.join(data_dir, "dataset_info.json")):
            raise ValueError(
                f"no dataset_info.json in {data_dir!r}: pass the TFDS builder directory "
                "(e.g. DATA_DIR/mnist/3.0.1), or pass name=... with data_dir = the TFDS root")
        try:
            return tfds.builder_from_directory(data_dir)
        except Exception as error:  # noqa: BLE001 - tfds raises assorted types
            raise ValueError(f"cannot read the TFDS dataset in {data_dir!r}: "
                             f"{str(error).strip().splitlines()[0]}") from None
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # noqa: BLE001 - DatasetNotFoundError etc.
        raise ValueError(f"no TFDS dataset {name!r} in {data_dir!r}: "
                         f"{str(error).strip().splitlines()[0]}") from None
    if not tf.io.gfile.exists(os.path.join(builder.data_dir, "dataset_info.json")):
        raise ValueError(
            f"TFDS dataset {name!r} is not prepared in {data_dir!r} (no {builder.data_dir}): build "
            f"it first, e.g. `tfds build {name.split('/')[0]} --data_dir={data_dir}` -- this "
            "pipeline never downloads")
    return builder


def make_tfds_dataset(
    data_dir,
    split: str = "train",
    image_size=224,
    batch_size: int = 256,
    seed: int | None = None,
    *,
    name: str | None = None,
    training: bool | None = None,
    image_key: str = "image",
    label_key: str = "label",
    one_hot: bool = False,
    randaugment: bool = False,
    mixup_alpha: float = 0.0,
    cutmix_alpha: float = 0.0,
    crop_fraction: float = CROP_FRACTION,
    shuffle_buffer: int = 10_000,
    drop_remainder: bool | None = None,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """A locally prepared TFDS image dataset -> batched ``(images, labels)``.

    Args:
      data_dir: TFDS root (with ``name``) or builder directory (without).
      split: a split of the dataset, e.g. ``"train"``, ``"validation"``,
        ``"test"``; TFDS slicing such as ``"train[:10%]"`` is allowed.
      image_size, batch_size, seed: as in ``make_imagenet_dataset``.
      name: the TFDS name (``"imagenet2012"``); see the module docstring.
      training: augment and shuffle; default: the split starts with "train".
      image_key, label_key: feature names of the image and the integer label.
      one_hot, randaugment, mixup_alpha, cutmix_alpha, crop_fraction,
      drop_remainder: see ``fixnorm_experiments.data.augment.build_image_pipeline``
        (``num_classes`` comes from the label's ``ClassLabel``).
      shuffle_buffer: example shuffle buffer when training.
      input_context: from ``strategy.distribute_datasets_from_function``.

    Raises:
      ImportError: ``tensorflow_datasets`` missing (says how to install it).
      ValueError: missing / empty ``data_dir``, dataset not prepared, unknown
        split (lists the available ones), missing image / label feature.
    """
    check_positive_int("batch_size", batch_size)
    tfds = import_tfds()
    builder = load_local_builder(data_dir, name)
    base_split = check_split(builder, split)
    features = builder.info.features
    for key, kind in ((image_key, "image"), (label_key, "label")):
        if key not in features:
            raise ValueError(f"TFDS dataset {builder.info.name!r} has no {kind} feature {key!r}: "
                             f"pass {kind}_key= one of {', '.join(sorted(features.keys()))}")
    num_classes = getattr(features[label_key], "num_classes", None)
    encoding = getattr(features[image_key], "encoding_format", None)
    if training is None:
        training = base_split.startswith("train")
    deterministic = seed is not None or not training

    read_config = tfds.ReadConfig(shuffle_seed=seed, input_context=input_context,
                                  try_autocache=False)
    options = tf.data.Options()
    options.deterministic = deterministic
    read_config.options = options
    try:
        dataset = builder.as_dataset(
            split=split, shuffle_files=bool(training), read_config=read_config,
            decoders={image_key: tfds.decode.SkipDecoding()})
    except Exception as error:  # noqa: BLE001 - tfds raises assorted types
        raise ValueError(f"cannot read split {split!r} of TFDS dataset {builder.info.name!r}: "
                         f"{str(error).strip().splitlines()[0]}") from None
    records = dataset.map(lambda example: (example[image_key], example[label_key]),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    return build_image_pipeline(
        records, training=bool(training), image_size=image_size, batch_size=batch_size, seed=seed,
        jpeg_only=encoding == "jpeg", num_classes=num_classes, one_hot=one_hot,
        randaugment=randaugment, mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha,
        crop_fraction=crop_fraction, drop_remainder=drop_remainder,
        deterministic=deterministic,
        shuffle_buffer=shuffle_buffer if training else 0)
