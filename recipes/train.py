"""Train one of the paper's recipes, FixNorm or reference flavour.

    python -m recipes.train --recipe=resnet50_d_120 --data_dir=... --model_dir=...
    python -m recipes.train --list
    python -m recipes.train --flagfile=my_run.flags

A run writes under --model_dir: `backup/` (so a killed run restarted with the
same --model_dir resumes from its last finished epoch), `checkpoints/` (one
per epoch), `logs/` (TensorBoard) and, at the end, `metrics.json`. Bad input
stops the run with one `error:` line and a non-zero exit, before anything in
--model_dir is touched.

--strategy=multi_worker reads TF_CONFIG and trains with a custom loop
(`tf_fixnorm.training.custom_loop_fit`), because Keras 3's `fit` fails under
MultiWorkerMirroredStrategy (keras-team/keras#20585): it resumes from
`backup/` too, but writes no per-epoch checkpoints or TensorBoard logs; each
non-chief worker writes under --model_dir/worker_<index>.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import dataclasses  # noqa: E402
import sys  # noqa: E402

from absl import app, flags  # noqa: E402

from recipes import run_flags  # noqa: E402
from recipes.run_flags import UsageError  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_bool("list", False, "List every recipe and exit.")
flags.DEFINE_string("recipe", None, "Recipe name (see --list).")
flags.DEFINE_enum("flavour", "fixnorm", ["fixnorm", "reference"],
                  "fixnorm: the paper's lr and alpha; reference: its lr and coupled L2 lambda.")
flags.DEFINE_string("data_dir", None, "Dataset directory (not needed for embedded datasets).")
flags.DEFINE_string("model_dir", None, "Where checkpoints, logs and metrics.json go.")
flags.DEFINE_enum("strategy", "default",
                  ["default", "one_device", "mirrored", "multi_worker", "tpu"],
                  "tf.distribute strategy; multi_worker reads TF_CONFIG.")
flags.DEFINE_enum("data_format", "tfrecord", ["tfrecord", "tfds", "folder"],
                  "How --data_dir holds an ImageNet-style dataset: TFRecords (train-*-of-*, "
                  "validation-*-of-*), a local TFDS directory, or train/ and validation/ "
                  "image-folder trees.")
flags.DEFINE_string("tfds_name", None, "TFDS dataset name under --data_dir (data_format=tfds); "
                    "without it --data_dir is the prepared builder directory itself.")
flags.DEFINE_integer("image_size", None, "Override the recipe's image size.")
flags.DEFINE_integer("epochs", None, "Override the recipe's epochs.")
flags.DEFINE_integer("global_batch_size", None, "Override the recipe's global batch.")
flags.DEFINE_float("lr", None, "Override the flavour's peak learning rate.")
flags.DEFINE_float("alpha", None, "Override the fixnorm flavour's classifier norm.")
flags.DEFINE_float("weight_decay", None, "Override the reference flavour's coupled L2 lambda.")
flags.DEFINE_enum("scope", "global", ["global", "per_kernel"], "FixNorm scope.")
flags.DEFINE_integer("steps_per_epoch", None, "Cap the steps per epoch (smoke runs).")
flags.DEFINE_integer("seed", 0, "Seed of weights, data order and augmentation.")
flags.DEFINE_integer("logical_cpus", 0,
                     "Split the CPU into this many logical devices (to try mirrored on a CPU).")
flags.DEFINE_integer("verbose", 1, "Keras fit verbosity: 1 progress bar, 2 one line per epoch.")


def check_flags():
    from tf_fixnorm import recipes

    run_flags.check_run(FLAGS, "recipes.train", positive=("lr", "alpha", "weight_decay"),
                        counts=("epochs", "global_batch_size", "steps_per_epoch"))
    recipe = recipes.get(FLAGS.recipe)
    if isinstance(recipe, recipes.DenseRecipe):
        raise UsageError(f"{recipe.name} is a {recipe.task} recipe: run it with "
                         "python -m recipes.train_dense")
    return recipe, recipe.settings(FLAGS.flavour)


def load_data(recipe, global_batch_size):
    """(train, eval, number of classes), batched at the global batch size."""
    from tf_fixnorm import experiment

    data = experiment.load_data(recipe, global_batch_size, seed=FLAGS.seed,
                                data_dir=FLAGS.data_dir, data_format=FLAGS.data_format,
                                tfds_name=FLAGS.tfds_name, image_size=FLAGS.image_size)
    return data.train, data.evaluation, data.num_classes


def train(recipe, settings):
    import keras
    import tensorflow as tf

    from tf_fixnorm import experiment, training
    from tf_fixnorm.jsonio import write_json_atomically
    from tf_fixnorm.callbacks import find_fixnorm

    if FLAGS.logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * FLAGS.logical_cpus)
    strategy = training.make_strategy(FLAGS.strategy)
    global_batch = FLAGS.global_batch_size or recipe.global_batch_size
    training.check_global_batch(global_batch, strategy)
    model_dir = training.worker_model_dir(FLAGS.model_dir)
    keras.utils.set_random_seed(FLAGS.seed)

    train_ds, eval_ds, num_classes = load_data(recipe, global_batch)
    recipe = dataclasses.replace(recipe, num_classes=num_classes,
                                 image_size=FLAGS.image_size or recipe.image_size)
    steps = experiment.steps_per_epoch(recipe, train_ds, global_batch, FLAGS.steps_per_epoch)
    epochs = FLAGS.epochs or recipe.epochs
    train_ds = train_ds.repeat()  # every epoch is exactly `steps` batches
    lr = FLAGS.lr or settings.lr
    with strategy.scope():
        model = experiment.build_model(recipe)
        schedule = training.lr_schedule(lr, steps, epochs, recipe.warmup_epochs, recipe.schedule)
        optimizer = training.make_optimizer(
            FLAGS.flavour, model, schedule,
            alpha=(FLAGS.alpha or settings.alpha) if FLAGS.flavour == "fixnorm" else None,
            weight_decay=(FLAGS.weight_decay or settings.weight_decay)
            if FLAGS.flavour == "reference" else None,
            scope=FLAGS.scope)
        model.compile(optimizer=optimizer, loss=experiment.make_loss(recipe), metrics=["accuracy"])
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # Keras 3's fit fails under this strategy (keras-team/keras#20585).
        loss_fn = experiment.make_loss(recipe, reduction=None)
        start, losses = training.custom_loop_fit(
            model, loss_fn, train_ds, epochs, steps, global_batch, strategy,
            os.path.join(model_dir, "backup"))
        history = keras.callbacks.History()
        history.history = {"loss": losses}
        loss, accuracy = training.evaluate_locally(model, eval_ds,
                                                   experiment.make_loss(recipe, reduction="sum"))
    else:
        start = training.resumed_epoch(model_dir)
        if start:
            print(f"resuming from epoch {start} of {epochs} (state in {model_dir}/backup)")
        history = model.fit(train_ds, epochs=epochs, steps_per_epoch=steps,
                            validation_data=eval_ds, verbose=FLAGS.verbose,
                            callbacks=training.make_callbacks(model_dir))
        loss, accuracy = model.evaluate(eval_ds, verbose=0)
    fixnorm = find_fixnorm(model.optimizer)
    metrics = {
        "recipe": recipe.name, "flavour": FLAGS.flavour, "epochs": epochs,
        "resumed_from_epoch": start, "global_batch_size": global_batch,
        "replicas": strategy.num_replicas_in_sync, "lr": lr,
        "alpha": getattr(fixnorm, "alpha", None),
        "weight_decay": getattr(model.optimizer, "l2", None),
        "eval_accuracy": float(accuracy), "eval_loss": float(loss),
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
        "held_norms": {"targets": fixnorm.targets(), "achieved": fixnorm.norm_report()}
        if fixnorm else None,
        "weights_sha256": training.weights_digest(model),
    }
    write_json_atomically(os.path.join(model_dir, "metrics.json"), metrics, indent=2,
                          sort_keys=True)
    print(f"eval accuracy {accuracy:.4f}, loss {loss:.4f}; metrics in {model_dir}/metrics.json")
    return metrics


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments: {' '.join(argv[1:])}")
    from tf_fixnorm import recipes

    if FLAGS.list:
        print(recipes.listing())
        print(f"\n{len(recipes.DENSE_RECIPES)} segmentation and detection recipes: "
              "python -m recipes.train_dense --list")
        return
    try:
        recipe, settings = check_flags()
        train(recipe, settings)
    except ValueError as error:  # UsageError and the library's own checks
        sys.exit("error: " + " ".join(str(error).split()))


if __name__ == "__main__":
    app.run(main)
