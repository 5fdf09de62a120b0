"""The custom training loop of multi-worker runs, with its own resume point.

Keras 3's `fit` fails under MultiWorkerMirroredStrategy
(keras-team/keras#20585); TensorFlow's documented custom loop does not.
"""

import os

import tensorflow as tf


def _saved(directory):
    """The checkpoints in ``directory``, newest first ([] if none)."""
    state = directory and tf.train.get_checkpoint_state(directory)
    return list(reversed(state.all_model_checkpoint_paths)) if state else []


def restore_latest_sound(checkpoint, backup_dir, chief_backup_dir=None):
    """Restore the newest checkpoint that reads back (the chief's if there are any).

    A damaged one (a full disk, a kill mid-write) is skipped, with a line
    saying so; if none is sound, a ValueError names the newest and says what
    to do. Returns the path restored, or None when there is nothing to resume.
    """
    candidates = _saved(chief_backup_dir) or _saved(backup_dir)
    problems = []
    for path in candidates:
        try:
            checkpoint.restore(path).assert_existing_objects_matched()
        except (tf.errors.OpError, ValueError, AssertionError, IndexError, OSError,
                RuntimeError) as error:  # what damaged files raise, by where they break
            problems.append(f"{path} ({type(error).__name__}: "
                            f"{' '.join(str(error).split())[:200]})")
            continue
        if problems:
            print(f"the latest checkpoint is damaged: {problems[0]}; resuming from {path}",
                  flush=True)
        return path
    if problems:
        directory = os.path.dirname(candidates[0])
        raise ValueError(f"checkpoint {problems[0]} cannot be restored and there is no sound "
                         f"one before it: delete {directory} to train from the start")
    return None


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
    # Two kept: if the latest is damaged, the run resumes from the one before.
    manager = tf.train.CheckpointManager(checkpoint, backup_dir, max_to_keep=2)
    restored = restore_latest_sound(checkpoint, backup_dir, chief_backup_dir)
    first = int(epoch.numpy())
    if first:
        done, total = plan.position(first)
        print(f"resuming from {plan.unit[:-1]} {done} of {total} (state in {restored})",
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
