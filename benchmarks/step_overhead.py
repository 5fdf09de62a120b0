"""Training-step time of FixNorm(SGD momentum) against bare SGD momentum.

    python benchmarks/step_overhead.py [--steps=5] [--rounds=20] [--jit_compile]
    KERAS_BACKEND=jax python benchmarks/step_overhead.py      (or torch)

On whichever Keras backend KERAS_BACKEND names (TensorFlow by default).

Two identical ResNet-style BatchNorm models (small_resnet, same initial
weights) are compiled, one with ``FixNorm(SGD(momentum=0.9))`` and one with
``SGD(momentum=0.9)``, and warmed up. Rounds of ``--steps`` training steps
then alternate between them in ABBA order (A B, B A, A B, ...) so slow drift
of the machine hits both alike. Each step is one ``train_on_batch`` call on
the same random batch (it returns numpy values, so the time includes the
device sync).

Reported: the median per-step time of each; the headline ratio FixNorm/bare,
taken as the median over rounds of (mean FixNorm step / mean bare step) in
the same round, which cancels drift and load from other processes between
rounds, with a bootstrap 95% interval over rounds; the plain ratio of the
two medians; the machine and the command; and a one-line verdict against the
target ratio.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys  # noqa: E402

# Run from a checkout without installing: put the repository root on the path.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import json  # noqa: E402
import resource  # noqa: E402
import shlex  # noqa: E402
import time  # noqa: E402

from absl import app, flags  # noqa: E402

from benchmarks.machine_info import machine  # noqa: E402

TARGET_RATIO = 1.03
BOOTSTRAP_RESAMPLES = 2000

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 5, "Training steps per round.", lower_bound=1)
flags.DEFINE_integer("rounds", 20, "Rounds per optimizer (ABBA-interleaved).", lower_bound=1)
flags.DEFINE_integer("warmup_steps", 3, "Untimed steps per model after compiling.", lower_bound=1)
flags.DEFINE_integer("batch_size", 128, "Examples per step.", lower_bound=1)
flags.DEFINE_integer("width", 32, "Channels of the first ResNet stage.", lower_bound=1)
flags.DEFINE_integer("image_size", 32, "Height and width of the random images.", lower_bound=4)
flags.DEFINE_enum("scope", "global", ["global", "per_kernel"], "FixNorm scope.")
flags.DEFINE_float("alpha", 4.0, "FixNorm classifier norm.")
flags.DEFINE_float("lr", 0.1, "Learning rate of both optimizers.")
flags.DEFINE_bool("jit_compile", False, "Compile both train steps with XLA.")
flags.DEFINE_integer("seed", 0, "Seed of weights and data.")
flags.DEFINE_string("json_out", None, "Write the results as JSON to this path.")
flags.register_validator("alpha", lambda v: v > 0, message="--alpha must be > 0")
flags.register_validator("lr", lambda v: v > 0, message="--lr must be > 0")

NUM_CLASSES = 10
BLOCKS = (2, 2, 2)


def build_pair():
    """Two compiled models with identical weights: (bare SGD, FixNorm)."""
    import keras

    import tf_fixnorm
    from fixnorm_experiments.models import small_resnet

    keras.utils.set_random_seed(FLAGS.seed)
    shape = (FLAGS.image_size, FLAGS.image_size, 3)
    bare = small_resnet(shape, NUM_CLASSES, width=FLAGS.width, blocks=BLOCKS, name="bare")
    fixed = small_resnet(shape, NUM_CLASSES, width=FLAGS.width, blocks=BLOCKS, name="fixnorm")
    fixed.set_weights(bare.get_weights())
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    bare.compile(optimizer=keras.optimizers.SGD(FLAGS.lr, momentum=0.9), loss=loss,
                 jit_compile=FLAGS.jit_compile)
    fixnorm = tf_fixnorm.FixNorm(keras.optimizers.SGD(FLAGS.lr, momentum=0.9), fixed,
                                 alpha=FLAGS.alpha, scope=FLAGS.scope)
    fixed.compile(optimizer=fixnorm, loss=loss, jit_compile=FLAGS.jit_compile)
    return bare, fixed


def random_batch():
    """One batch of random images and labels, as NumPy arrays (any backend)."""
    import numpy as np

    rng = np.random.default_rng(FLAGS.seed)
    x = rng.standard_normal((FLAGS.batch_size, FLAGS.image_size, FLAGS.image_size, 3))
    y = rng.integers(0, NUM_CLASSES, size=FLAGS.batch_size)
    return x.astype("float32"), y.astype("int32")


def timed_steps(model, x, y, steps):
    """Per-step wall times (seconds) of ``steps`` training steps."""
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return times


def bootstrap_median_interval(values, seed):
    """95% bootstrap interval of the median of ``values``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    values = np.asarray(values)
    medians = [np.median(rng.choice(values, values.size)) for _ in range(BOOTSTRAP_RESAMPLES)]
    low, high = np.percentile(medians, [2.5, 97.5])
    return float(low), float(high)


def summarize(times):
    import numpy as np

    q1, median, q3 = np.percentile(times, [25, 50, 75])
    return {"median_ms": 1e3 * median, "q1_ms": 1e3 * q1, "q3_ms": 1e3 * q3, "steps": len(times)}


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments: {' '.join(argv[1:])}")
    import numpy as np

    bare, fixed = build_pair()
    x, y = random_batch()
    for model in (bare, fixed):
        timed_steps(model, x, y, FLAGS.warmup_steps)

    times = {"bare": [], "fixnorm": []}
    round_ratios = []
    for round_index in range(FLAGS.rounds):
        order = ("bare", "fixnorm") if round_index % 2 == 0 else ("fixnorm", "bare")
        round_times = {}
        for name in order:
            round_times[name] = timed_steps(bare if name == "bare" else fixed, x, y, FLAGS.steps)
            times[name] += round_times[name]
        round_ratios.append(sum(round_times["fixnorm"]) / sum(round_times["bare"]))

    bare_stats, fix_stats = summarize(times["bare"]), summarize(times["fixnorm"])
    ratio = float(np.median(round_ratios))
    low, high = bootstrap_median_interval(round_ratios, FLAGS.seed)
    ratio_of_medians = fix_stats["median_ms"] / bare_stats["median_ms"]
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    results = {
        "command": " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv),
        "machine": machine(),
        "config": {"model": f"small_resnet(width={FLAGS.width}, blocks={BLOCKS})",
                   "input": [FLAGS.image_size, FLAGS.image_size, 3], "classes": NUM_CLASSES,
                   "batch_size": FLAGS.batch_size, "steps_per_round": FLAGS.steps,
                   "rounds": FLAGS.rounds, "scope": FLAGS.scope,
                   "jit_compile": FLAGS.jit_compile},
        "bare_sgd": bare_stats,
        "fixnorm_sgd": fix_stats,
        "ratio_fixnorm_over_bare": ratio,
        "ratio_95ci": [low, high],
        "ratio_definition": "median over rounds of mean(FixNorm step)/mean(bare step)",
        "ratio_of_medians": ratio_of_medians,
        "round_ratios": round_ratios,
        "target_ratio": TARGET_RATIO,
        "meets_target": bool(ratio <= TARGET_RATIO),
        "peak_rss_mib_process": peak_rss_mib,
        "all_step_ms": {k: [1e3 * t for t in v] for k, v in times.items()},
    }

    print(f"command: {results['command']}")
    print("machine: " + ", ".join(f"{k}={v}" for k, v in results["machine"].items()))
    print("config: " + ", ".join(f"{k}={v}" for k, v in results["config"].items()))
    for label, stats in (("bare SGD", bare_stats), ("FixNorm SGD", fix_stats)):
        print(f"{label:12s} median {stats['median_ms']:8.2f} ms/step "
              f"(IQR {stats['q1_ms']:.2f}-{stats['q3_ms']:.2f}, {stats['steps']} steps)")
    print(f"ratio FixNorm/bare: {ratio:.4f} (median of {len(round_ratios)} paired rounds, "
          f"bootstrap 95% CI {low:.4f}-{high:.4f}); ratio of medians {ratio_of_medians:.4f}")
    print(f"peak RSS of the process (both models): {peak_rss_mib:.0f} MiB")
    if FLAGS.json_out:
        directory = os.path.dirname(FLAGS.json_out)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(FLAGS.json_out, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
        print(f"wrote {FLAGS.json_out}")
    verdict = "MEETS" if results["meets_target"] else "MISSES"
    certainty = ("" if (high <= TARGET_RATIO or low > TARGET_RATIO)
                 else " (the 95% interval straddles the target)")
    print(f"verdict: {verdict} target ratio {TARGET_RATIO}: FixNorm/bare = {ratio:.4f}{certainty}")


if __name__ == "__main__":
    app.run(main)
