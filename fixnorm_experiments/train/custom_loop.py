"""The custom training loop of multi-worker runs, with its own resume point.

Keras 3's `fit` fails under MultiWorkerMirroredStrategy
(keras-team/keras#20585); TensorFlow's documented custom loop does not.
"""

import tensorflow as tf


def custom_loop_fit(model, replica_loss, train_ds, plan, strategy, backup_dir,
                    chief_backup_dir=None):
    """Train ``model`` (compiled) for ``plan`` with `strategy.run`, resuming from a backup.

    Every worker saves a checkpoint after every loop (saving is collective):
    the chief into `backup_dir`, the others into their own directories. A
    restarted job resumes every worker from the chief's latest checkpoint
    (``chief_backup_dir``, where the workers share a file system): a worker
    killed between two saves may hold an older one of its own, and workers
    resuming from different loops would wait on each other forever.

    Args:
      replica_loss: ``f(x, y, y_pred)``, one replica's share of the global
        mean loss (`tasks.base.Task.replica_loss`).
      train_ds: the training set, repeating, batched at the global batch.
      plan: a `tasks.base.Plan`: loops of steps.

    Returns:
        (first loop run, list of per-loop mean training losses).
    """
    optimizer = model.optimizer
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch)
    manager = tf.train.CheckpointManager(checkpoint, backup_dir, max_to_keep=1)
    latest = (chief_backup_dir and tf.train.latest_checkpoint(chief_backup_dir)) \
        or manager.latest_checkpoint
    if latest:
        checkpoint.restore(latest)
    first = int(epoch.numpy())
    if first:
        done, total = plan.position(first)
        print(f"resuming from {plan.unit[:-1]} {done} of {total} (state in {backup_dir})",
              flush=True)
    distributed = strategy.experimental_distribute_dataset(train_ds)

    @tf.function
    def train_steps(iterator, steps):
        def step(x, y):
            with tf.GradientTape() as tape:
                loss = replica_loss(x, y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        total = tf.constant(0.0)
        for _ in tf.range(steps):
            total += strategy.reduce("SUM", strategy.run(step, args=next(iterator)), axis=None)
        return total / tf.cast(steps, tf.float32)

    losses = []
    iterator = iter(distributed)
    for _ in range(first, plan.loops):
        losses.append(float(train_steps(iterator, tf.constant(plan.steps_per_loop))))
        epoch.assign_add(1)
        manager.save()
        print(f"epoch {int(epoch.numpy())}/{plan.loops}: loss {losses[-1]:.4f}", flush=True)
    return first, losses
