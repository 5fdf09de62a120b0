"""A recipe made concrete: its data, model and loss.

`recipes/train.py` (one training run) and `tf_fixnorm.tuning` (many trials)
both build their runs here, so a trial trains exactly what the recipe binary
trains; only the knobs a tuner searches differ.
"""

from __future__ import annotations

import dataclasses
import os

# Imported here, not when the first model is built: importing them draws from
# Python's `random`, and Keras draws initializer seeds from it, so a first
# import between `keras.utils.set_random_seed` and a build would give the
# first model of a process different weights from every later one.
from tf_fixnorm.models import registry, small_resnet

# Embedded datasets: name -> loader in tf_fixnorm.data returning
# ((x_train, y_train), (x_test, y_test)) with a seed-determined split.
EMBEDDED = {"digits": "load_digits", "mnist_subset": "load_mnist_subset"}
DATA_FORMATS = ("tfrecord", "tfds", "folder")


@dataclasses.dataclass
class Data:
    """Batched datasets of one run.

    ``train`` is the training set, ``evaluation`` the set a run is scored on:
    the test split for a training run, a validation split held out of the
    training set for tuning (embedded data; image datasets score on their
    validation split). ``test`` is the embedded test split, None otherwise.
    """

    train: object
    evaluation: object
    num_classes: int
    test: object = None


def _embedded(recipe, global_batch_size, seed, validation_fraction):
    from tf_fixnorm import data

    loader = getattr(data, EMBEDDED[recipe.dataset])
    (x_train, y_train), (x_test, y_test) = loader(seed=seed)
    test = data.as_dataset(x_test, y_test, global_batch_size)
    if validation_fraction:
        from sklearn.model_selection import train_test_split

        x_train, x_val, y_train, y_val = train_test_split(
            x_train, y_train, test_size=validation_fraction, random_state=seed,
            stratify=y_train)
        evaluation = data.as_dataset(x_val, y_val, global_batch_size)
    else:
        evaluation = test
    train = data.as_dataset(x_train, y_train, global_batch_size, shuffle=True, seed=seed)
    return Data(train, evaluation, recipe.num_classes, test)


def load_data(recipe, global_batch_size, seed=0, data_dir=None, data_format="tfrecord",
              tfds_name=None, image_size=None, validation_fraction=None):
    """The recipe's datasets, batched at the global batch size.

    Args:
      recipe: a `tf_fixnorm.recipes.Recipe`.
      global_batch_size: examples per step over all replicas.
      seed: seed of the split (embedded data), shuffling and augmentation.
      data_dir, data_format, tfds_name: where image datasets are
        (``data_format`` one of "tfrecord", "tfds", "folder").
      image_size: overrides the recipe's.
      validation_fraction: for embedded data, the fraction of the training
        split held out and returned as ``evaluation`` (tuning scores on it,
        never on the test split).

    The class count is the recipe's, except for image-folder trees and TFDS
    datasets, which say how many classes they hold.

    Raises:
      ValueError: no --data_dir for an image dataset, or bad arguments.
    """
    if recipe.dataset in EMBEDDED:
        return _embedded(recipe, global_batch_size, seed, validation_fraction)
    if not data_dir:
        raise ValueError(f"recipe {recipe.name!r} needs --data_dir ({recipe.dataset}, "
                         f"--data_format={data_format})")
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")
    from tf_fixnorm import data

    tricks = recipe.tricks
    common = dict(image_size=image_size or recipe.image_size,
                  batch_size=global_batch_size, one_hot=tricks is not None)
    augment = dict(seed=seed, randaugment=bool(tricks and tricks.randaugment),
                   mixup_alpha=tricks.mixup_alpha if tricks else 0.0,
                   cutmix_alpha=tricks.cutmix_alpha if tricks else 0.0)
    if data_format == "folder":
        train, names = data.make_folder_dataset(
            os.path.join(data_dir, "train"), training=True, return_class_names=True,
            **common, **augment)
        evaluation = data.make_folder_dataset(os.path.join(data_dir, "validation"),
                                              training=False, **common)
        return Data(train, evaluation, len(names))
    if data_format == "tfds":
        from tf_fixnorm.data import tfds_local

        builder = tfds_local.load_local_builder(data_dir, tfds_name)
        kw = dict(name=tfds_name, **common)
        return Data(data.make_tfds_dataset(data_dir, "train", training=True, **kw, **augment),
                    data.make_tfds_dataset(data_dir, "validation", training=False, **kw),
                    builder.info.features["label"].num_classes)
    kw = dict(num_classes=recipe.num_classes, **common)
    return Data(data.make_imagenet_dataset(data_dir, "train", training=True, **kw, **augment),
                data.make_imagenet_dataset(data_dir, "validation", training=False, **kw),
                recipe.num_classes)


def steps_per_epoch(recipe, train, global_batch_size, override=None):
    """Batches per epoch: ``override``, else the dataset's length, else the
    recipe dataset's known size (TFRecords do not know their length)."""
    from tf_fixnorm import recipes

    if override:
        return int(override)
    cardinality = int(train.cardinality())
    if cardinality > 0:
        return cardinality
    if recipe.dataset in recipes.TRAIN_EXAMPLES:
        return recipes.TRAIN_EXAMPLES[recipe.dataset] // global_batch_size
    raise ValueError(f"cannot tell how many batches of {global_batch_size} the training set "
                     "gives: set --steps_per_epoch")


def make_loss(recipe, reduction="sum_over_batch_size"):
    """Cross-entropy on logits; one-hot with label smoothing for the starred recipes."""
    import keras

    if recipe.tricks is None:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)
    return keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=recipe.tricks.label_smoothing, reduction=reduction)


def build_model(recipe):
    """The recipe's model; its image size and class count are the recipe's."""
    size = recipe.image_size
    if recipe.model in ("small_resnet", "small_resnet_se"):
        return small_resnet((size, size, 1), recipe.num_classes, norm=recipe.norm,
                            se=recipe.model == "small_resnet_se")
    extra = {} if recipe.tricks is None else {"drop_connect_rate": recipe.tricks.stochastic_depth}
    return registry.build(recipe.model, num_classes=recipe.num_classes,
                          input_shape=(size, size, 3), norm=recipe.norm, **extra)
