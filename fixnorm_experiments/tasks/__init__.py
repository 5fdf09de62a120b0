"""The kinds of task a recipe can have, and how each is run (`base.Task`).

`TASKS` is the registry: a recipe's ``task`` names an entry, whose `TaskSpec`
says what the binaries need to know before anything heavy is imported (the
unit a run's length is counted in, the objectives a trial can be scored on,
the shape of ``--image_size``), and where its `Task` class lives. Adding a
kind of task means one module with a `Task` subclass and one entry here.
"""

from __future__ import annotations

import dataclasses
import importlib


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """What is known of a kind of task without importing it.

    Attributes:
      name: the ``task`` of its recipes.
      task_class: ``"module:Class"`` of its `base.Task`.
      unit: what a run's length counts, "epochs" or "iterations"
        (``--epochs`` or ``--iterations``; ``--steps_per_epoch`` or
        ``--steps_per_loop``).
      objectives: the ``val_*`` values a trial reports; the first is the
        default objective of a search.
      image_size_dims: how many numbers ``--image_size`` takes (1: square
        side; 2: height,width).
      data_formats: the ``--data_format`` values it reads (the first is the
        default).
      default_steps_per_loop: steps between checkpoints when the user does
        not say (None: one epoch).
      pretrained_backbone: whether ``--backbone_weights`` can load ImageNet
        weights into its models' backbone.
    """

    name: str
    task_class: str
    unit: str
    objectives: tuple
    image_size_dims: int
    data_formats: tuple
    default_steps_per_loop: int | None = None
    pretrained_backbone: bool = False

    @property
    def default_objective(self):
        return self.objectives[0]


_DENSE = dict(unit="iterations", objectives=("val_metric", "val_loss"), image_size_dims=2,
              data_formats=("tfds",), default_steps_per_loop=1000, pretrained_backbone=True)

TASKS = {
    "classification": TaskSpec(
        "classification", "fixnorm_experiments.tasks.classification:ClassificationTask",
        unit="epochs", objectives=("val_accuracy", "val_metric", "val_loss"),
        image_size_dims=1, data_formats=("tfrecord", "tfds", "folder")),
    "segmentation": TaskSpec(
        "segmentation", "fixnorm_experiments.tasks.segmentation:SegmentationTask", **_DENSE),
    "detection": TaskSpec(
        "detection", "fixnorm_experiments.tasks.detection:DetectionTask", **_DENSE),
}


def spec(name):
    """The `TaskSpec` called ``name``; a ValueError listing the known ones."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}: one of {', '.join(TASKS)}")
    return TASKS[name]


def make(recipe):
    """The `base.Task` that runs ``recipe`` (imports Keras and TensorFlow).

    Make tasks before `keras.utils.set_random_seed`: the first call imports
    the task's models, which draws from Python's `random`, and would shift
    the initial weights of the first model built after the seed.
    """
    module, name = spec(recipe.task).task_class.split(":")
    return getattr(importlib.import_module(module), name)(recipe)
