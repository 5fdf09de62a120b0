"""Train a small ResNet on scikit-learn's bundled digits with FixNorm.

    python -m fixnorm_experiments.cli.demo [--epochs=N] [--lr=...] [--alpha=...] [--scope=...]

Runs offline in well under a minute on two CPU cores. Prints the role table
(which kernels FixNorm holds and how), the test accuracy, and for each held
group its target norm next to the norm reached at the end of training.
"""

import sys

from absl import flags

from fixnorm_experiments.cli import common

FLAGS = flags.FLAGS  # parsed by absl in run_main
DEFINE = common.BinaryFlags()
DEFINE.integer("epochs", 20, "Training epochs.")
DEFINE.integer("batch_size", 64, "Examples per training step.")
DEFINE.float("lr", 0.2, "Peak learning rate of SGD (momentum 0.9), cosine-decayed to 0.")
DEFINE.float("alpha", 4.0, "Norm FixNorm holds the classifier kernel at.")
DEFINE.enum("scope", "global", ["global", "per_kernel"],
                  "Hold the scale-invariant kernels at one joint norm or one norm each.")
DEFINE.integer("seed", 0, "Seed of weights, data split and shuffling.")
DEFINE.integer("width", 16, "Channels of the first ResNet stage.")


def check_flags():
    """Return an error message for the first bad flag value, or None."""
    if FLAGS.epochs < 1:
        return f"--epochs must be >= 1, got {FLAGS.epochs}"
    if FLAGS.batch_size < 1:
        return f"--batch_size must be >= 1, got {FLAGS.batch_size}"
    if not FLAGS.lr > 0:
        return f"--lr must be > 0, got {FLAGS.lr}"
    if not FLAGS.alpha > 0:
        return f"--alpha must be > 0, got {FLAGS.alpha}"
    if FLAGS.seed < 0:
        return f"--seed must be >= 0, got {FLAGS.seed}"
    if FLAGS.width < 1:
        return f"--width must be >= 1, got {FLAGS.width}"
    return None


def held_norms(optimizer):
    """``{group: (target, achieved)}`` for every group FixNorm holds."""
    import numpy as np

    report = optimizer.norm_report()
    targets = optimizer.targets()
    return {group: (float(np.asarray(targets[group])), float(np.asarray(report[group])))
            for group in report if group in targets}


def train_and_report():
    """Build, train and evaluate; print roles, accuracy and held norms."""
    import keras

    import tf_fixnorm
    from fixnorm_experiments.data import as_dataset, load_digits
    from fixnorm_experiments.models import small_resnet

    keras.utils.set_random_seed(FLAGS.seed)
    (x_train, y_train), (x_test, y_test) = load_digits(seed=FLAGS.seed)
    train_ds = as_dataset(x_train, y_train, FLAGS.batch_size, shuffle=True, seed=FLAGS.seed)
    test_ds = as_dataset(x_test, y_test, 256)
    steps_per_epoch = -(-len(x_train) // FLAGS.batch_size)

    model = small_resnet(x_train.shape[1:], num_classes=10, width=FLAGS.width)
    schedule = keras.optimizers.schedules.CosineDecay(
        FLAGS.lr, decay_steps=FLAGS.epochs * steps_per_epoch)
    optimizer = tf_fixnorm.FixNorm(keras.optimizers.SGD(schedule, momentum=0.9), model,
                                   alpha=FLAGS.alpha, scope=FLAGS.scope)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    # train_ds shuffles itself (seeded); shuffle=False keeps Keras from warning.
    model.fit(train_ds, epochs=FLAGS.epochs, callbacks=[tf_fixnorm.NormMonitor()],
              shuffle=False, verbose=2)

    print(tf_fixnorm.analyze(model))
    _, accuracy = model.evaluate(test_ds, verbose=0)
    print(f"test accuracy: {accuracy:.4f} ({len(x_test)} images)")
    print(f"held norms (scope={FLAGS.scope}, alpha={FLAGS.alpha:g}):")
    for group, (target, achieved) in held_norms(optimizer).items():
        print(f"  {group}: target {target:.4f} achieved {achieved:.4f}")
    return accuracy


def main(argv):
    common.no_extra_arguments(argv)
    problem = check_flags()
    if problem:
        common.fail(problem)
    train_and_report()


def run():
    common.run_main(main, sys.modules[__name__], DEFINE)


if __name__ == "__main__":
    run()
