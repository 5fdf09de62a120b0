"""The 8x8 handwritten digits that scikit-learn ships, as Keras-ready arrays.

scikit-learn bundles this dataset (1797 images, 10 classes) inside its wheel,
so loading it never touches the network: that is what lets the demo, the tests
and CI run on machines with no internet access.
"""

from __future__ import annotations

import numbers

import numpy as np

DIGITS_PIXEL_MAX = 16.0  # sklearn's digits hold integer intensities 0..16


def load_digits(test_fraction: float = 0.25, seed: int = 0):
    """Load scikit-learn's bundled digits with a stratified, deterministic split.

    Args:
      test_fraction: fraction of the 1797 images that goes to the test split,
        strictly between 0 and 1.
      seed: integer seed of the split; the same seed always gives the same split.

    Returns:
      ``((x_train, y_train), (x_test, y_test))`` where images are float32 of
      shape ``(N, 8, 8, 1)`` scaled to [0, 1] and labels are int32 of shape
      ``(N,)``. Every class appears in both splits in (nearly) its overall
      proportion.

    Raises:
      ValueError: on a ``test_fraction`` outside (0, 1) or a non-integer seed.
    """
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real):
        raise ValueError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")

    from sklearn.datasets import load_digits as sklearn_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_load_digits()
    images = (bunch.images.astype(np.float32) / DIGITS_PIXEL_MAX)[..., np.newaxis]
    labels = bunch.target.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        images,
        labels,
        test_size=float(test_fraction),
        random_state=int(seed),
        stratify=labels,
    )
    return (x_train, y_train), (x_test, y_test)


def as_dataset(x, y, batch_size: int, shuffle: bool = False, seed: int | None = None):
    """Wrap arrays in a batched, prefetched ``tf.data.Dataset``.

    Args:
      x: inputs, first axis is the example axis.
      y: labels, same length as ``x``.
      batch_size: positive number of examples per batch (the last batch may
        be smaller).
      shuffle: reshuffle the whole dataset at every iteration (epoch).
      seed: shuffle seed; with a seed the sequence of epoch orders is
        reproducible.

    Raises:
      ValueError: on a non-positive batch size or mismatched lengths.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if len(x) == 0:
        raise ValueError("x and y must not be empty")

    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(int(batch_size)).prefetch(tf.data.AUTOTUNE)
