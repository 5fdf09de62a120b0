"""ImageNet-style preprocessing as pure TensorFlow graph ops, for ``tf.data``.

Training: random-resized crop (area fraction in ``(0.08, 1)``, aspect ratio in
``(3/4, 4/3)``, the Inception / ResNet recipe), resize to ``image_size`` and a
random horizontal flip. Evaluation: a central square crop holding
``crop_fraction`` (0.875) of the shorter side, resized to ``image_size`` --
the same as "resize the shorter side to ``image_size / 0.875`` and center-crop
``image_size``". Both end with per-channel normalization by the usual ImageNet
mean and standard deviation.

For the "tricks" recipes (the starred rows), ``build_image_pipeline`` can add
Keras 3's ``keras.layers.RandAugment`` (per example, before normalization,
on 0..255 pixels) and ``keras.layers.MixUp`` / ``keras.layers.CutMix`` (per
batch, after normalization); with either of the latter the labels are one-hot
float32 (label smoothing is a loss option: ``CategoricalCrossentropy(
label_smoothing=...)`` on these one-hot labels).

Randomness: the crop and flip are *stateless* ops fed per-example seeds from
``tf.data.Dataset.random(seed, rerandomize_each_iteration=True)``, so with a
seed the whole stream -- file order, shuffle, crops, flips -- is reproducible
and differs from epoch to epoch. The Keras layers draw from their own
``SeedGenerator`` state; with a seed they are built with that seed and their
maps run sequentially (``deterministic=True``) so that the draw order is fixed
too; without a seed everything runs with ``AUTOTUNE`` parallelism.

No Python runs per example: every function here is traced into the dataset
graph (no ``tf.py_function``).
"""

from __future__ import annotations

import numbers

import tensorflow as tf

IMAGENET_MEAN = (0.485 * 255.0, 0.456 * 255.0, 0.406 * 255.0)
IMAGENET_STD = (0.229 * 255.0, 0.224 * 255.0, 0.225 * 255.0)
CROP_FRACTION = 0.875
AREA_RANGE = (0.08, 1.0)
ASPECT_RATIO_RANGE = (3.0 / 4.0, 4.0 / 3.0)
MAX_CROP_ATTEMPTS = 10


def check_positive_int(name: str, value) -> int:
    """Return ``value`` as an int, or raise one clear ``ValueError`` line."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _image_size_hw(image_size) -> tuple[int, int]:
    if isinstance(image_size, (tuple, list)):
        if len(image_size) != 2:
            raise ValueError(f"image_size must be an int or (height, width), got {image_size!r}")
        return (check_positive_int("image_size", image_size[0]),
                check_positive_int("image_size", image_size[1]))
    size = check_positive_int("image_size", image_size)
    return size, size


def decode_image(image_bytes):
    """Decode JPEG / PNG / BMP / GIF bytes to uint8 ``[H, W, 3]`` (gray is tiled)."""
    image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _sample_crop_window(shape_hw, seed):
    """Stateless random-resized-crop window ``[y, x, h, w]`` inside an image."""
    bbox = tf.constant([0.0, 0.0, 1.0, 1.0], dtype=tf.float32, shape=[1, 1, 4])
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.concat([shape_hw, [3]], axis=0),
        bounding_boxes=bbox,
        seed=seed,
        min_object_covered=0.1,
        aspect_ratio_range=ASPECT_RATIO_RANGE,
        area_range=AREA_RANGE,
        max_attempts=MAX_CROP_ATTEMPTS,
        use_image_if_no_bounding_boxes=True,
    )
    offset_y, offset_x, _ = tf.unstack(begin)
    target_h, target_w, _ = tf.unstack(size)
    return tf.stack([offset_y, offset_x, target_h, target_w])


def _resize(image, image_hw):
    image = tf.image.resize(image, image_hw, method="bilinear", antialias=False)
    return tf.ensure_shape(tf.cast(image, tf.float32), [image_hw[0], image_hw[1], 3])


def train_crop_and_flip(image_bytes, seed, image_size, jpeg_only: bool = False):
    """Decode, random-resized-crop, resize and randomly flip one image.

    Args:
      image_bytes: scalar string tensor of encoded image bytes.
      seed: int32/int64 tensor of shape ``[2]``, a stateless-op seed.
      image_size: output size, an int or ``(height, width)``.
      jpeg_only: the bytes are known to be JPEG (ImageNet TFRecords): decode
        only the crop window (``tf.image.decode_and_crop_jpeg``), much cheaper.

    Returns:
      float32 ``[H, W, 3]`` with values in 0..255 (not yet normalized).
    """
    image_hw = _image_size_hw(image_size)
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    if jpeg_only:
        shape = tf.io.extract_jpeg_shape(image_bytes)
        window = _sample_crop_window(shape[:2], crop_seed)
        image = tf.io.decode_and_crop_jpeg(image_bytes, window, channels=3)
    else:
        image = decode_image(image_bytes)
        window = _sample_crop_window(tf.shape(image)[:2], crop_seed)
        image = tf.image.crop_to_bounding_box(image, window[0], window[1], window[2], window[3])
    image = _resize(image, image_hw)
    return tf.image.stateless_random_flip_left_right(image, seed=flip_seed)


def eval_center_crop(image_bytes, image_size, crop_fraction: float = CROP_FRACTION,
                     jpeg_only: bool = False):
    """Decode, take the central square of ``crop_fraction`` of the shorter side, resize.

    Returns float32 ``[H, W, 3]`` with values in 0..255 (not yet normalized).
    """
    if not 0.0 < float(crop_fraction) <= 1.0:
        raise ValueError(f"crop_fraction must be in (0, 1], got {crop_fraction!r}")
    image_hw = _image_size_hw(image_size)
    if jpeg_only:
        shape = tf.io.extract_jpeg_shape(image_bytes)[:2]
    else:
        image = decode_image(image_bytes)
        shape = tf.shape(image)[:2]
    height, width = shape[0], shape[1]
    side = tf.cast(tf.cast(tf.minimum(height, width), tf.float32) * float(crop_fraction), tf.int32)
    side = tf.maximum(side, 1)
    offset_y = (height - side + 1) // 2
    offset_x = (width - side + 1) // 2
    if jpeg_only:
        window = tf.stack([offset_y, offset_x, side, side])
        image = tf.io.decode_and_crop_jpeg(image_bytes, window, channels=3)
    else:
        image = tf.image.crop_to_bounding_box(image, offset_y, offset_x, side, side)
    return _resize(image, image_hw)


def normalize(image):
    """Subtract the ImageNet mean and divide by its std (per channel; 0..255 input)."""
    mean = tf.constant(IMAGENET_MEAN, dtype=tf.float32)
    std = tf.constant(IMAGENET_STD, dtype=tf.float32)
    return (tf.cast(image, tf.float32) - mean) / std


def _seed_stream(seed):
    """A dataset of ``[2]`` int64 stateless seeds, new ones every epoch."""
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)


def build_image_pipeline(
    records: tf.data.Dataset,
    training: bool,
    image_size,
    batch_size: int,
    seed: int | None = None,
    *,
    jpeg_only: bool = False,
    num_classes: int | None = None,
    one_hot: bool = False,
    randaugment: bool = False,
    randaugment_num_ops: int = 2,
    randaugment_factor: float = 0.5,
    mixup_alpha: float = 0.0,
    cutmix_alpha: float = 0.0,
    crop_fraction: float = CROP_FRACTION,
    drop_remainder: bool | None = None,
    deterministic: bool | None = None,
    shuffle_buffer: int = 0,
) -> tf.data.Dataset:
    """Turn a dataset of ``(encoded image bytes, int label)`` into training batches.

    ``records`` must already be in file / shuffled order (callers shuffle files
    and, with ``shuffle_buffer``, examples here before decoding).

    Args:
      records: ``tf.data.Dataset`` of ``(string scalar, integer scalar)``.
      training: random crop + flip (and the extras below) if True, center
        crop otherwise.
      image_size: output height = width (an int) or ``(height, width)``.
      batch_size: examples per batch.
      seed: makes the stream reproducible (see module docstring).
      jpeg_only: bytes are all JPEG: use the fused decode-and-crop.
      num_classes: needed for one-hot labels.
      one_hot: emit one-hot float32 labels even without mixup/cutmix.
      randaugment: add ``keras.layers.RandAugment`` (training only).
      mixup_alpha, cutmix_alpha: > 0 adds ``keras.layers.MixUp`` /
        ``keras.layers.CutMix`` (training only; labels become one-hot). With
        both, each batch goes through MixUp then CutMix.
      crop_fraction: eval center-crop fraction.
      drop_remainder: drop the last partial batch; default: ``training``.
      deterministic: keep element order (and the Keras layers' draws) fixed;
        default: ``seed is not None or not training`` (evaluation keeps file
        order).
      shuffle_buffer: if > 0 and training, shuffle examples with this buffer.

    Returns:
      batched, prefetched ``tf.data.Dataset`` of ``(images float32 [B, H, W, 3],
      labels int32 [B] or float32 [B, num_classes])``.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    image_hw = _image_size_hw(image_size)
    if not 0.0 < float(crop_fraction) <= 1.0:
        raise ValueError(f"crop_fraction must be in (0, 1], got {crop_fraction!r}")
    for name, value in (("mixup_alpha", mixup_alpha), ("cutmix_alpha", cutmix_alpha)):
        if not isinstance(value, numbers.Real) or value < 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    mixing = training and (mixup_alpha > 0 or cutmix_alpha > 0)
    if (mixing or one_hot) and num_classes is None:
        raise ValueError("num_classes is required for one-hot labels (mixup/cutmix or one_hot=True)")
    if num_classes is not None:
        num_classes = check_positive_int("num_classes", num_classes)
    if drop_remainder is None:
        drop_remainder = bool(training)
    if deterministic is None:
        deterministic = seed is not None or not training
    parallel = tf.data.AUTOTUNE
    # The Keras layers read and advance a SeedGenerator variable: run them
    # sequentially when the draw order must be reproducible.
    keras_map_args = ({"num_parallel_calls": None} if deterministic
                      else {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": False})

    def cast_label(label):
        return tf.cast(label, tf.int32)

    if training:
        if shuffle_buffer and shuffle_buffer > 0:
            records = records.shuffle(int(shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
        records = tf.data.Dataset.zip((records, _seed_stream(seed)))

        def train_map(record, example_seed):
            image_bytes, label = record
            image = train_crop_and_flip(image_bytes, example_seed, image_hw, jpeg_only=jpeg_only)
            return image, cast_label(label)

        dataset = records.map(train_map, num_parallel_calls=parallel, deterministic=deterministic)
        if randaugment:
            import keras

            rand_augment = keras.layers.RandAugment(
                value_range=(0, 255), num_ops=int(randaugment_num_ops),
                factor=float(randaugment_factor), seed=seed)

            def augment_map(image, label):
                image = rand_augment(image, training=True)
                image = tf.ensure_shape(tf.cast(image, tf.float32), [image_hw[0], image_hw[1], 3])
                return image, label

            dataset = dataset.map(augment_map, **keras_map_args)
    else:
        def eval_map(image_bytes, label):
            image = eval_center_crop(image_bytes, image_hw, crop_fraction, jpeg_only=jpeg_only)
            return image, cast_label(label)

        dataset = records.map(eval_map, num_parallel_calls=parallel, deterministic=deterministic)

    dataset = dataset.map(lambda image, label: (normalize(image), label),
                          num_parallel_calls=parallel, deterministic=deterministic)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder,
                            num_parallel_calls=parallel, deterministic=deterministic)

    if mixing or one_hot:
        dataset = dataset.map(lambda images, labels: (images, tf.one_hot(labels, num_classes)),
                              num_parallel_calls=parallel, deterministic=deterministic)
    if mixing:
        import keras

        mixers = []
        if mixup_alpha > 0:
            mixers.append(keras.layers.MixUp(alpha=float(mixup_alpha), seed=seed))
        if cutmix_alpha > 0:
            mixers.append(keras.layers.CutMix(factor=float(cutmix_alpha), seed=seed))

        def mix_map(images, labels):
            data = {"images": images, "labels": labels}
            for mixer in mixers:
                data = mixer(data, training=True)
            return (tf.cast(data["images"], tf.float32), tf.cast(data["labels"], tf.float32))

        dataset = dataset.map(mix_map, **keras_map_args)

    options = tf.data.Options()
    options.deterministic = bool(deterministic)
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
