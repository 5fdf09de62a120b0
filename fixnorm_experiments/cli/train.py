r"""Train one recipe of the FixNorm paper, FixNorm or reference flavour.

    fixnorm-train --list
    fixnorm-train --recipe=digits_small_resnet --model_dir=runs/digits
    fixnorm-train --recipe=resnet50_d_120 --flavour=reference --strategy=mirrored \
        --data_dir=... --model_dir=runs/r50d_ref
    fixnorm-train --recipe=cityscapes_deeplab_v3_40k --data_dir=$TFDS_DIR --model_dir=runs/seg
    fixnorm-train --flagfile=my_run.flags

Classification recipes train for --epochs, segmentation and detection
recipes for --iterations, checkpointed every --steps_per_loop. A run writes
under --model_dir: backup/ (a killed run restarted with the same flags
resumes from its last finished epoch or loop), checkpoints/, logs/
(TensorBoard) and, at the end, metrics.json with the recipe's metric (top-1,
mIoU or COCO AP). Bad input stops the run with one `error:` line and a
non-zero exit, before anything in --model_dir is touched.
"""

import os
import sys

from absl import flags

from fixnorm_experiments import config, recipes, tasks
from fixnorm_experiments.cli import common
from fixnorm_experiments.config import UsageError

FLAGS = flags.FLAGS  # parsed by absl in run_main
DEFINE = common.BinaryFlags()
DEFINE.bool("list", False, "List every recipe (classification, segmentation, "
                  "detection) and exit.")
DEFINE.string("recipe", None, "Recipe name (see --list).")
DEFINE.enum("flavour", "fixnorm", list(recipes.FLAVOURS),
                  "fixnorm: the paper's lr and alpha; reference: its lr and coupled L2 lambda.")
DEFINE.string("model_dir", None, "Where checkpoints, logs and metrics.json go.")
DEFINE.string("data_dir", None, "Dataset directory (not needed for embedded datasets).")
DEFINE.enum("data_format", None, ["tfrecord", "tfds", "folder"],
                  "How --data_dir holds the data: ImageNet TFRecords (train-*-of-*, "
                  "validation-*-of-*; the classification default), a local TFDS directory "
                  "(segmentation and detection read only this), or train/ and validation/ "
                  "image-folder trees.")
DEFINE.string("tfds_name", None, "TFDS dataset name under --data_dir (default: the "
                    "recipe's; classification: none, --data_dir is the builder directory; "
                    "segmentation/detection: empty means --data_dir is the builder directory).")
DEFINE.enum("strategy", "default", ["default", "one_device", "mirrored", "multi_worker",
                                          "tpu"],
                  "tf.distribute strategy; multi_worker reads TF_CONFIG.")
DEFINE.integer("logical_cpus", 0,
                     "Split the CPU into this many logical devices (to try mirrored on a CPU).")
DEFINE.integer("epochs", None, "Classification: override the recipe's epochs.")
DEFINE.integer("steps_per_epoch", None, "Classification: cap the steps per epoch "
                     "(smoke runs).")
DEFINE.integer("iterations", None, "Segmentation/detection: override the recipe's "
                     "training iterations.")
DEFINE.integer("steps_per_loop", None, "Segmentation/detection: iterations between "
                     "checkpoints (resume points); default 1000.")
DEFINE.integer("global_batch_size", None, "Override the recipe's global batch.")
DEFINE.list("image_size", None, "Override the recipe's image size: N for "
                  "classification (embedded data is average-pooled to N, a whole "
                  "fraction of its size), H,W for segmentation and detection.")
DEFINE.float("lr", None, "Override the flavour's peak learning rate.")
DEFINE.float("alpha", None, "Override the fixnorm flavour's classifier norm.")
DEFINE.float("weight_decay", None, "Override the reference flavour's coupled L2 lambda.")
DEFINE.enum("scope", "global", ["global", "per_kernel"], "FixNorm scope.")
DEFINE.integer("eval_batches", None, "Score on this many evaluation batches only.")
DEFINE.string("backbone_weights", None, "Segmentation/detection: a .weights.h5 file for "
                    "the ResNet-50 inside the model (ImageNet weights, as in the paper); "
                    "default: random weights.")
DEFINE.bool("sync_batch_norm", None, "BatchNorm statistics over all replicas (default: "
                  "the recipe's, on for Cityscapes as in mmseg; off under multi_worker).")
DEFINE.integer("seed", 0, "Seed of weights, data order and augmentation.")
DEFINE.integer("verbose", 1, "Keras fit verbosity: 1 progress bar, 2 one line per "
                     "epoch or loop.")


def make_config(values):
    """A `config.TrainConfig` from parsed flags; a UsageError on the first bad one."""
    if values.recipe is None:
        raise UsageError("--recipe is required (fixnorm-train --list shows them)")
    recipe = recipes.get(values.recipe)
    spec = tasks.spec(recipe.task)
    config.check_new_model_dir(values.model_dir)
    for name in ("lr", "alpha", "weight_decay"):
        config.check_positive(name, getattr(values, name))
    for name in ("epochs", "steps_per_epoch", "iterations", "steps_per_loop",
                 "global_batch_size", "eval_batches", "logical_cpus"):
        config.check_count(name, getattr(values, name), 0 if name == "logical_cpus" else 1)
    config.check_unit(recipe, spec, {name: getattr(values, name) for name in
                                     ("epochs", "steps_per_epoch", "iterations",
                                      "steps_per_loop")})
    config.check_data_format(recipe, spec, values.data_format)
    recipe = config.with_image_size(recipe, spec, values.image_size)
    if values.backbone_weights and not spec.pretrained_backbone:
        raise UsageError(f"--backbone_weights applies to recipes with a pretrained backbone "
                         f"(segmentation, detection); {recipe.name} has none")
    if values.backbone_weights and not os.path.isfile(values.backbone_weights):
        raise UsageError(f"--backbone_weights {values.backbone_weights} is not a file")
    config.check_sync_batch_norm(values.sync_batch_norm, values.strategy)
    settings = recipe.settings(values.flavour)
    fixnorm = values.flavour == "fixnorm"
    return config.TrainConfig(
        recipe=recipe, flavour=values.flavour, model_dir=values.model_dir,
        lr=values.lr or settings.lr,
        alpha=(values.alpha or settings.alpha) if fixnorm else None,
        weight_decay=None if fixnorm else (values.weight_decay or settings.weight_decay),
        global_batch_size=values.global_batch_size or recipe.global_batch_size,
        data=config.DataSource(values.data_dir, values.data_format, values.tfds_name),
        strategy=values.strategy, logical_cpus=values.logical_cpus,
        length=values.epochs or values.iterations,
        steps_per_loop=values.steps_per_epoch or values.steps_per_loop,
        scope=values.scope, seed=values.seed, verbose=values.verbose,
        eval_batches=values.eval_batches, backbone_weights=values.backbone_weights,
        sync_batch_norm=values.sync_batch_norm)


def main(argv):
    common.no_extra_arguments(argv)
    if FLAGS.list:
        print(recipes.listing())
        return
    try:
        run_config = make_config(FLAGS)
        from fixnorm_experiments.run import train

        train(run_config)
    except (ValueError, ImportError) as error:  # UsageError, the tasks' checks, no keras-hub
        common.fail(error)


def run():
    """Console-script entry point (`fixnorm-train`)."""
    common.run_main(main, sys.modules[__name__], DEFINE)


if __name__ == "__main__":
    run()
