"""`fixnorm-tune`: tune a recipe with FixNorm-tune, BO+WD or random search.

    fixnorm-tune --recipe=digits_tune --method=fixnorm
    fixnorm-tune --recipe=digits_tune --compare=fixnorm,bo_wd,random --seeds=0,1,2
    python tools/tune.py ...   (the same, from a checkout)

Every method trains the recipe's model, data, schedule and epochs; only the
searched knobs differ (`tf_fixnorm.tuning.hypermodel`). One keras-tuner
project per method and seed lives under ``--directory/<recipe>/``; a run
killed and started again with the same flags resumes each project (finished
trials are kept and not re-run). ``results.json`` there is rewritten after
every finished search, and at the end the CLI prints the comparison table
and writes two plots: best score so far against trials, and the score
landscape over the searched knobs.

Distributed: with keras-tuner's ``KERASTUNER_TUNER_ID``,
``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` set, start the same
command once as the chief (``KERASTUNER_TUNER_ID=chief``) and once per
worker (``tuner0``, ``tuner1``, ...). Workers run the trials; the chief runs
the oracle and writes the results.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import dataclasses  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from absl import app, flags  # noqa: E402

METHOD_NAMES = ("fixnorm", "bo_wd", "random", "reference")

FLAGS = flags.FLAGS
flags.DEFINE_string("recipe", "digits_tune", "Recipe to tune (python -m recipes.train --list).")
flags.DEFINE_enum("method", "fixnorm", list(METHOD_NAMES), "Search method.")
flags.DEFINE_list("compare", None, "Run these methods on the same recipe and seeds and "
                  "compare them, e.g. fixnorm,bo_wd,random (overrides --method).")
flags.DEFINE_list("seeds", ["0"], "Search seeds (comma-separated integers); each seed is a "
                  "separate search, trials within it start from the same initial weights.")
flags.DEFINE_integer("max_trials", None, "Trials per search (default: FixNorm-tune's budget, "
                     "11, for every method; the reference is 1).")
flags.DEFINE_integer("executions_per_trial", 1, "Trainings averaged per trial.")
flags.DEFINE_string("directory", "tune_out", "Where projects, results.json and plots go.")
flags.DEFINE_bool("overwrite", False, "Delete earlier projects of these methods and seeds "
                  "instead of resuming them.")
flags.DEFINE_list("lr_range", ["1e-3", "10"], "Lowest,highest learning rate searched.")
flags.DEFINE_list("alpha_range", ["0.015625", "256"], "Lowest,highest alpha searched.")
flags.DEFINE_list("weight_decay_range", ["1e-6", "1e-2"], "Lowest,highest coupled-L2 "
                  "lambda searched (bo_wd, random).")
flags.DEFINE_float("lr_start", None, "FixNorm-tune's first lr (default: the recipe's "
                   "reference lr, the usual starting point).")
flags.DEFINE_float("alpha_start", None, "FixNorm-tune's alpha in stage 1, where stage 2 "
                   "starts (default: the recipe's fixnorm alpha; 1 if it has none).")
flags.DEFINE_integer("bo_initial_points", 3, "Random trials before BO fits its model.")
flags.DEFINE_float("margin", 0.002, "Report trials needed to come within this of the best "
                   "score any method found.")
flags.DEFINE_enum("objective", None, ["val_accuracy", "val_metric", "val_loss"],
                  "What trials are scored on: val_accuracy (classification, the default), "
                  "val_metric (the recipe's metric: accuracy, mIoU or AP; the default for "
                  "segmentation and detection recipes), val_loss (lower is better).")
flags.DEFINE_list("image_size", None, "Segmentation and detection recipes: override the "
                  "training image size, H,W.")
flags.DEFINE_integer("score_batches", None, "Segmentation and detection recipes: score each "
                     "trial on this many validation batches (default: all).")
flags.DEFINE_float("validation_fraction", 0.2, "Embedded data: fraction of the training split "
                   "held out to score trials on (the test split is never used).")
flags.DEFINE_integer("epochs", None, "Override the recipe's epochs.")
flags.DEFINE_integer("global_batch_size", None, "Override the recipe's global batch.")
flags.DEFINE_integer("steps_per_epoch", None, "Cap the steps per epoch (smoke runs).")
flags.DEFINE_string("data_dir", None, "Dataset directory (image recipes).")
flags.DEFINE_enum("data_format", "tfrecord", ["tfrecord", "tfds", "folder"], "Image data layout.")
flags.DEFINE_string("tfds_name", None, "TFDS dataset name (data_format=tfds).")
flags.DEFINE_enum("scope", "global", ["global", "per_kernel"], "FixNorm scope.")
flags.DEFINE_enum("alpha_measure", "frobenius", ["frobenius", "per_class"],
                  "What FixNorm's alpha measures.")
flags.DEFINE_enum("other_kernels", "free", ["free", "held"],
                  "FixNorm: leave kernels that are neither scale-invariant nor the "
                  "classifier free, or hold them at their initial norm.")
flags.DEFINE_bool("plots", True, "Write best_so_far.png and landscape.png.")


class UsageError(ValueError):
    """Bad input: reported as one line."""


def _pair(name):
    values = getattr(FLAGS, name)
    try:
        low, high = (float(v) for v in values)
    except ValueError:
        raise UsageError(f"--{name} must be two numbers low,high, got {','.join(values)}")
    if not 0 < low < high:
        raise UsageError(f"--{name} must satisfy 0 < low < high, got {low},{high}")
    return low, high


def check_flags():
    """The validated settings, or UsageError before anything is written."""
    from tf_fixnorm import recipes
    from tf_fixnorm.tuning.hypermodel import Ranges

    recipe = recipes.get(FLAGS.recipe)
    if FLAGS.image_size:
        if not is_dense(recipe):
            raise UsageError("--image_size applies to segmentation and detection recipes; "
                             f"{recipe.name} is a classification recipe")
        from tf_fixnorm.dense_experiment import parse_image_size

        recipe = dataclasses.replace(recipe, image_size=parse_image_size(FLAGS.image_size))
    if is_dense(recipe) and FLAGS.objective == "val_accuracy":
        raise UsageError(f"{recipe.name} is a {recipe.task} recipe: use --objective=val_metric "
                         f"({recipe.metric}) or val_loss")
    methods = FLAGS.compare or [FLAGS.method]
    unknown = [m for m in methods if m not in METHOD_NAMES]
    if unknown:
        raise UsageError(f"unknown method {unknown[0]!r} in --compare; choose from "
                         f"{', '.join(METHOD_NAMES)}")
    if len(set(methods)) != len(methods):
        raise UsageError(f"--compare lists a method twice: {','.join(methods)}")
    try:
        seeds = [int(s) for s in FLAGS.seeds]
    except ValueError:
        raise UsageError(f"--seeds must be integers, got {','.join(FLAGS.seeds)}")
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds must be distinct integers >= 0, got {','.join(FLAGS.seeds)}")
    for name in ("max_trials", "executions_per_trial", "epochs", "global_batch_size",
                 "steps_per_epoch", "bo_initial_points"):
        value = getattr(FLAGS, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name} must be >= 1, got {value}")
    if not 0 <= FLAGS.margin:
        raise UsageError(f"--margin must be >= 0, got {FLAGS.margin}")
    if not 0 < FLAGS.validation_fraction < 1:
        raise UsageError(f"--validation_fraction must be in (0, 1), got "
                         f"{FLAGS.validation_fraction}")
    ranges = Ranges(lr=_pair("lr_range"), alpha=_pair("alpha_range"),
                    weight_decay=_pair("weight_decay_range"))
    for method in methods:  # a recipe without reference settings cannot run these
        if method == "reference":
            recipe.settings("reference")
    # Given values are checked, even 0: only an absent flag takes the recipe's.
    lr_start = FLAGS.lr_start if FLAGS.lr_start is not None else (
        recipe.reference or recipe.fixnorm).lr
    if not ranges.lr[0] <= lr_start <= ranges.lr[1]:
        raise UsageError(f"--lr_start {lr_start} is outside --lr_range {ranges.lr}")
    # Stage 1 compares lrs at this alpha; at a poor alpha the scores are low
    # and noisy and stage 1 can pick a bad lr (BENCHMARKS.md, MNIST subset).
    alpha_start = FLAGS.alpha_start if FLAGS.alpha_start is not None else (
        recipe.fixnorm.alpha if recipe.fixnorm else 1.0)
    if not ranges.alpha[0] <= alpha_start <= ranges.alpha[1]:
        raise UsageError(f"--alpha_start {alpha_start} is outside --alpha_range "
                         f"{ranges.alpha}")
    return recipe, methods, seeds, ranges, (lr_start, alpha_start)


def is_dense(recipe):
    from tf_fixnorm import recipes

    return isinstance(recipe, recipes.DenseRecipe)


def objective_name(recipe):
    """--objective, or the default for the recipe's task."""
    return FLAGS.objective or ("val_metric" if is_dense(recipe) else "val_accuracy")


def load_data(recipe, batch):
    """(data, steps per epoch) of a search; the same split for every seed and method."""
    if is_dense(recipe):
        from tf_fixnorm import dense_experiment

        data = dense_experiment.load_data(recipe, batch, seed=0, data_dir=FLAGS.data_dir,
                                          tfds_name=FLAGS.tfds_name)
        # One "epoch" is the whole run unless --epochs splits it.
        steps = FLAGS.steps_per_epoch or recipe.iterations // (FLAGS.epochs or 1)
        return data, steps
    from tf_fixnorm import experiment

    data = experiment.load_data(recipe, batch, seed=0, data_dir=FLAGS.data_dir,
                                data_format=FLAGS.data_format, tfds_name=FLAGS.tfds_name,
                                validation_fraction=FLAGS.validation_fraction)
    return data, experiment.steps_per_epoch(recipe, data.train, batch, FLAGS.steps_per_epoch)


def distributed_role():
    """"chief", "worker", or None (one process), from keras-tuner's variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


def run_search(recipe, data, steps, method, seed, ranges, starts, out_dir, direction):
    """One method, one seed: search (or resume), print live lines; the run record."""
    import keras_tuner

    from tf_fixnorm.tuning import hypermodel as hm
    from tf_fixnorm.tuning import report
    from tf_fixnorm.tuning.tuner import RecipeTuner, make_oracle, trial_records

    options = dict(epochs=FLAGS.epochs, ranges=ranges, scope=FLAGS.scope,
                   alpha_measure=FLAGS.alpha_measure, other_kernels=FLAGS.other_kernels)
    if is_dense(recipe):
        model = hm.DenseRecipeHyperModel(recipe, data, method, steps,
                                         score_batches=FLAGS.score_batches, **options)
    else:
        model = hm.RecipeHyperModel(recipe, data, method, steps, **options)
    objective = keras_tuner.Objective(objective_name(recipe), direction)
    oracle = make_oracle(method, ranges, objective, max_trials=FLAGS.max_trials, seed=seed,
                         lr_start=starts[0], alpha_start=starts[1],
                         bo_initial_points=FLAGS.bo_initial_points)
    run = {"method": method, "seed": seed, "trials": []}

    def live(record):
        run["trials"].append(record)
        print(report.trial_line(run, record, direction), flush=True)

    started = time.monotonic()
    tuner = RecipeTuner(oracle, model, seed=seed, on_result=live, directory=out_dir,
                        project_name=f"{method}_seed{seed}", overwrite=FLAGS.overwrite,
                        executions_per_trial=FLAGS.executions_per_trial)
    if distributed_role() != "worker" and oracle.trials:
        print(f"[{method} seed {seed}] resuming: {len(oracle.trials)} trial(s) already in "
              f"{tuner.project_dir}", flush=True)
    tuner.search(verbose=0)
    if distributed_role() == "worker":
        return None
    run["trials"] = trial_records(tuner.oracle, tuner.names, tuner.seconds)
    run["seconds"] = round(time.monotonic() - started, 1)
    return run


def tune(recipe, methods, seeds, ranges, starts):
    from tf_fixnorm.tuning import report

    role = distributed_role()
    batch = FLAGS.global_batch_size or recipe.global_batch_size
    data, steps = load_data(recipe, batch)
    out_dir = os.path.join(FLAGS.directory, recipe.name)
    os.makedirs(out_dir, exist_ok=True)
    objective = objective_name(recipe)
    direction = "min" if objective == "val_loss" else "max"
    results = {
        "recipe": recipe.name, "objective": objective, "direction": direction,
        "margin": FLAGS.margin, "runs": [],
        "command": " ".join(shlex.quote(a) for a in ["fixnorm-tune", *sys.argv[1:]]),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, "
                   f"Python {platform.python_version()}",
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "epochs": FLAGS.epochs or getattr(recipe, "epochs", 1), "steps_per_epoch": steps,
        "global_batch_size": batch, "lr_start": starts[0], "alpha_start": starts[1],
    }
    results_path = os.path.join(out_dir, "results.json")
    for seed in seeds:
        for method in methods:
            print(f"== {recipe.name}: {method}, seed {seed} ==", flush=True)
            run = run_search(recipe, data, steps, method, seed, ranges, starts, out_dir,
                             direction)
            if run is None:
                continue
            results["runs"].append(run)
            print(report.format_trial_table(run, direction), flush=True)
            report.write_results(results_path, results)
    if role == "worker":
        print("worker finished: the chief writes the results")
        return
    summary = report.summarize(results)
    trials = sum(len(run["trials"]) for run in results["runs"])
    seconds = sum(run["seconds"] for run in results["runs"])
    print(f"\n{trials} trials in {len(results['runs'])} searches, {seconds:.0f} s of searching "
          f"in this invocation")
    print(report.format_summary_table(summary, FLAGS.margin))
    print(f"\nresults: {results_path}")
    if FLAGS.plots:
        curves = report.plot_best_so_far(results, os.path.join(out_dir, "best_so_far.png"))
        landscape = report.plot_landscape(results, os.path.join(out_dir, "landscape.png"))
        print(f"plots: {curves} {landscape}")


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments: {' '.join(argv[1:])}")
    try:
        tune(*check_flags())
    except ValueError as error:  # UsageError and the library's own checks
        sys.exit("error: " + " ".join(str(error).split()))


def run():
    """Console-script entry point (`fixnorm-tune`)."""
    app.run(main)


if __name__ == "__main__":
    run()
