"""What a GPU run of each segmentation and detection recipe would need, estimated.

    python benchmarks/dense_cost.py [--recipes=a,b] [--gpus=8] [--json=FILE]

The companion of `recipe_cost.py` for the segmentation and detection recipes.
keras-hub builds RetinaNet's FPN and heads as custom layers, which
`recipe_cost.count_macs` cannot look inside (it walks the functional graph
and lists them as uncounted). Here the forward pass is traced instead, and
TensorFlow's graph profiler counts the floating-point operations of every op
in it, custom layers included; MACs = FLOPs / 2. Elementwise ops add a little
(on ResNet-50 the two counts differ by 0.5%; ``--crosscheck`` prints it).

Per recipe it prints parameters, forward MACs per image at the recipe's
training size (the functional walk's where it sees every layer, else the
traced count), both counts, and the training
time: 3 passes x 2 FLOPs per MAC x images (iterations x global batch) at
``--utilization`` of ``--gpus`` x ``--peak_tflops``, with recipe_cost's
default utilization (calibrated on ResNet-50 classification; dense heads at
large images usually do worse: per-image augmentation of large images, the
loss and NMS are not in the count, so read the hours as a lower bound).
Memory is not estimated: the activation count recipe_cost uses has the same
blind spot. Nothing here is a GPU measurement.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys  # noqa: E402

# Run from a checkout without installing: put the repository root on the path.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import datetime  # noqa: E402
import shlex  # noqa: E402

from absl import app, flags  # noqa: E402

from benchmarks.recipe_cost import (CALIBRATION_SOURCE, DEFAULT_UTILIZATION,  # noqa: E402
                                    FLOPS_PER_MAC, count_macs, train_flops_per_example)

FLAGS = flags.FLAGS


def define_flags():
    """The script's flags; defined only when it runs (tests import its functions)."""
    flags.DEFINE_list("recipes", [], "Recipes to estimate (default: every dense recipe).")
    flags.DEFINE_integer("gpus", 8, "GPUs the global batch is split over.")
    flags.DEFINE_float("peak_tflops", 312.0,
                       "Peak TFLOP/s per GPU (312: A100 dense fp16/bf16 tensor cores).")
    flags.DEFINE_float("utilization", DEFAULT_UTILIZATION["dense"], "Assumed fraction of peak.")
    flags.DEFINE_list("image_size", None, "Override every recipe's size, H,W (tests).")
    flags.DEFINE_bool("crosscheck", True, "Also count keras.applications' ResNet50 both ways.")
    flags.DEFINE_string("json", None, "Write the rows and the command as JSON here.")


def forward_macs(model, image_shape):
    """Forward multiply-adds per image, from the profiler's FLOPs of the traced graph."""
    import tensorflow as tf

    function = tf.function(lambda x: model(x, training=False))
    graph = function.get_concrete_function(
        tf.TensorSpec((1, *image_shape), tf.float32)).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=graph, options=options)
    return profile.total_float_ops / FLOPS_PER_MAC


def training_hours(macs, images, gpus, peak_tflops, utilization):
    """Wall-clock hours to train on ``images`` images with ``gpus`` GPUs."""
    flops = train_flops_per_example(macs) * images
    return flops / (gpus * peak_tflops * 1e12 * utilization) / 3600.0


def estimate(recipe, image_size=None):
    """One recipe's row (everything but the GPU time)."""
    import dataclasses

    from fixnorm_experiments import tasks

    if image_size:
        recipe = dataclasses.replace(recipe, image_size=image_size)
    task = tasks.make(recipe)
    size = task.image_size
    model = task.build_model()
    walked, _, uncounted = count_macs(model)
    traced = forward_macs(model, (*size, 3))
    # Where the walk sees every layer it is exact; the traced graph also
    # counts TensorFlow's space-to-batch padding around dilated convs
    # (DeepLabV3's ASPP), work a GPU's native dilated conv does not do.
    return {"recipe": recipe.name, "model": recipe.model, "backbone": recipe.backbone,
            "image_size": list(size), "global_batch_size": recipe.global_batch_size,
            "iterations": recipe.iterations, "params": model.count_params(),
            "macs": traced if uncounted else walked, "traced_macs": traced,
            "walked_macs": walked, "uncounted_layers": uncounted,
            "images": recipe.iterations * recipe.global_batch_size}


def add_time(row, gpus, peak_tflops, utilization):
    hours = training_hours(row["macs"], row["images"], gpus, peak_tflops, utilization)
    return dict(row, hours=hours, gpu_hours=hours * gpus)


def format_table(rows, gpus):
    from fixnorm_text import format_table as text_table

    header = ("recipe", "model", "size", "batch", "iterations", "params",
              "GMACs/img", "traced", "walked", f"h on {gpus} GPUs", "GPU-hours")
    lines = [(
        r["recipe"], f"{r['model']} ({r['backbone']})", "x".join(map(str, r["image_size"])),
        str(r["global_batch_size"]), f"{r['iterations']:,}", f"{r['params'] / 1e6:.2f}M",
        f"{r['macs'] / 1e9:.1f}", f"{r['traced_macs'] / 1e9:.1f}",
        f"{r['walked_macs'] / 1e9:.1f} (misses {', '.join(r['uncounted_layers']) or '-'})",
        f"{r['hours']:.2f}", f"{r['gpu_hours']:.1f}") for r in rows]
    return text_table(header, lines)


def crosscheck():
    """keras.applications ResNet50 at 224: (profiler MACs, functional walk MACs)."""
    import keras

    model = keras.applications.ResNet50(weights=None)
    return forward_macs(model, (224, 224, 3)), count_macs(model)[0]


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.gpus < 1 or not FLAGS.peak_tflops > 0 or not 0 < FLAGS.utilization <= 1:
        sys.exit("error: --gpus must be >= 1, --peak_tflops > 0 and --utilization in (0, 1]")
    from fixnorm_experiments import config, recipes

    try:
        chosen = ([recipes.get(name) for name in FLAGS.recipes]
                  or recipes.of_task("segmentation", "detection"))
        for r in chosen:
            if r.task == "classification":
                raise ValueError(f"{r.name} is a classification recipe: "
                                 "benchmarks/recipe_cost.py estimates those")
        size = config.parse_image_size(FLAGS.image_size, 2) if FLAGS.image_size else None
    except (ValueError, ImportError) as error:
        sys.exit("error: " + " ".join(str(error).split()))
    # The schedules differ, not the models: measure each (model, size) once.
    measured = {}
    rows = []
    for recipe in chosen:
        key = (recipe.model, recipe.backbone, recipe.num_classes,
               tuple(size or recipe.image_size))
        if key not in measured:
            measured[key] = estimate(recipe, size)
        row = dict(measured[key], recipe=recipe.name, iterations=recipe.iterations,
                   images=recipe.iterations * recipe.global_batch_size)
        rows.append(add_time(row, FLAGS.gpus, FLAGS.peak_tflops, FLAGS.utilization))
    print(format_table(rows, FLAGS.gpus))
    print(f"\nassumptions: training = 3 x forward, 2 FLOPs per MAC; {FLAGS.gpus} GPUs at "
          f"{FLAGS.peak_tflops:g} TFLOP/s x utilization {FLAGS.utilization:g} "
          f"(recipe_cost's default, from {CALIBRATION_SOURCE}); data loading, NMS and "
          "evaluation not counted; memory not estimated")
    summary = {"rows": rows, "command": " ".join(shlex.quote(a) for a in sys.argv),
               "date": datetime.date.today().isoformat()}
    if FLAGS.crosscheck:
        profiled, walked = crosscheck()
        print(f"crosscheck: keras.applications ResNet50 at 224: profiler {profiled / 1e9:.3f} "
              f"GMACs, functional walk {walked / 1e9:.3f} GMACs (ratio "
              f"{profiled / walked:.4f})")
        summary["crosscheck"] = {"profiler_macs": profiled, "walked_macs": walked}
    print(f"date: {summary['date']}")
    if FLAGS.json:
        from tf_fixnorm.jsonio import write_json_atomically

        write_json_atomically(FLAGS.json, summary, indent=1)
        print(f"wrote {FLAGS.json}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
