"""The Task interface: what a kind of recipe needs to be trained, tuned and scored.

A recipe (`fixnorm_experiments.recipes`) is data; its task turns it into a
run. `fixnorm_experiments.run` (one training run) and the tuner's hypermodel (many
trials) see nothing else, so a trial trains exactly what the binary trains
and neither knows whether it is classifying, segmenting or detecting.

A run is ``Plan.loops`` loops of ``Plan.steps_per_loop`` optimizer steps:
epochs for classification, checkpoint intervals of the iteration budget for
segmentation and detection. A checkpoint and a resume point follow each loop.
"""

from __future__ import annotations

import abc
import dataclasses


@dataclasses.dataclass
class Data:
    """The batched datasets of one run.

    Attributes:
      train: the training set, one pass (a run repeats it).
      evaluation: (inputs, targets) batches in the training format, for the
        validation loss during training (and a classifier's accuracy).
      scoring: what `Task.score` reads (a classifier's evaluation set; whole
        validation images for segmentation; COCO's AP set for detection).
      num_classes: classes the model predicts.
      steps_per_epoch: batches in one pass over the training set, where the
        data tell (None where the task counts iterations).
      test: the embedded test split when ``evaluation`` is a validation split
        held out for tuning, else None.
      make_train: builds ``train`` afresh (None: cannot). tf.data's seeded
        shuffles and random streams advance with every iterator taken from one
        dataset object, so two passes over ``train`` see different orders; a
        pipeline built afresh repeats the first one, given the same global
        TensorFlow seed (which seeded ops combine with their own). Tuning
        trials train on a fresh one each (`fresh_train`), so they differ in
        their knobs only.
    """

    train: object
    evaluation: object
    scoring: object
    num_classes: int
    steps_per_epoch: int | None = None
    test: object = None
    make_train: object = None

    def fresh_train(self):
        """The training set as a new pipeline, its stream the same as the first
        pass over ``train`` (``train`` itself where it cannot be rebuilt)."""
        return self.make_train() if self.make_train is not None else self.train


@dataclasses.dataclass(frozen=True)
class Plan:
    """How long a run trains: ``loops`` x ``steps_per_loop`` steps.

    ``unit`` is what the user counts the run in (`TaskSpec.unit`): "epochs"
    (a loop is an epoch) or "iterations" (a loop is a checkpoint interval).
    """

    loops: int
    steps_per_loop: int
    unit: str = "epochs"

    def __post_init__(self):
        if self.loops < 1 or self.steps_per_loop < 1:
            raise ValueError(f"a run needs at least one loop of one step, got {self.loops} "
                             f"loops of {self.steps_per_loop}")
        if self.unit not in ("epochs", "iterations"):
            raise ValueError(f"unit must be 'epochs' or 'iterations', got {self.unit!r}")

    @property
    def total_steps(self):
        return self.loops * self.steps_per_loop

    def position(self, loops_done):
        """``(done, total)`` in the plan's unit after ``loops_done`` loops."""
        if self.unit == "epochs":
            return loops_done, self.loops
        return loops_done * self.steps_per_loop, self.total_steps

    def record(self, first_loop):
        """The plan's fields of metrics.json, for a run that started at ``first_loop``."""
        if self.unit == "epochs":
            return {"epochs": self.loops, "steps_per_epoch": self.steps_per_loop,
                    "resumed_from_epoch": first_loop}
        return {"iterations": self.total_steps, "steps_per_loop": self.steps_per_loop,
                "resumed_from_iteration": first_loop * self.steps_per_loop}


class Task(abc.ABC):
    """One kind of recipe. Subclasses implement every abstract method.

    Args:
      recipe: the recipe to run (its ``task`` names this class in
        `fixnorm_experiments.tasks.TASKS`).
    """

    def __init__(self, recipe):
        from fixnorm_experiments import tasks

        self.recipe = recipe
        self.spec = tasks.spec(recipe.task)

    # -- data and length -------------------------------------------------

    @abc.abstractmethod
    def load_data(self, global_batch_size, seed=0, source=None, validation_fraction=None):
        """The recipe's `Data`, batched at the global batch size.

        Args:
          global_batch_size: examples per step over all replicas.
          seed: seed of the split (embedded data), shuffling and augmentation.
          source: a `config.DataSource` (where the data are; None for
            embedded datasets).
          validation_fraction: for tuning on embedded data, the fraction of
            the training split held out as ``evaluation`` (the tuner never
            sees the test split); None for a training run.
        """

    @abc.abstractmethod
    def plan(self, data, length=None, steps_per_loop=None):
        """The run's `Plan`: ``length`` in the task's unit (`TaskSpec.unit`;
        None: the recipe's), checkpointed every ``steps_per_loop`` steps
        (None: the task's default)."""

    @abc.abstractmethod
    def tuning_plan(self, data, loops=None, steps_per_loop=None):
        """A trial's `Plan` from the tuner's ``--epochs`` (``loops``) and
        ``--steps_per_epoch`` (``steps_per_loop``), either None."""

    # -- model, optimizer, loss -----------------------------------------

    @abc.abstractmethod
    def build_model(self, sync_batch_norm=None):
        """The recipe's model at its image size; BatchNorm statistics over all
        replicas if ``sync_batch_norm`` (None: the recipe's setting)."""

    @abc.abstractmethod
    def schedule(self, peak_lr, plan):
        """The recipe's learning-rate schedule over ``plan``, peaking at ``peak_lr``."""

    def fixnorm_options(self):
        """Extra `FixNorm` arguments the task's models need (e.g. which outputs
        carry logits); none by default."""
        return {}

    @abc.abstractmethod
    def compile(self, model, optimizer):
        """Compile ``model`` with the task's loss and metrics; return it."""

    @abc.abstractmethod
    def replica_loss(self, model, global_batch_size, replicas):
        """``f(x, y, y_pred)``: one replica's share of the global mean loss,
        for the custom multi-worker loop (`train.custom_loop`)."""

    def load_backbone_weights(self, model, path):
        """Load pretrained backbone weights from ``path`` into ``model``."""
        raise ValueError(f"--backbone_weights applies to recipes with a pretrained backbone; "
                         f"{self.recipe.name} has none")

    # -- scores ----------------------------------------------------------

    @abc.abstractmethod
    def score(self, model, data, max_batches=None, local=False):
        """The recipe's metric on ``data.scoring``.

        Args:
          max_batches: score on the first batches only.
          local: evaluate in plain eager batches on this worker's copy of the
            model (multi-worker runs, where Keras' evaluate fails).

        Returns:
          dict: ``metric`` (the recipe's headline number, in %: top-1, mIoU or
          AP) and the details.
        """

    @abc.abstractmethod
    def validate(self, model, data, diverged, max_batches=None):
        """A tuning trial's results: ``val_metric`` (the metric as a fraction),
        ``val_loss``, and any task-specific ``val_*`` (see `TaskSpec.objectives`)."""

    def record(self, scored):
        """Task-specific fields for metrics.json, from what `score` returned."""
        return {}
