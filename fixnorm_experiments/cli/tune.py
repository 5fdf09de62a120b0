"""Tune a recipe: FixNorm-tune against BO+WD, random search, Optuna's samplers and more.

    fixnorm-tune --recipe=digits_tune --method=fixnorm
    fixnorm-tune --recipe=digits_tune --compare=fixnorm,bo_wd,random --seeds=0,1,2
    fixnorm-tune --recipe=cityscapes_deeplab_v3_40k --data_dir=$TFDS_DIR --epochs=4

Every method trains the recipe's model, data, schedule and epochs; only the
searched knobs differ. One keras-tuner project per method and seed lives
under --directory/<recipe>/; a run killed and started again with the same
flags resumes each project (finished trials are kept and not re-run).
results.json there is rewritten after every finished search; at the end the
comparison table is printed and two plots are written.

Distributed: set keras-tuner's KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and
KERASTUNER_ORACLE_PORT and start the same command once as the chief
(KERASTUNER_TUNER_ID=chief) and once per worker (tuner0, tuner1, ...).
"""

import os
import shlex
import sys

from absl import flags

from fixnorm_experiments import config, recipes, tasks
from fixnorm_experiments.cli import common
from fixnorm_experiments.config import UsageError
from fixnorm_experiments.tuning.methods import METHODS, Ranges

FLAGS = flags.FLAGS  # parsed by absl in run_main
DEFINE = common.BinaryFlags()
DEFINE.string("recipe", "digits_tune", "Recipe to tune (fixnorm-train --list).")
DEFINE.enum("method", "fixnorm", list(METHODS), "Search method: fixnorm (FixNorm-tune), "
            "bo_wd and bo_wd_default (keras-tuner BO over lr and weight decay), random, "
            "optuna_tpe and optuna_gp (Optuna's samplers over the same), no_decay (no "
            "weight decay, no FixNorm: lr only), reference (the recipe's setting).")
DEFINE.list("compare", None, "Run these methods on the same recipe and seeds and "
                  "compare them, e.g. fixnorm,bo_wd,random (overrides --method).")
DEFINE.list("seeds", ["0"], "Search seeds (comma-separated integers); each seed is a "
                  "separate search, trials within it start from the same initial weights.")
DEFINE.integer("max_trials", None, "Trials per search (default: FixNorm-tune's budget, "
                     "11, for every method; the reference is 1).")
DEFINE.integer("executions_per_trial", 1, "Trainings averaged per trial.")
DEFINE.string("directory", "tune_out", "Where projects, results.json and plots go.")
DEFINE.bool("overwrite", False, "Delete earlier projects of these methods and seeds "
                  "instead of resuming them.")
DEFINE.list("lr_range", ["1e-3", "10"], "Lowest,highest learning rate searched.")
DEFINE.list("alpha_range", ["0.015625", "256"], "Lowest,highest alpha searched.")
DEFINE.list("weight_decay_range", ["1e-6", "1e-2"], "Lowest,highest coupled-L2 "
                  "lambda searched (bo_wd, bo_wd_default, random, optuna_tpe, optuna_gp).")
DEFINE.float("lr_start", None, "FixNorm-tune's first lr (default: the recipe's "
                   "reference lr, the usual starting point).")
DEFINE.float("alpha_start", None, "FixNorm-tune's alpha in stage 1, where stage 2 "
                   "starts (default: the recipe's fixnorm alpha; 1 if it has none).")
DEFINE.integer("bo_initial_points", 3, "Random trials before bo_wd fits its model "
                     "(bo_wd_default takes keras-tuner's default, 3 per knob).")
DEFINE.float("margin", 0.002, "Report trials needed to come within this of the best "
                   "score any method found.")
DEFINE.enum("objective", None, ["val_accuracy", "val_metric", "val_loss"],
                  "What trials are scored on: val_accuracy (classification, the default), "
                  "val_metric (the recipe's metric: accuracy, mIoU or AP; the default for "
                  "segmentation and detection recipes), val_loss (lower is better).")
DEFINE.list("image_size", None, "Override the recipe's image size: N for "
                  "classification (embedded data is average-pooled to N, a whole "
                  "fraction of its size), H,W for segmentation and detection.")
DEFINE.integer("score_batches", None, "Score each trial on this many validation "
                     "batches (default: all).")
DEFINE.float("validation_fraction", 0.2, "Embedded data: fraction of the training split "
                   "held out to score trials on (the test split is never used).")
DEFINE.integer("epochs", None, "Override the recipe's epochs (segmentation/detection: "
                     "split the iterations into this many loops).")
DEFINE.integer("global_batch_size", None, "Override the recipe's global batch.")
DEFINE.integer("steps_per_epoch", None, "Cap the steps per epoch or loop (smoke runs).")
DEFINE.string("data_dir", None, "Dataset directory (image recipes).")
DEFINE.enum("data_format", None, ["tfrecord", "tfds", "folder"],
                  "Image data layout (default: the recipe task's; see fixnorm-train).")
DEFINE.string("tfds_name", None, "TFDS dataset name (data_format=tfds).")
DEFINE.enum("scope", "global", ["global", "per_kernel"], "FixNorm scope.")
DEFINE.enum("alpha_measure", "frobenius", ["frobenius", "per_class"],
                  "What FixNorm's alpha measures.")
DEFINE.enum("other_kernels", "free", ["free", "held"],
                  "FixNorm: leave kernels that are neither scale-invariant nor the "
                  "classifier free, or hold them at their initial norm.")
DEFINE.bool("plots", True, "Write best_so_far.png and landscape.png.")
DEFINE.float("worker_timeout", 600, "Chief/worker mode: seconds without a word from a "
             "worker (it sends one every worker_timeout/4 s while a trial runs) before its "
             "trial goes to the next worker that asks. Give every process the same value.")
DEFINE.float("chief_timeout", 600, "Chief/worker mode, on a worker: seconds to wait for a "
             "chief that does not answer (killed, restarting) before exiting with an error.")


def make_config(values, argv=()):
    """A `config.TuneConfig` from parsed flags; a UsageError before anything is written."""
    recipe = recipes.get(values.recipe)
    spec = tasks.spec(recipe.task)
    recipe = config.with_image_size(recipe, spec, values.image_size)
    if values.objective and values.objective not in spec.objectives:
        raise UsageError(f"{recipe.name} is a {recipe.task} recipe: use --objective="
                         f"{' or '.join(spec.objectives)} (val_metric is its {recipe.metric})")
    config.check_data_format(recipe, spec, values.data_format)
    methods = tuple(values.compare or [values.method])
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise UsageError(f"unknown method {unknown[0]!r} in --compare; choose from "
                         f"{', '.join(METHODS)}")
    if len(set(methods)) != len(methods):
        raise UsageError(f"--compare lists a method twice: {','.join(methods)}")
    seeds = config.parse_seeds(values.seeds)
    if os.path.isfile(values.directory):
        raise UsageError(f"--directory {values.directory} is a file: give a directory")
    for name in ("max_trials", "executions_per_trial", "epochs", "global_batch_size",
                 "steps_per_epoch", "bo_initial_points", "score_batches"):
        config.check_count(name, getattr(values, name))
    for name in ("worker_timeout", "chief_timeout"):
        if not getattr(values, name) > 0:
            raise UsageError(f"--{name} must be > 0 seconds, got {getattr(values, name)}")
    if not 0 <= values.margin:
        raise UsageError(f"--margin must be >= 0, got {values.margin}")
    if not 0 < values.validation_fraction < 1:
        raise UsageError(f"--validation_fraction must be in (0, 1), got "
                         f"{values.validation_fraction}")
    ranges = Ranges(lr=config.parse_pair("lr_range", values.lr_range),
                    alpha=config.parse_pair("alpha_range", values.alpha_range),
                    weight_decay=config.parse_pair("weight_decay_range",
                                                   values.weight_decay_range))
    if "reference" in methods:  # a recipe without reference settings cannot run it
        recipe.settings("reference")
    # Given values are checked, even 0: only an absent flag takes the recipe's.
    lr_start = values.lr_start if values.lr_start is not None else (
        recipe.reference or recipe.fixnorm).lr
    if not ranges.lr[0] <= lr_start <= ranges.lr[1]:
        raise UsageError(f"--lr_start {lr_start} is outside --lr_range {ranges.lr}")
    # Stage 1 compares lrs at this alpha; at a poor alpha the scores are low
    # and noisy and stage 1 can pick a bad lr (BENCHMARKS.md, MNIST subset).
    alpha_start = values.alpha_start if values.alpha_start is not None else (
        recipe.fixnorm.alpha if recipe.fixnorm else 1.0)
    if not ranges.alpha[0] <= alpha_start <= ranges.alpha[1]:
        raise UsageError(f"--alpha_start {alpha_start} is outside --alpha_range "
                         f"{ranges.alpha}")
    return config.TuneConfig(
        recipe=recipe, methods=methods, seeds=seeds, ranges=ranges, lr_start=lr_start,
        alpha_start=alpha_start, objective=values.objective or spec.default_objective,
        global_batch_size=values.global_batch_size or recipe.global_batch_size,
        directory=values.directory,
        command=" ".join(shlex.quote(a) for a in ["fixnorm-tune", *argv]),
        max_trials=values.max_trials, executions_per_trial=values.executions_per_trial,
        overwrite=values.overwrite, bo_initial_points=values.bo_initial_points,
        margin=values.margin, score_batches=values.score_batches,
        validation_fraction=values.validation_fraction, epochs=values.epochs,
        steps_per_epoch=values.steps_per_epoch,
        data=config.DataSource(values.data_dir, values.data_format, values.tfds_name),
        scope=values.scope, alpha_measure=values.alpha_measure,
        other_kernels=values.other_kernels, plots=values.plots,
        worker_timeout=values.worker_timeout, chief_timeout=values.chief_timeout)


def main(argv):
    common.no_extra_arguments(argv)
    try:
        session_config = make_config(FLAGS, sys.argv[1:])
        # TensorFlow's load-time C++ lines go to the session's warnings.log.
        with common.native_stderr_captured() as native_lines:
            from fixnorm_experiments.tuning.session import tune
        tune(session_config, native_lines=native_lines)
    except (ValueError, ImportError, ConnectionError) as error:
        # UsageError, the tasks' checks, no keras-hub; a worker that lost its chief
        common.fail(error)


def run():
    """Console-script entry point (`fixnorm-tune`)."""
    common.run_main(main, sys.modules[__name__], DEFINE)


if __name__ == "__main__":
    run()
