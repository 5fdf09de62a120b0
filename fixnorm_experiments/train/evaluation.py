"""Evaluating a classifier without Keras' `evaluate`, for multi-worker runs."""

import tensorflow as tf


def evaluate_locally(model, dataset, loss_fn):
    """(mean loss, accuracy) of a logits classifier, in plain eager batches.

    For the multi-worker path, where `model.evaluate` fails like `fit`
    (keras-team/keras#20585): every worker holds the same weights, so each
    evaluates the whole eval set on its own copy. Labels may be integers or
    one-hot; `loss_fn` must sum over the batch (reduction "sum").
    """
    total_loss, correct, count = 0.0, 0, 0
    for x, y in dataset:
        logits = model(x, training=False)
        total_loss += float(loss_fn(y, logits))
        labels = tf.argmax(y, axis=-1) if len(y.shape) == 2 else y
        correct += int(tf.reduce_sum(tf.cast(
            tf.equal(tf.argmax(logits, axis=-1), tf.cast(labels, tf.int64)), tf.int32)))
        count += int(tf.shape(y)[0])
    return total_loss / count, correct / count
