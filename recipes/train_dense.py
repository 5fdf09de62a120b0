r"""Train one segmentation or detection recipe (the seed's Tables 3 and 4).

    python -m recipes.train_dense --list
    python -m recipes.train_dense --recipe=cityscapes_deeplab_v3_40k --flavour=fixnorm \
        --data_dir=$TFDS_DIR --model_dir=/tmp/seg
    python -m recipes.train_dense --recipe=coco_retinanet_90k --flavour=reference \
        --data_dir=$TFDS_DIR --model_dir=/tmp/det --strategy=mirrored

Data: TFDS ``cityscapes/semantic_segmentation`` or ``coco/2017`` already built
under --data_dir (nothing is downloaded). Training runs in "loops" of
--steps_per_loop iterations: a checkpoint and a resume point after each, so a
killed run started again with the same flags goes on from the last loop.
At the end the recipe's metric (mIoU or COCO AP, %) is computed on the
validation split and written with everything else to metrics.json.
Needs keras-hub: pip install 'tf_fixnorm[dense]'.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys  # noqa: E402

from absl import app, flags  # noqa: E402

from recipes import run_flags  # noqa: E402
from recipes.run_flags import UsageError  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_bool("list", False, "List the segmentation and detection recipes and exit.")
flags.DEFINE_string("recipe", None, "Recipe name (see --list).")
flags.DEFINE_enum("flavour", "fixnorm", ["fixnorm", "reference"],
                  "fixnorm: FixNorm-tune's lr and alpha; reference: the weight-decay baseline.")
flags.DEFINE_string("data_dir", None, "TFDS root holding the recipe's dataset.")
flags.DEFINE_string("tfds_name", None, "Dataset name under --data_dir (default: the "
                    "recipe's; empty: --data_dir is the builder directory itself).")
flags.DEFINE_string("model_dir", None, "Where checkpoints, logs and metrics.json go.")
flags.DEFINE_enum("strategy", "default",
                  ["default", "one_device", "mirrored", "multi_worker", "tpu"],
                  "tf.distribute strategy (multi_worker reads TF_CONFIG).")
flags.DEFINE_integer("iterations", None, "Override the recipe's training iterations.")
flags.DEFINE_integer("steps_per_loop", 1000, "Iterations between checkpoints (resume points).")
flags.DEFINE_integer("global_batch_size", None, "Override the recipe's global batch.")
flags.DEFINE_list("image_size", None, "Override the training crop / image size: H,W.")
flags.DEFINE_float("lr", None, "Override the flavour's peak learning rate.")
flags.DEFINE_float("alpha", None, "Override the fixnorm flavour's classifier norm.")
flags.DEFINE_float("weight_decay", None, "Override the reference flavour's coupled L2 lambda.")
flags.DEFINE_integer("eval_batches", None, "Score on this many validation batches only.")
flags.DEFINE_string("backbone_weights", None, "A .weights.h5 file for the ResNet-50 inside the "
                    "model (ImageNet weights, as in the paper); default: random weights.")
flags.DEFINE_bool("sync_batch_norm", None, "BatchNorm statistics over all replicas (default: "
                  "the recipe's, on for Cityscapes as in mmseg; off under multi_worker).")
flags.DEFINE_integer("seed", 0, "Seed of weights, data order and augmentation.")
flags.DEFINE_integer("verbose", 1, "Keras fit verbosity: 1 progress bar, 2 one line per loop.")


# Measured with TF 2.21 on two CPU workers: with synchronized BN in the
# custom loop both workers train identically, then one never returns from
# the loop (it hangs in TensorFlow after its last step) while the other exits.
MULTI_WORKER_SYNC_BN = ("--sync_batch_norm is not supported with --strategy=multi_worker (a "
                        "worker hangs after training with TF 2.21): use --strategy=mirrored on "
                        "one machine, or --sync_batch_norm=false")


def check_flags():
    from tf_fixnorm import recipes

    run_flags.check_run(FLAGS, "recipes.train_dense", positive=("lr", "alpha", "weight_decay"),
                        counts=("iterations", "steps_per_loop", "global_batch_size",
                                "eval_batches"))
    recipe = recipes.get(FLAGS.recipe)
    if not isinstance(recipe, recipes.DenseRecipe):
        raise UsageError(f"{recipe.name} is a classification recipe: run it with "
                         "python -m recipes.train")
    size = None
    if FLAGS.image_size:
        from tf_fixnorm.dense_experiment import parse_image_size

        size = parse_image_size(FLAGS.image_size)
    if FLAGS.backbone_weights and not os.path.isfile(FLAGS.backbone_weights):
        raise UsageError(f"--backbone_weights {FLAGS.backbone_weights} is not a file")
    if FLAGS.sync_batch_norm and FLAGS.strategy == "multi_worker":
        raise UsageError(MULTI_WORKER_SYNC_BN)
    return recipe, recipe.settings(FLAGS.flavour), size


def train(recipe, settings, size):
    import keras
    import tensorflow as tf

    from tf_fixnorm import dense_experiment as experiment
    from tf_fixnorm import training
    from tf_fixnorm.callbacks import find_fixnorm
    from tf_fixnorm.jsonio import write_json_atomically

    strategy = training.make_strategy(FLAGS.strategy)
    global_batch = FLAGS.global_batch_size or recipe.global_batch_size
    training.check_global_batch(global_batch, strategy)
    model_dir = training.worker_model_dir(FLAGS.model_dir)
    keras.utils.set_random_seed(FLAGS.seed)
    iterations = FLAGS.iterations or recipe.iterations
    loop = min(FLAGS.steps_per_loop, iterations)
    if iterations % loop:
        raise UsageError(f"--iterations ({iterations}) must be a multiple of --steps_per_loop "
                         f"({loop}): every loop ends with a checkpoint")
    data = experiment.load_data(recipe, global_batch, seed=FLAGS.seed, data_dir=FLAGS.data_dir,
                                tfds_name=FLAGS.tfds_name, image_size_override=size)
    lr = FLAGS.lr or settings.lr
    sync_batch_norm = FLAGS.sync_batch_norm
    if sync_batch_norm is None:  # the recipe's, except under multi_worker
        sync_batch_norm = recipe.sync_batch_norm and FLAGS.strategy != "multi_worker"
        if recipe.sync_batch_norm and not sync_batch_norm:
            print("note: BatchNorm statistics stay per worker: synchronized BN hangs a worker "
                  "under --strategy=multi_worker (TF 2.21)", flush=True)
    with strategy.scope():
        model = experiment.build_model(recipe, size, sync_batch_norm=sync_batch_norm)
        if FLAGS.backbone_weights:  # a resumed run then restores its own state over them
            experiment.load_backbone_weights(model, FLAGS.backbone_weights)
        schedule = training.iteration_schedule(lr, iterations, recipe.warmup_iterations,
                                               recipe.schedule)
        fixnorm = FLAGS.flavour == "fixnorm"
        optimizer = training.make_optimizer(
            FLAGS.flavour, model, schedule,
            alpha=(FLAGS.alpha or settings.alpha) if fixnorm else None,
            weight_decay=None if fixnorm else (FLAGS.weight_decay or settings.weight_decay),
            **({"classifier_outputs": experiment.classifier_outputs(recipe)} if fixnorm else {}))
        experiment.compile_model(model, recipe, optimizer)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # Keras 3's fit fails under this strategy (keras-team/keras#20585).
        # Shard by example: TFDS splits can have fewer files than workers.
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = \
            tf.data.experimental.AutoShardPolicy.DATA
        start, losses = training.custom_loop_fit(
            model, None, data.train.with_options(options), iterations // loop, loop,
            global_batch, strategy,
            os.path.join(model_dir, "backup"),
            replica_loss=experiment.replica_loss(model, recipe))
        history = keras.callbacks.History()
        history.history = {"loss": losses}
    else:
        start = training.resumed_epoch(model_dir)
        if start:
            print(f"resuming from iteration {start * loop} of {iterations} "
                  f"(state in {model_dir}/backup)")
        history = model.fit(data.train, epochs=iterations // loop, steps_per_epoch=loop,
                            validation_data=data.evaluation, verbose=FLAGS.verbose,
                            callbacks=training.make_callbacks(model_dir))
    # Every worker holds the same weights and scores the whole validation set.
    scored = experiment.score(model, recipe, data, FLAGS.eval_batches)
    found = find_fixnorm(model.optimizer)
    metrics = {
        "recipe": recipe.name, "task": recipe.task, "flavour": FLAGS.flavour,
        "iterations": iterations, "steps_per_loop": loop, "resumed_from_iteration": start * loop,
        "global_batch_size": global_batch, "replicas": strategy.num_replicas_in_sync,
        "sync_batch_norm": sync_batch_norm,
        "lr": lr, "schedule": recipe.schedule,
        "alpha": getattr(found, "alpha", None),
        "weight_decay": getattr(model.optimizer, "l2", None),
        "metric_name": recipe.metric, "metric": scored.pop("metric"),
        "paper": recipe.paper_fixnorm if fixnorm else recipe.paper_reference,
        "evaluation": scored,
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
        "held_norms": {"targets": found.targets(), "achieved": found.norm_report()}
        if found else None,
        "weights_sha256": training.weights_digest(model),
    }
    write_json_atomically(os.path.join(model_dir, "metrics.json"), metrics, indent=2,
                          sort_keys=True)
    print(f"{recipe.metric} {metrics['metric']:.2f} (paper: {metrics['paper']:.1f}); "
          f"metrics in {model_dir}/metrics.json")
    return metrics


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments: {' '.join(argv[1:])}")
    from tf_fixnorm import recipes

    if FLAGS.list:
        print(recipes.dense_listing())
        return
    try:
        recipe, settings, size = check_flags()
        train(recipe, settings, size)
    except (ValueError, ImportError) as error:  # UsageError, the library's checks, no keras-hub
        sys.exit("error: " + " ".join(str(error).split()))


if __name__ == "__main__":
    app.run(main)
