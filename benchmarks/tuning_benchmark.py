"""Does FixNorm-tune beat BO+WD, at what cost, and which design choices win (issue 5).

    python benchmarks/tuning_benchmark.py --part=all [--out=bench_out/tuning]
    python benchmarks/tuning_benchmark.py --smoke        (CI: every part, tiny)

Parts, all on one recipe (default `digits_bench`), one process, one machine:
- noise: the reference and a FixNorm setting trained with 5 seeds: the seed
  noise of the validation score (the tuning signal) and of the test score;
- efficiency: `fixnorm-tune --compare=fixnorm,bo_wd,random` over 5 search
  seeds, BO+WD and random given a larger budget than FixNorm-tune's 11 trials
  (`--baseline_trials`), reporting the trials each needs to come within
  `--margin` of the best validation score any method found;
- quality: the best configuration of each method (its best trial over all
  seeds), and the reference setting, retrained on the whole training split
  with 3 seeds and scored on the test split (never seen while tuning);
- ablations: FixNorm-tune with per-kernel scope, per-class alpha, and the
  other kernels held, each over 3 search seeds, the best configuration
  retrained like the methods, against the defaults.
Every table is printed; `--out` keeps the tuner projects and a summary JSON.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys  # noqa: E402

# Run from a checkout without installing: put the repository root on the path.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import dataclasses  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

from absl import app, flags  # noqa: E402

PARTS = ("noise", "efficiency", "quality", "ablations")
ABLATIONS = {"defaults": [], "per_kernel": ["--scope=per_kernel"],
             "per_class": ["--alpha_measure=per_class"], "others_held": ["--other_kernels=held"]}

FLAGS = flags.FLAGS
flags.DEFINE_list("part", ["all"], f"Parts to run: all or some of {','.join(PARTS)}.")
flags.DEFINE_string("recipe", "digits_bench", "Recipe (an embedded-data one).")
flags.DEFINE_string("out", "bench_out/tuning", "Where tuner projects and summary.json go.")
flags.DEFINE_integer("search_seeds", 5, "Search seeds for the efficiency part.")
flags.DEFINE_integer("ablation_seeds", 3, "Search seeds per ablation variant.")
flags.DEFINE_integer("retrain_seeds", 3, "Seeds of each retraining (quality, ablations).")
flags.DEFINE_integer("noise_seeds", 5, "Seeds of the noise part.")
flags.DEFINE_integer("baseline_trials", 24, "Trial budget of BO+WD and random search.")
flags.DEFINE_float("margin", 0.002, "Trials to come within this of the best score.")
flags.DEFINE_float("validation_fraction", 0.4, "Held out of the training split for tuning.")
flags.DEFINE_bool("smoke", False, "Tiny run of every part (1 epoch, 3 steps, 2 trials, one "
                  "seed, two ablation variants): checks the script, measures nothing.")


def mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def fmt(values):
    mean, std = mean_std(values)
    return "-" if mean is None else f"{mean:.4f} +- {std:.4f}"


def smoke_overrides():
    return ["--epochs=1", "--steps_per_epoch=3"] if FLAGS.smoke else []


def train_once(recipe, flavour, lr, seed, alpha=None, weight_decay=None, options=None,
               validation=False):
    """Train one run; return (validation or test accuracy)."""
    import keras

    from fixnorm_experiments import tasks
    from fixnorm_experiments.train.optimizers import make_optimizer

    task = tasks.make(recipe)  # before seeding: its first import draws from `random`
    epochs = 1 if FLAGS.smoke else recipe.epochs
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(seed)
    data = task.load_data(recipe.global_batch_size, seed=0,
                          validation_fraction=FLAGS.validation_fraction if validation else None)
    plan = task.plan(data, epochs, 3 if FLAGS.smoke else None)
    model = task.build_model()
    task.compile(model, make_optimizer(flavour, model, task.schedule(lr, plan), alpha=alpha,
                                       weight_decay=weight_decay, **(options or {})))
    model.fit(data.train.repeat(), epochs=plan.loops, steps_per_epoch=plan.steps_per_loop,
              verbose=0, shuffle=False)
    _, accuracy = model.evaluate(data.evaluation if validation else data.test, verbose=0)
    return float(accuracy)


def part_noise(recipe):
    seeds = range(1 if FLAGS.smoke else FLAGS.noise_seeds)
    ref, fix = recipe.reference, recipe.fixnorm
    settings = {
        f"reference lr={ref.lr} lambda={ref.weight_decay}":
            dict(flavour="reference", lr=ref.lr, weight_decay=ref.weight_decay),
        f"fixnorm lr={fix.lr} alpha={fix.alpha}":
            dict(flavour="fixnorm", lr=fix.lr, alpha=fix.alpha),
    }
    rows = {}
    print("\n== noise: the same setting, different training seeds ==")
    for name, kw in settings.items():
        val = [train_once(recipe, seed=s, validation=True, **kw) for s in seeds]
        test = [train_once(recipe, seed=s, **kw) for s in seeds]
        rows[name] = {"validation": val, "test": test}
        print(f"{name:40s} validation {fmt(val)}  test {fmt(test)}  ({len(val)} seeds)")
    return rows


def run_tuner(directory, flags_):
    command = [sys.executable, "-m", "fixnorm_experiments.cli.tune",
               f"--recipe={FLAGS.recipe}", f"--directory={directory}",
               f"--margin={FLAGS.margin}", f"--validation_fraction={FLAGS.validation_fraction}",
               "--plots=true", *smoke_overrides(), *flags_]
    print("$ " + " ".join(shlex.quote(c) for c in command[1:]), flush=True)
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"error: the tuner failed:\n{result.stderr[-3000:]}")
    summary = result.stdout[result.stdout.index("\ntarget ") + 1:] \
        if "\ntarget " in result.stdout else result.stdout[-3000:]
    print(summary, flush=True)
    with open(os.path.join(directory, FLAGS.recipe, "results.json"), encoding="utf-8") as f:
        return json.load(f)


def part_efficiency():
    seeds = ",".join(str(s) for s in range(1 if FLAGS.smoke else FLAGS.search_seeds))
    trials = 2 if FLAGS.smoke else FLAGS.baseline_trials
    print("\n== efficiency: trials to come within the margin of the best score ==")
    return run_tuner(os.path.join(FLAGS.out, "compare"),
                     ["--compare=fixnorm,bo_wd,random", f"--seeds={seeds}",
                      f"--max_trials={trials}"])


def best_values(results, method):
    """The values of the method's best completed trial over all its seeds."""
    best = None
    for run in results["runs"]:
        if run["method"] != method:
            continue
        for trial in run["trials"]:
            if trial["score"] is not None and (best is None or trial["score"] > best["score"]):
                best = trial
    return best


def retrain(recipe, method, values, options=None):
    seeds = range(1 if FLAGS.smoke else FLAGS.retrain_seeds)
    if method == "fixnorm":
        return [train_once(recipe, "fixnorm", values["lr"], s, alpha=values["alpha"],
                           options=options) for s in seeds]
    return [train_once(recipe, "reference", values["lr"], s,
                       weight_decay=values["weight_decay"]) for s in seeds]


def part_quality(recipe, results):
    print("\n== quality: each method's best configuration retrained, test accuracy ==")
    rows = {}
    for method in ("fixnorm", "bo_wd", "random"):
        best = best_values(results, method)
        test = retrain(recipe, method, best["values"])
        rows[method] = {"values": best["values"], "validation": best["score"], "test": test}
    ref = recipe.reference
    rows["reference"] = {"values": {"lr": ref.lr, "weight_decay": ref.weight_decay},
                         "validation": None,
                         "test": retrain(recipe, "reference",
                                         {"lr": ref.lr, "weight_decay": ref.weight_decay})}
    print(f"{'method':10s} {'configuration':34s} {'tuning val':>10s}  test (mean +- std)")
    for method, row in rows.items():
        values = " ".join(f"{k}={v:.3g}" for k, v in row["values"].items())
        val = "-" if row["validation"] is None else f"{row['validation']:.4f}"
        print(f"{method:10s} {values:34s} {val:>10s}  {fmt(row['test'])}")
    return rows


def part_ablations(recipe):
    print("\n== ablations: FixNorm-tune with one option changed ==")
    seeds = ",".join(str(s) for s in range(1 if FLAGS.smoke else FLAGS.ablation_seeds))
    variants = {name: ABLATIONS[name] for name in
                (("defaults", "others_held") if FLAGS.smoke else ABLATIONS)}
    budget = ["--max_trials=2"] if FLAGS.smoke else []
    options_of = {"defaults": {}, "per_kernel": {"scope": "per_kernel"},
                  "per_class": {"alpha_measure": "per_class"},
                  "others_held": {"other_kernels": "held"}}
    rows = {}
    for name, extra in variants.items():
        if name == "per_class":
            # A per-class alpha is about sqrt(classes) smaller for the same
            # kernel: start stage 1 at the recipe's alpha so translated (a
            # power of two) rather than at a 3x larger norm.
            start = 2.0 ** round(math.log2(recipe.fixnorm.alpha / math.sqrt(recipe.num_classes)))
            extra = [*extra, f"--alpha_start={start:g}"]
        results = run_tuner(os.path.join(FLAGS.out, f"ablation_{name}"),
                            ["--method=fixnorm", f"--seeds={seeds}", *budget, *extra])
        bests = [max((t["score"] for t in run["trials"] if t["score"] is not None),
                     default=None) for run in results["runs"]]
        best = best_values(results, "fixnorm")
        test = retrain(recipe, "fixnorm", best["values"], options_of[name])
        rows[name] = {"tuning_best": bests, "values": best["values"], "test": test}
    print(f"{'variant':12s} {'best val over seeds':>20s}  {'best configuration':24s} "
          "retrained test")
    for name, row in rows.items():
        values = " ".join(f"{k}={v:.3g}" for k, v in row["values"].items())
        print(f"{name:12s} {fmt(row['tuning_best']):>20s}  {values:24s} {fmt(row['test'])}")
    return rows


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments: {' '.join(argv[1:])}")
    parts = PARTS if FLAGS.part == ["all"] else FLAGS.part
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        sys.exit(f"error: unknown part {unknown[0]!r}; choose all or from {', '.join(PARTS)}")
    from fixnorm_experiments import recipes

    try:
        recipe = recipes.get(FLAGS.recipe)
    except ValueError as error:
        sys.exit(f"error: {error}")
    if FLAGS.smoke:
        recipe = dataclasses.replace(recipe, epochs=1)
    os.makedirs(FLAGS.out, exist_ok=True)
    started = time.monotonic()
    summary = {"recipe": FLAGS.recipe, "command": " ".join(shlex.quote(a) for a in sys.argv),
               "machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python "
                          f"{platform.python_version()}"}
    if "noise" in parts:
        summary["noise"] = part_noise(recipe)
    results = None
    if "efficiency" in parts or "quality" in parts:
        results = part_efficiency()
    if "quality" in parts:
        summary["quality"] = part_quality(recipe, results)
    if "ablations" in parts:
        summary["ablations"] = part_ablations(recipe)
    summary["seconds"] = round(time.monotonic() - started)
    with open(os.path.join(FLAGS.out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    print(f"\n{summary['machine']}; {summary['seconds']} s; command: {summary['command']}")
    print(f"summary: {os.path.join(FLAGS.out, 'summary.json')}")


if __name__ == "__main__":
    app.run(main)
