"""An image-folder tree as a ``tf.data`` pipeline.

Layout::

    root/<class_name>/<anything>.jpg|.jpeg|.png|.bmp|.gif

Class names are the sub-directories of ``root``, sorted; an image's label is
the index of its class in that sorted list (so labels are stable whatever
the file system's listing order). Files with other extensions are ignored.
The file list is built once, in Python, when the dataset is made; decoding
runs in the ``tf.data`` graph.
"""

from __future__ import annotations

import os

import tensorflow as tf

from fixnorm_experiments.data.augment import CROP_FRACTION, build_image_pipeline, check_positive_int
from fixnorm_experiments.data.imagenet import check_data_dir

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def list_image_folder(root):
    """``(paths, labels, class_names)`` of an image-folder tree, classes sorted.

    Raises:
      ValueError: ``root`` missing or empty, no class sub-directories, or no
        image files in any of them.
    """
    root = check_data_dir(root)
    class_names = sorted(name for name in tf.io.gfile.listdir(root)
                         if tf.io.gfile.isdir(os.path.join(root, name)))
    class_names = [name.rstrip("/") for name in class_names]
    if not class_names:
        raise ValueError(f"no class sub-directories in {root!r}: expected root/<class_name>/*.jpg")
    paths, labels = [], []
    for label, name in enumerate(class_names):
        class_dir = os.path.join(root, name)
        for file_name in sorted(tf.io.gfile.listdir(class_dir)):
            if file_name.lower().endswith(IMAGE_EXTENSIONS):
                paths.append(os.path.join(class_dir, file_name))
                labels.append(label)
    if not paths:
        raise ValueError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) under the class "
                         f"directories of {root!r}: expected root/<class_name>/*.jpg")
    return paths, labels, class_names


def make_folder_dataset(
    root,
    training: bool = True,
    image_size=224,
    batch_size: int = 32,
    seed: int | None = None,
    *,
    one_hot: bool = False,
    randaugment: bool = False,
    mixup_alpha: float = 0.0,
    cutmix_alpha: float = 0.0,
    crop_fraction: float = CROP_FRACTION,
    drop_remainder: bool | None = None,
    return_class_names: bool = False,
):
    """Image folder -> batched ``(images, labels)`` ``tf.data.Dataset``.

    Args:
      root: the tree's root (``root/<class_name>/*.jpg``).
      training: shuffle all files each epoch and augment (random-resized crop
        + flip, extras); otherwise file order and center crop.
      image_size, batch_size, seed: as in ``make_imagenet_dataset``.
      one_hot, randaugment, mixup_alpha, cutmix_alpha, crop_fraction,
      drop_remainder: see ``fixnorm_experiments.data.augment.build_image_pipeline``
        (``num_classes`` is the number of class directories).
      return_class_names: also return the sorted class names.

    Returns:
      the dataset of ``(float32 [B, H, W, 3], int32 [B] or float32 one-hot)``,
      or ``(dataset, class_names)``.
    """
    check_positive_int("batch_size", batch_size)
    paths, labels, class_names = list_image_folder(root)
    deterministic = seed is not None or not training
    files = tf.data.Dataset.from_tensor_slices(
        (tf.constant(paths), tf.constant(labels, dtype=tf.int32)))
    if training:
        files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    records = files.map(lambda path, label: (tf.io.read_file(path), label),
                        num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    dataset = build_image_pipeline(
        records, training=bool(training), image_size=image_size, batch_size=batch_size, seed=seed,
        jpeg_only=False, num_classes=len(class_names), one_hot=one_hot, randaugment=randaugment,
        mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha, crop_fraction=crop_fraction,
        drop_remainder=drop_remainder, deterministic=deterministic)
    return (dataset, class_names) if return_class_names else dataset
