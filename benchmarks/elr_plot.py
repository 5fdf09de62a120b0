"""Effective learning rate over training: FixNorm against weight decay (issue 5).

    python benchmarks/elr_plot.py [--epochs=30] [--lambda=5e-4] [--every=1]
                                  [--png=benchmarks/elr.png] [--json=PATH] [--smoke]

The ``digits_tune`` recipe's model (small_resnet on scikit-learn digits, batch
64, cosine schedule, no warm-up) is trained three times from the same initial
weights and the same data order (same seed):

- ``fixnorm``: FixNorm(SGD momentum 0.9), lr 0.2, alpha 4 (the recipe's);
- ``coupled_l2``: SGD momentum 0.9 with coupled L2 ``lambda`` (the recipe's
  reference, 5e-4), lr 0.2;
- ``no_decay``: the same SGD with lambda 0.

Before every ``--every``-th step (and always before the last one) a callback
records the learning rate that step uses, the norm of all scale-invariant
kernels together, their effective learning rate and the classifier kernel's
norm, exactly as ``tf_fixnorm.NormMonitor`` defines them (it calls
``NormMonitor.measure``): ``ELR = lr / mean_i |w_i|^2`` over the
scale-invariant kernels ``w_i`` (docs/method.md, "Effective learning rate"). Without decay the
gradient steps (orthogonal to ``w``) grow ``|w|``, so the ELR falls below
the lr schedule; weight decay pulls ``|w|`` back, which raises the ELR: an
ELR schedule of its own on top of the lr's. FixNorm holds the global invariant
norm, so its ELR is the lr schedule times a constant.

Printed: per run the ELR at the start, at 25/50/75% of the steps and before
the last step; the drift factor ``(ELR/lr)_last / (ELR/lr)_start``
(``= |w_start|^2 / |w_last|^2``: 1 means the ELR followed the lr schedule
alone), its lowest value and the step where it was lowest (where the
invariant norm peaked); the invariant norm at the start, its maximum and at
the end; the classifier norm at the end and the test accuracy; then the
machine, the date and the command. The PNG has three panels: ELR (log),
ELR/lr relative to the start (log), classifier norm. ``--smoke``: 2 epochs and
no PNG unless ``--png`` is given.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys  # noqa: E402

# Run from a checkout without installing: put the repository root on the path.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import time  # noqa: E402

from absl import app, flags  # noqa: E402

RECIPE = "digits_tune"
SMOKE_EPOCHS = 2
DEFAULT_PNG = os.path.join(ROOT, "benchmarks", "elr.png")
QUANTILES = (0.25, 0.5, 0.75)
RUNS = ("fixnorm", "coupled_l2", "no_decay")
LABELS = {"fixnorm": "FixNorm", "coupled_l2": "SGD + coupled L2", "no_decay": "SGD, no decay"}
COLOURS = {"fixnorm": "tab:blue", "coupled_l2": "tab:red", "no_decay": "tab:gray"}

FLAGS = flags.FLAGS
flags.DEFINE_integer("epochs", 30, "Epochs of every run (the recipe has 8; longer shows the "
                     "decay's effect).", lower_bound=1)
flags.DEFINE_float("lambda", None, "Coupled L2 lambda of the weight-decay run (default: the "
                   "recipe's reference lambda).")
flags.DEFINE_float("lr", None, "Peak learning rate of all three runs (default: the recipe's).")
flags.DEFINE_float("alpha", None, "FixNorm classifier norm (default: the recipe's).")
flags.DEFINE_integer("every", 1, "Record before every N-th step (and before the last).",
                     lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of weights, split and data order (same for all runs).")
flags.DEFINE_bool("smoke", False, f"{SMOKE_EPOCHS} epochs, no PNG unless --png is given.")
flags.DEFINE_string("png", None, "Where to write the figure (default benchmarks/elr.png, none "
                    "with --smoke); an empty string writes none.")
flags.DEFINE_string("json", None, "Write the series and the summary as JSON to this path.")
flags.register_validator("lambda", lambda v: v is None or v > 0,
                         message="--lambda must be > 0 (the no-decay run is always there)")
flags.register_validator("lr", lambda v: v is None or v > 0, message="--lr must be > 0")
flags.register_validator("alpha", lambda v: v is None or v > 0, message="--alpha must be > 0")


def settings():
    """The recipe and every run's knobs, flags over the recipe's values."""
    from fixnorm_experiments import recipes

    recipe = recipes.get(RECIPE)
    fixnorm, reference = recipe.settings("fixnorm"), recipe.settings("reference")
    if fixnorm.lr != reference.lr and FLAGS.lr is None:
        raise ValueError(f"{RECIPE}'s flavours have different lr: pass --lr")
    lam = FLAGS["lambda"].value
    return recipe, {
        "epochs": SMOKE_EPOCHS if FLAGS.smoke else FLAGS.epochs,
        # The recipe gives both flavours lr 0.2; all three runs share one lr.
        "lr": FLAGS.lr or fixnorm.lr,
        "alpha": FLAGS.alpha or fixnorm.alpha,
        "lambda": reference.weight_decay if lam is None else lam,
        "seed": FLAGS.seed,
    }


def make_recorder(every, total_steps, roles):
    """A callback that records NormMonitor's values before the steps it samples."""
    import numpy as np

    from tf_fixnorm import NormMonitor

    class Recorder(NormMonitor):
        def __init__(self):
            super().__init__(roles=roles)
            self.series = {"step": [], "lr": [], "elr": [], "norm_invariant": [],
                           "norm_classifier": []}

        def on_train_batch_begin(self, batch, logs=None):
            step = int(np.asarray(self.model.optimizer.iterations))
            if step % every and step != total_steps - 1:
                return
            values = self.measure()
            # NormMonitor reads the same lr; kept separately for the ratio ELR/lr.
            self.series["step"].append(step)
            self.series["lr"].append(float(np.asarray(self.model.optimizer.learning_rate)))
            self.series["elr"].append(values["elr/scale_invariant"])
            self.series["norm_invariant"].append(values["norm/scale_invariant"])
            self.series["norm_classifier"].append(values["norm/classifier"])

        def on_epoch_end(self, epoch, logs=None):
            pass  # no per-epoch logs: the per-step series is the record

    return Recorder()


def initial_weights(recipe, seed):
    """The weights all three runs start from.

    Built once and copied in: in one process, the first ``build_model`` after
    ``keras.utils.set_random_seed(seed)`` gives other weights than later ones
    with the same seed (seen with Keras 3.15.1), so reseeding alone would not
    start the runs alike.
    """
    import keras

    from fixnorm_experiments import tasks

    task = tasks.make(recipe)
    keras.utils.set_random_seed(seed)
    return task.build_model().get_weights()


def train_one(recipe, run, knobs, weights):
    """Train one run from ``weights``; returns its series, test accuracy, kernel
    count and seconds."""
    import warnings

    import keras

    from fixnorm_experiments import tasks
    from fixnorm_experiments.train.optimizers import make_optimizer
    from tf_fixnorm import SCALE_INVARIANT, analyze

    batch = recipe.global_batch_size
    task = tasks.make(recipe)
    keras.utils.set_random_seed(knobs["seed"])
    data = task.load_data(batch, seed=knobs["seed"])
    plan = task.plan(data, knobs["epochs"])
    steps, total = plan.steps_per_loop, plan.total_steps
    model = task.build_model()
    model.set_weights(weights)
    roles = analyze(model).roles
    schedule = task.schedule(knobs["lr"], plan)
    if run == "fixnorm":
        optimizer = make_optimizer("fixnorm", model, schedule, alpha=knobs["alpha"])
    else:
        lam = knobs["lambda"] if run == "coupled_l2" else 0.0
        optimizer = make_optimizer("reference", model, schedule, weight_decay=lam)
    task.compile(model, optimizer)
    # Roles from analyze() for every run (FixNorm's own come from it too): one grouping.
    recorder = make_recorder(FLAGS.every, total, roles)
    start = time.perf_counter()
    with warnings.catch_warnings():  # fit's default shuffle=True, moot on a tf.data.Dataset
        warnings.filterwarnings("ignore", message=".*shuffle=True.*")
        model.fit(data.train.repeat(), epochs=knobs["epochs"], steps_per_epoch=steps,
                  verbose=0, callbacks=[recorder])
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(data.test, verbose=0)
    series = recorder.series
    if series["step"][-1] != total - 1:
        raise RuntimeError(f"{run}: recorded up to step {series['step'][-1]}, expected "
                           f"{total - 1}")
    kernels = sum(role == SCALE_INVARIANT for role in roles.values())
    return {"series": series, "test_accuracy": float(accuracy), "steps": total,
            "steps_per_epoch": steps, "invariant_kernels": kernels,
            "seconds": seconds}


def at_fraction(series, key, fraction):
    """The series' value at the first recorded step >= fraction of the run."""
    steps = series["step"]
    target = fraction * (steps[-1] + 1)
    for i, step in enumerate(steps):
        if step >= target:
            return series[key][i]
    return series[key][-1]


def summarize(result):
    s = result["series"]
    ratio = [e / lr for e, lr in zip(s["elr"], s["lr"])]
    lowest = min(range(len(ratio)), key=ratio.__getitem__)
    return {
        "elr_start": s["elr"][0],
        **{f"elr_{round(100 * q)}pct": at_fraction(s, "elr", q) for q in QUANTILES},
        "elr_last": s["elr"][-1],
        "drift": ratio[-1] / ratio[0],
        "drift_min": ratio[lowest] / ratio[0],
        "drift_min_step": s["step"][lowest],
        "drift_max": max(ratio) / ratio[0],
        "norm_invariant_start": s["norm_invariant"][0],
        "norm_invariant_max": max(s["norm_invariant"]),
        "norm_invariant_last": s["norm_invariant"][-1],
        "norm_classifier_last": s["norm_classifier"][-1],
        "test_accuracy": result["test_accuracy"],
    }


def table(summaries):
    header = ("| run | ELR start | ELR 25% | ELR 50% | ELR 75% | ELR last step | "
              "(ELR/lr) last/start | (ELR/lr) min/start (step) | invariant norm "
              "start / max / last | classifier norm end | test acc |")
    lines = [header, "|" + "---|" * 11]
    for run, s in summaries.items():
        # Where the ratio never moved (FixNorm), the step of its "minimum" is noise.
        lowest = (f"{s['drift_min']:.4f}" if abs(s["drift_min"] - 1) < 1e-4
                  else f"{s['drift_min']:.4f} ({s['drift_min_step']})")
        lines.append(
            f"| {LABELS[run]} | {s['elr_start']:.3g} | {s['elr_25pct']:.3g} | "
            f"{s['elr_50pct']:.3g} | {s['elr_75pct']:.3g} | {s['elr_last']:.3g} | "
            f"{s['drift']:.4f} | {lowest} | "
            f"{s['norm_invariant_start']:.2f} / {s['norm_invariant_max']:.2f} / "
            f"{s['norm_invariant_last']:.2f} | {s['norm_classifier_last']:.2f} | "
            f"{s['test_accuracy']:.4f} |")
    return "\n".join(lines)


def plot(results, knobs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 3, figsize=(9, 3.5), dpi=100)
    reference = results["fixnorm"]["series"]
    scale = reference["elr"][0] / reference["lr"][0]
    for run, result in results.items():
        s = result["series"]
        steps = np.asarray(s["step"])
        elr = np.asarray(s["elr"])
        ratio = elr / np.asarray(s["lr"])
        style = dict(color=COLOURS[run], lw=2.0 if run == "fixnorm" else 1.2,
                     label=LABELS[run])
        axes[0].plot(steps, elr, **style)
        axes[1].plot(steps, ratio / ratio[0], **style)
        axes[2].plot(steps, s["norm_classifier"], **style)
    axes[0].plot(reference["step"], np.asarray(reference["lr"]) * scale, color="k", lw=0.8,
                 ls=":", label="lr schedule (scaled)")
    axes[0].set(yscale="log", title="ELR = lr / mean |w|^2", xlabel="step")
    axes[1].set(yscale="log", title="(ELR / lr) relative to start", xlabel="step")
    axes[1].axhline(1.0, color="k", lw=0.5)
    axes[2].set(title="classifier kernel norm", xlabel="step")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{RECIPE}: lr {knobs['lr']}, alpha {knobs['alpha']}, "
                 f"lambda {knobs['lambda']:g}, {knobs['epochs']} epochs, seed {knobs['seed']}",
                 fontsize=9)
    for ax in axes:
        ax.tick_params(which="both", labelsize=7)
        ax.title.set_fontsize(8)
        ax.xaxis.label.set_fontsize(7)
    fig.tight_layout()
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def machine():
    import keras
    import tensorflow as tf

    return {"platform": platform.platform(), "processor": platform.machine(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__}


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments: {' '.join(argv[1:])}")
    recipe, knobs = settings()
    png = FLAGS.png
    if png is None:
        png = "" if FLAGS.smoke else DEFAULT_PNG
    weights = initial_weights(recipe, knobs["seed"])
    results = {}
    for run in RUNS:
        results[run] = train_one(recipe, run, knobs, weights)
        print(f"{LABELS[run]}: {results[run]['steps']} steps in "
              f"{results[run]['seconds']:.1f} s, test accuracy "
              f"{results[run]['test_accuracy']:.4f}", flush=True)
    summaries = {run: summarize(result) for run, result in results.items()}
    command = " ".join(shlex.quote(a) for a in ["python"] + sys.argv)
    info = machine()
    first = results["fixnorm"]
    print(f"\n{RECIPE}: small_resnet on digits, batch {recipe.global_batch_size}, "
          f"{knobs['epochs']} epochs x {first['steps_per_epoch']} steps, {recipe.schedule} "
          f"schedule, lr {knobs['lr']}, FixNorm alpha {knobs['alpha']}, coupled L2 lambda "
          f"{knobs['lambda']:g}, seed {knobs['seed']}; ELR = lr / mean |w|^2 over "
          f"{first['invariant_kernels']} scale-invariant kernels (NormMonitor), recorded "
          f"before each sampled step (every {FLAGS.every})")
    print(table(summaries))
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    print(f"date: {datetime.date.today().isoformat()}")
    print(f"command: {command}")
    if png:
        plot(results, knobs, png)
        print(f"wrote {png} ({os.path.getsize(png) / 1024:.0f} kB)")
    if FLAGS.json:
        payload = {"command": command, "machine": info, "settings": knobs, "recipe": RECIPE,
                   "every": FLAGS.every, "summary": summaries,
                   "runs": results}
        directory = os.path.dirname(FLAGS.json)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(FLAGS.json, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=1)
        print(f"wrote {FLAGS.json}")


if __name__ == "__main__":
    app.run(main)
