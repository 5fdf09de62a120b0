"""Does FixNorm-tune beat the tuners people use, at what cost, and which design choices win.

    python benchmarks/tuning_benchmark.py --part=all [--out=bench_out/tuning]
    python benchmarks/tuning_benchmark.py --smoke        (CI: every part, tiny)

Parts, all on one recipe (default `digits_bench`), one process, one machine:
- noise: the reference and a FixNorm setting trained with 5 seeds: the seed
  noise of the validation score (the tuning signal) and of the test score;
  its larger validation std is the default margin of the efficiency part;
- efficiency: `fixnorm-tune --compare` of FixNorm-tune and every peer
  (`--methods`) over 5 search seeds at the largest of `--budgets` trials, and
  FixNorm-tune once more without prior knowledge (alpha_start 1, lr start
  `--no_prior_lr_factor` times the recipe's). Per method and budget: best
  score mean and std, trials to come within the margin of the best score any
  method found (median, how many searches reached it), FixNorm-tune against
  each peer in Welch's t over seeds, a best-so-far plot with bands; it ends
  with the finding in one sentence;
- quality: the best configuration of each method (its best trial over all
  seeds), and the reference setting, retrained on the whole training split
  with 3 seeds and scored on the test split (never seen while tuning);
- ablations: FixNorm-tune with per-kernel scope, per-class alpha, and the
  other kernels held, each over 3 search seeds, the best configuration
  retrained like the methods, against the defaults.
Every table is printed; `--out` keeps the tuner projects and a summary JSON
(parts run later add to it; the noise part is reused for the margin).
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
PEERS = ("bo_wd", "bo_wd_default", "random", "optuna_tpe", "optuna_gp", "no_decay")
NO_PRIOR = "fixnorm_no_prior"
SMOKE_METHODS = ["fixnorm", "bo_wd"]
ABLATIONS = {"defaults": [], "per_kernel": ["--scope=per_kernel"],
             "per_class": ["--alpha_measure=per_class"], "others_held": ["--other_kernels=held"]}

FLAGS = flags.FLAGS
flags.DEFINE_list("part", ["all"], f"Parts to run: all or some of {','.join(PARTS)}.")
flags.DEFINE_string("recipe", "digits_bench", "Recipe (an embedded-data one).")
flags.DEFINE_string("out", "bench_out/tuning", "Where tuner projects and summary.json go.")
flags.DEFINE_list("methods", ["fixnorm", *PEERS], "Methods of the efficiency part (fixnorm-tune "
                  "--compare names); FixNorm-tune without prior knowledge is added.")
flags.DEFINE_list("budgets", ["11", "24"], "Trial budgets compared; every search runs the "
                  "largest (FixNorm-tune stops at its own 11).")
flags.DEFINE_integer("search_seeds", 5, "Search seeds for the efficiency part.")
flags.DEFINE_integer("ablation_seeds", 3, "Search seeds per ablation variant.")
flags.DEFINE_integer("retrain_seeds", 3, "Seeds of each retraining (quality, ablations).")
flags.DEFINE_integer("noise_seeds", 5, "Seeds of the noise part.")
flags.DEFINE_float("margin", None, "Trials to come within this of the best score (default: "
                   "the noise part's larger validation std, rounded up to 0.001, times each "
                   "of --noise_multiples).")
flags.DEFINE_list("noise_multiples", ["1", "2"], "Margins in seed-noise stds: the best score "
                  "any method found is the largest of hundreds of noisy trials, so a trial "
                  "as good as the best configuration can fall one std short of it.")
flags.DEFINE_float("no_prior_lr_factor", 0.1, "FixNorm-tune without prior knowledge starts "
                   "at this times the recipe's reference lr, and at alpha 1.")
flags.DEFINE_float("validation_fraction", 0.4, "Held out of the training split for tuning.")
flags.DEFINE_bool("smoke", False, "Tiny run of every part (1 epoch, 3 steps, 2 trials, one "
                  "seed, two methods, one ablation variant): checks the script, measures "
                  "nothing.")


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


def run_tuner(directory, flags_, margin=None):
    command = [sys.executable, "-m", "fixnorm_experiments.cli.tune",
               f"--recipe={FLAGS.recipe}", f"--directory={directory}",
               *([] if margin is None else [f"--margin={margin}"]),
               f"--validation_fraction={FLAGS.validation_fraction}",
               "--plots=false", *smoke_overrides(), *flags_]
    print("$ " + " ".join(shlex.quote(c) for c in command[1:]), flush=True)
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"error: the tuner failed:\n{result.stderr[-3000:]}")
    counted = [line for line in result.stdout.splitlines() if " trials in " in line]
    print(counted[-1] if counted else result.stdout[-2000:], flush=True)
    with open(os.path.join(directory, FLAGS.recipe, "results.json"), encoding="utf-8") as f:
        return json.load(f)


def noise_margins(summary):
    """The efficiency margins: `--margin`, or the noise part's larger validation std
    (rounded up to 0.001) times each of `--noise_multiples`."""
    if FLAGS.margin is not None:
        return [FLAGS.margin]
    if "noise" not in summary:
        raise SystemExit("error: no margin: run the noise part first (--part=noise,efficiency) "
                         "or give --margin")
    stds = [mean_std(row["validation"])[1] for row in summary["noise"].values()]
    std = math.ceil(max(stds) * 1000) / 1000 if max(stds) > 0 else 0.001
    return [round(float(k) * std, 6) for k in FLAGS.noise_multiples]


def format_count(row):
    per_seed = ", ".join("-" if c is None else str(c) for c in row["trials_to_target"])
    median = row["trials_to_target_median"]
    median = "-" if median is None else f"{median:g}"
    return f"{median} [{per_seed}]"


def efficiency_table(rows, against):
    from fixnorm_experiments import report
    from fixnorm_text import format_table

    lines = []
    for row in rows:
        t = report.welch_t(against.get(row["budget"], []), row["best_scores"])
        lines.append([row["method"], str(row["budget"]), f"{row['trials_mean']:.1f}",
                      fmt(row["best_scores"]), format_count(row),
                      f"{row['reached']}/{len(row['seeds'])}",
                      "-" if t is None or row["method"] == "fixnorm" else f"{t:+.1f}"])
    return format_table(["method", "budget", "trials run", "best (mean +- std)",
                         "trials to target [per seed]", "reached", "fixnorm t"], lines,
                        right_aligned=[False, True, True, True, False, True, True])


def finding(target, rows, margin):
    """FixNorm-tune at the smallest budget against the fastest peer at the largest."""
    from fixnorm_experiments import report

    budgets = sorted({row["budget"] for row in rows})
    ours = next((r for r in rows if r["method"] == "fixnorm" and r["budget"] == budgets[0]),
                None)
    peers = [r for r in rows if r["method"] in PEERS and r["budget"] == budgets[-1]]
    return report.finding(ours, peers, target, margin)


def part_efficiency(recipe, margins):
    from fixnorm_experiments import report

    seeds = ",".join(str(s) for s in range(1 if FLAGS.smoke else FLAGS.search_seeds))
    budgets = [2] if FLAGS.smoke else sorted(int(b) for b in FLAGS.budgets)
    methods = SMOKE_METHODS if FLAGS.smoke else FLAGS.methods
    print("\n== efficiency: trials to come within the margin of the best score ==")
    results = run_tuner(os.path.join(FLAGS.out, "compare"),
                        [f"--compare={','.join(methods)}", f"--seeds={seeds}",
                         f"--max_trials={budgets[-1]}"], margins[-1])
    lr_start = recipe.reference.lr * FLAGS.no_prior_lr_factor
    no_prior = run_tuner(os.path.join(FLAGS.out, "no_prior"),
                         ["--method=fixnorm", f"--seeds={seeds}", "--alpha_start=1",
                          f"--lr_start={lr_start:g}", f"--max_trials={budgets[-1]}"],
                         margins[-1])
    results["runs"] += [{**run, "method": NO_PRIOR} for run in no_prior["runs"]]
    plot = os.path.join(FLAGS.out, f"best_so_far_{FLAGS.recipe}.png")
    report.plot_best_so_far_bands(results, plot, budgets=budgets,
                                  target=report.compare_at_budgets(results, budgets,
                                                                   margins[-1])[0],
                                  title=f"{FLAGS.recipe}: best validation accuracy so far, "
                                  f"{len(seeds.split(','))} search seeds")
    print(f"{NO_PRIOR} starts at alpha 1 and lr {lr_start:g}; fixnorm t: FixNorm-tune's "
          "best minus the method's, over seeds, in Welch's t; plot: " + plot)
    by_margin = {}
    for margin in margins:
        target, rows = report.compare_at_budgets(results, budgets, margin)
        against = {r["budget"]: r["best_scores"] for r in rows if r["method"] == "fixnorm"}
        print(f"\ntarget {target:.4f}: within {margin:g} of the best score any method found")
        print(efficiency_table(rows, against))
        sentence = finding(target, rows, margin)
        print(sentence)
        by_margin[f"{margin:g}"] = {"target": target, "rows": rows, "finding": sentence}
    return results, {"margins": by_margin, "plot": plot}


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
    from fixnorm_experiments.tuning.methods import FIXED

    seeds = range(1 if FLAGS.smoke else FLAGS.retrain_seeds)
    if method in ("fixnorm", NO_PRIOR):
        return [train_once(recipe, "fixnorm", values["lr"], s, alpha=values["alpha"],
                           options=options) for s in seeds]
    values = {**FIXED.get(method, {}), **values}
    return [train_once(recipe, "reference", values["lr"], s,
                       weight_decay=values["weight_decay"]) for s in seeds]


def part_quality(recipe, results):
    from fixnorm_experiments import report
    from fixnorm_text import format_table

    print("\n== quality: each method's best configuration retrained, test accuracy ==")
    rows = {}
    for method in report.methods_in_order(results["runs"]):
        best = best_values(results, method)
        if best is None:
            continue
        test = retrain(recipe, method, best["values"])
        rows[method] = {"values": best["values"], "validation": best["score"], "test": test}
    ref = recipe.reference
    rows["reference"] = {"values": {"lr": ref.lr, "weight_decay": ref.weight_decay},
                         "validation": None,
                         "test": retrain(recipe, "reference",
                                         {"lr": ref.lr, "weight_decay": ref.weight_decay})}
    lines = [[method, report.format_values(row["values"]),
              "-" if row["validation"] is None else f"{row['validation']:.4f}",
              fmt(row["test"]), ", ".join(f"{t:.4f}" for t in row["test"])]
             for method, row in rows.items()]
    print(format_table(["method", "configuration", "tuning val", "test (mean +- std)",
                        "test per seed"], lines,
                       right_aligned=[False, False, True, True, False]))
    return rows


def part_ablations(recipe):
    print("\n== ablations: FixNorm-tune with one option changed ==")
    seeds = ",".join(str(s) for s in range(1 if FLAGS.smoke else FLAGS.ablation_seeds))
    variants = {name: ABLATIONS[name] for name in
                (("others_held",) if FLAGS.smoke else ABLATIONS)}
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
    from fixnorm_experiments.cli.common import native_stderr_captured

    with native_stderr_captured() as native_lines:  # TensorFlow's load-time C++ lines
        import tensorflow  # noqa: F401
    if native_lines:
        with open(os.path.join(FLAGS.out, "warnings.log"), "a", encoding="utf-8") as log:
            log.write("\n".join(native_lines) + "\n")
    started = time.monotonic()
    summary_path = os.path.join(FLAGS.out, "summary.json")
    summary = {}
    if os.path.exists(summary_path):  # earlier parts stay; the noise part sets the margin
        with open(summary_path, encoding="utf-8") as f:
            summary = json.load(f)
        if summary.get("recipe") != FLAGS.recipe:
            sys.exit(f"error: {summary_path} is of recipe {summary.get('recipe')!r}, not "
                     f"{FLAGS.recipe!r}: choose another --out")
    summary.update({"recipe": FLAGS.recipe,
                    "command": " ".join(shlex.quote(a) for a in sys.argv),
                    "machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python "
                               f"{platform.python_version()}"})
    if "noise" in parts:
        summary["noise"] = part_noise(recipe)
    results = None
    if "efficiency" in parts or "quality" in parts:
        results, summary["efficiency"] = part_efficiency(recipe, noise_margins(summary))
    if "quality" in parts:
        summary["quality"] = part_quality(recipe, results)
    if "ablations" in parts:
        summary["ablations"] = part_ablations(recipe)
    summary["seconds"] = round(time.monotonic() - started)
    with open(summary_path, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    print(f"\n{summary['machine']}; {summary['seconds']} s; command: {summary['command']}")
    print(f"summary: {summary_path}")


if __name__ == "__main__":
    app.run(main)
