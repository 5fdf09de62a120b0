"""Frozen run configurations, and the checks every binary's flags go through.

Each binary (`fixnorm_experiments.cli`) defines its flags in its own module,
checks them with the helpers here and builds one of these configs, which is
all the code below it reads: nothing outside `cli/` reads absl's FLAGS.
Nothing here imports TensorFlow, so bad input fails fast.
"""

from __future__ import annotations

import dataclasses
import os


class UsageError(ValueError):
    """Bad input: reported as one ``error:`` line."""


@dataclasses.dataclass(frozen=True)
class DataSource:
    """Where a recipe's data are (nothing needed for embedded datasets).

    Attributes:
      data_dir: the dataset directory.
      data_format: how ``data_dir`` holds it (None: the task's default; see
        `tasks.TaskSpec.data_formats`).
      tfds_name: a TFDS dataset name under ``data_dir`` (None: the task's
        default; "" for segmentation/detection: ``data_dir`` is the builder
        directory itself).
    """

    data_dir: str | None = None
    data_format: str | None = None
    tfds_name: str | None = None


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run (`fixnorm-train`); `run.train` reads nothing else.

    Attributes:
      recipe: the recipe, with ``--image_size`` applied.
      flavour: "fixnorm" or "reference".
      model_dir: where checkpoints, logs and metrics.json go.
      lr, alpha, weight_decay: the flavour's values (alpha None for the
        reference, weight_decay None for fixnorm).
      global_batch_size: examples per step over all replicas.
      length: epochs or iterations (the task's unit); None: the recipe's.
      steps_per_loop: steps per epoch or between checkpoints; None: the
        task's default.
      eval_batches: score on this many batches only (None: all).
      backbone_weights: a .weights.h5 file for a pretrained backbone.
      sync_batch_norm: BatchNorm statistics over all replicas (None: the
        recipe's setting, off under multi_worker).
      Others: as the flags of the same names.
    """

    recipe: object
    flavour: str
    model_dir: str
    lr: float
    alpha: float | None
    weight_decay: float | None
    global_batch_size: int
    data: DataSource = DataSource()
    strategy: str = "default"
    logical_cpus: int = 0
    length: int | None = None
    steps_per_loop: int | None = None
    scope: str = "global"
    seed: int = 0
    verbose: int = 1
    eval_batches: int | None = None
    backbone_weights: str | None = None
    sync_batch_norm: bool | None = None


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    """A tuning session (`fixnorm-tune`): several methods and seeds on one recipe.

    Attributes:
      recipe: the recipe, with ``--image_size`` applied.
      methods: search methods (`tuning.methods.METHODS`), in run order.
      seeds: search seeds.
      ranges: a `tuning.methods.Ranges`.
      lr_start, alpha_start: where FixNorm-tune starts.
      objective: the ``val_*`` value trials are scored on.
      directory: where projects, results.json and plots go.
      command: the command line, recorded in results.json.
      epochs, steps_per_epoch: the tuner's ``--epochs`` and
        ``--steps_per_epoch`` (`tasks.base.Task.tuning_plan`).
      Others: as the flags of the same names.
    """

    recipe: object
    methods: tuple
    seeds: tuple
    ranges: object
    lr_start: float
    alpha_start: float
    objective: str
    global_batch_size: int
    directory: str = "tune_out"
    command: str = "fixnorm-tune"
    max_trials: int | None = None
    executions_per_trial: int = 1
    overwrite: bool = False
    bo_initial_points: int = 3
    margin: float = 0.002
    score_batches: int | None = None
    validation_fraction: float = 0.2
    epochs: int | None = None
    steps_per_epoch: int | None = None
    data: DataSource = DataSource()
    scope: str = "global"
    alpha_measure: str = "frobenius"
    other_kernels: str = "free"
    plots: bool = True
    worker_timeout: float = 600.0
    chief_timeout: float = 600.0

    @property
    def direction(self):
        """"min" for a loss, "max" for everything else."""
        return "min" if self.objective == "val_loss" else "max"


# ---------------------------------------------------------------------------
# Checks shared by the binaries


def check_positive(name, value):
    """``value`` if it is None or > 0; a UsageError naming ``--name`` otherwise."""
    if value is not None and not value > 0:
        raise UsageError(f"--{name} must be > 0, got {value}")
    return value


def check_count(name, value, minimum=1):
    """``value`` if it is None or >= ``minimum``; a UsageError otherwise."""
    if value is not None and value < minimum:
        raise UsageError(f"--{name} must be >= {minimum}, got {value}")
    return value


def parse_pair(name, values):
    """``(low, high)`` from a flag's two strings, with 0 < low < high."""
    try:
        low, high = (float(v) for v in values)
    except ValueError:
        raise UsageError(f"--{name} must be two numbers low,high, got {','.join(values)}") \
            from None
    if not 0 < low < high:
        raise UsageError(f"--{name} must satisfy 0 < low < high, got {low},{high}")
    return low, high


def parse_seeds(values):
    """Distinct integers >= 0 from a flag's strings."""
    try:
        seeds = tuple(int(s) for s in values)
    except ValueError:
        raise UsageError(f"--seeds must be integers, got {','.join(values)}") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds must be distinct integers >= 0, got {','.join(values)}")
    return seeds


def with_image_size(recipe, spec, values):
    """``recipe`` with ``--image_size`` (a flag's strings, or None) applied."""
    if not values:
        return recipe
    return dataclasses.replace(recipe, image_size=parse_image_size(values, spec.image_size_dims))


def check_data_format(recipe, spec, data_format):
    """Refuse a ``--data_format`` the recipe's task does not read."""
    if data_format and data_format not in spec.data_formats:
        raise UsageError(f"--data_format={data_format} does not apply to {recipe.name}: "
                         f"{recipe.task} recipes read {', '.join(spec.data_formats)}")


def parse_image_size(values, dims):
    """An image size from ``--image_size``: an int (``dims`` 1) or (height, width) (2)."""
    try:
        size = tuple(int(v) for v in values)
    except ValueError:
        size = ()
    if len(size) != dims or min(size) < 1:
        shape = "H,W (two positive integers)" if dims == 2 else "one positive integer"
        raise UsageError(f"--image_size must be {shape} for this recipe, got {','.join(values)}")
    return size[0] if dims == 1 else size


def check_unit(recipe, spec, given):
    """Refuse length flags of the other unit: ``given`` maps flag name -> value.

    Flags named ``epochs``/``steps_per_epoch`` apply to tasks counted in
    epochs, ``iterations``/``steps_per_loop`` to tasks counted in iterations.
    """
    belongs = {"epochs": "epochs", "steps_per_epoch": "epochs",
               "iterations": "iterations", "steps_per_loop": "iterations"}
    for name, value in given.items():
        if value is not None and belongs[name] != spec.unit:
            use = {"epochs": "--iterations", "steps_per_epoch": "--steps_per_loop",
                   "iterations": "--epochs", "steps_per_loop": "--steps_per_epoch"}[name]
            raise UsageError(f"--{name} does not apply to {recipe.name}, a {recipe.task} "
                             f"recipe counted in {spec.unit}: use {use}")


# Measured with TF 2.21 on two CPU workers: with synchronized BN in the
# custom loop both workers train identically, then one never returns from
# the loop (it hangs in TensorFlow after its last step) while the other exits.
MULTI_WORKER_SYNC_BN = ("--sync_batch_norm is not supported with --strategy=multi_worker (a "
                        "worker hangs after training with TF 2.21): use --strategy=mirrored on "
                        "one machine, or --sync_batch_norm=false")


def check_sync_batch_norm(sync_batch_norm, strategy):
    """Refuse synchronized BatchNorm under multi_worker, where it hangs a worker."""
    if sync_batch_norm and strategy == "multi_worker":
        raise UsageError(MULTI_WORKER_SYNC_BN)


def check_new_model_dir(model_dir):
    """``model_dir``, given and not holding a finished run (never overwritten)."""
    if not model_dir:
        raise UsageError("--model_dir is required")
    if os.path.isfile(model_dir):
        raise UsageError(f"--model_dir {model_dir} is a file: give a directory")
    if os.path.exists(os.path.join(model_dir, "metrics.json")):
        raise UsageError(f"{model_dir} already holds a finished run (metrics.json): choose "
                         "another --model_dir")
    return model_dir
