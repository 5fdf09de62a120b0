"""Tests of the dense-prediction pipelines: Cityscapes semantic segmentation and
COCO 2017 detection read from tiny TFDS fixtures (tests/dense_fixtures.py)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import importlib.util  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from tests.dense_fixtures import (  # noqa: E402
    CITYSCAPES_COLOURS,
    COCO_COLOURS,
    write_cityscapes_fixture,
    write_coco_fixture,
)
from fixnorm_experiments.data.augment import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402

if importlib.util.find_spec("tensorflow_datasets") is None:
    pytest.skip("tensorflow-datasets not installed (optional: pip install tensorflow-datasets)",
                allow_module_level=True)

from fixnorm_experiments.data.cityscapes import label_ids_to_train_ids, make_cityscapes_dataset  # noqa: E402
from fixnorm_experiments.data.coco import make_coco_dataset, make_coco_eval_dataset  # noqa: E402

# Written out independently of the module under test (cityscapesScripts labels.py).
TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
             24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
MEAN, STD = np.array(IMAGENET_MEAN, np.float32), np.array(IMAGENET_STD, np.float32)


def expected_train_ids(label_ids, ignore=255):
    table = np.full(256, ignore, np.int64)
    for label_id, train_id in TRAIN_IDS.items():
        table[label_id] = train_id
    return table[label_ids]


def pixels(images):
    """Undo the ImageNet normalization: back to 0..255 pixels."""
    return np.asarray(images) * STD + MEAN


def collect(dataset):
    """All batches concatenated (a dict target is concatenated per key)."""
    batches = [tf.nest.map_structure(np.asarray, batch) for batch in dataset]
    return tf.nest.map_structure(lambda *parts: np.concatenate(parts), *batches)


def file_order(builder_dir, split, key):
    """``key`` of each example of ``split`` in on-disk order (TFDS shuffles when writing)."""
    import tensorflow_datasets as tfds

    builder = tfds.builder_from_directory(builder_dir)
    dataset = builder.as_dataset(split=split, shuffle_files=False,
                                 decoders={name: tfds.decode.SkipDecoding()
                                           for name, feature in builder.info.features.items()
                                           if isinstance(feature, tfds.features.Image)})
    values = [example[key].numpy() for example in dataset]
    return [value.decode() if isinstance(value, bytes) else int(value) for value in values]


@pytest.fixture(scope="module")
def dense_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("dense_tfds")
    return write_cityscapes_fixture(root), write_coco_fixture(root)


@pytest.fixture(scope="module")
def city(dense_root):
    return dense_root[0]


@pytest.fixture(scope="module")
def coco(dense_root):
    return dense_root[1]


# --- Cityscapes -------------------------------------------------------------


def test_label_id_to_train_id_table():
    ids = np.arange(256, dtype=np.uint8)
    got = label_ids_to_train_ids(tf.constant(ids)).numpy()
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, expected_train_ids(ids))
    assert got[7] == 0 and got[26] == 13 and got[33] == 18 and got[0] == 255 and got[34] == 255
    assert sorted(set(got.tolist()) - {255}) == list(range(19))
    again = label_ids_to_train_ids(tf.constant(ids), ignore_label=-1).numpy()
    assert again[9] == -1 and again[200] == -1 and again[24] == 11


def test_cityscapes_eval_whole_images_in_file_order(city):
    dataset = make_cityscapes_dataset(city.builder_dir, "validation", batch_size=3, training=False,
                                      name=None)
    images, labels = next(iter(dataset))
    assert images.dtype == tf.float32 and labels.dtype == tf.int32
    assert images.shape == (2, 64, 128, 3) and labels.shape == (2, 64, 128)  # partial batch kept
    by_id = {item["image_id"]: item for item in city.examples["validation"]}
    order = file_order(city.builder_dir, "validation", "image_id")
    for image, label, image_id in zip(images.numpy(), labels.numpy(), order):
        np.testing.assert_allclose(pixels(image), by_id[image_id]["image"], atol=1e-3)
        np.testing.assert_array_equal(label, expected_train_ids(by_id[image_id]["label_ids"]))
    # unlabelled ids (0 / 4 / 9 rectangles) -> 255; known classes survive
    assert 255 in labels.numpy() and {0, 2, 10, 13}.issubset(set(np.unique(labels.numpy())))


def test_cityscapes_by_name_keeps_order(city):
    dataset = make_cityscapes_dataset(city.root, "train", batch_size=3, training=False)
    images, labels = collect(dataset)
    assert images.shape == (4, 64, 128, 3)
    by_id = {item["image_id"]: item for item in city.examples["train"]}
    expected = [expected_train_ids(by_id[i]["label_ids"])
                for i in file_order(city.builder_dir, "train", "image_id")]
    np.testing.assert_array_equal(labels, np.stack(expected))


def test_cityscapes_crop_padding_uses_ignore_label(city):
    dataset = make_cityscapes_dataset(city.builder_dir, "train", batch_size=2, training=True,
                                      crop_size=(80, 160), scale_range=(1.0, 1.0), seed=0,
                                      name=None, ignore_label=250)
    images, labels = collect(dataset)
    assert images.shape == (4, 80, 160, 3) and labels.shape == (4, 80, 160)
    assert 255 not in labels and 250 in labels[:, :64]  # unknown ids use ignore_label too
    for image, label in zip(images, labels):
        assert (label[64:] == 250).all() and (image[64:] == 0.0).all()  # padding at the bottom
        pad_cols = slice(128, None) if (label[:, 128:] == 250).all() else slice(None, 32)
        assert (label[:, pad_cols] == 250).all() and (image[:, pad_cols] == 0.0).all()
        inside = label[:64, 32:] if pad_cols.start is None else label[:64, :128]
        assert (inside != 250).mean() > 0.5  # the image itself is not padding


def _match(array, candidates):
    """Index of the candidate equal to ``array`` or to its mirror, and whether mirrored."""
    for index, candidate in enumerate(candidates):
        if np.array_equal(array, candidate):
            return index, False
        if np.array_equal(array, candidate[:, ::-1]):
            return index, True
    raise AssertionError("output matches no input example")


def test_cityscapes_flip_moves_image_and_label_together(city):
    dataset = make_cityscapes_dataset(city.builder_dir, "train", batch_size=2, training=True,
                                      crop_size=(64, 128), scale_range=(1.0, 1.0), seed=1,
                                      name=None)
    source_labels = [expected_train_ids(item["label_ids"]) for item in city.examples["train"]]
    source_images = [item["image"] for item in city.examples["train"]]
    flips = []
    for _ in range(2):  # two epochs
        images, labels = collect(dataset)
        for image, label in zip(images, labels):
            index, flipped = _match(label, source_labels)
            expected = source_images[index][:, ::-1] if flipped else source_images[index]
            np.testing.assert_allclose(pixels(image), expected, atol=1e-3)
            flips.append(flipped)
    assert any(flips) and not all(flips)


def _colour_agreement(images, labels):
    """Fraction of labelled pixels whose colour is within 40 of their class colour."""
    colours = np.full((256, 3), np.nan)
    for label_id, colour in CITYSCAPES_COLOURS.items():
        if label_id in TRAIN_IDS:
            colours[TRAIN_IDS[label_id]] = colour
    known = labels != 255
    distance = np.abs(pixels(images)[known] - colours[labels[known]]).max(axis=-1)
    return (distance < 40).mean()


def test_cityscapes_scale_crop_seeded_deterministic_and_aligned(city):
    def make():
        return make_cityscapes_dataset(city.builder_dir, "train", batch_size=2, training=True,
                                       crop_size=(40, 56), scale_range=(0.5, 2.0), seed=3,
                                       name=None)

    dataset = make()
    images_a, labels_a = collect(dataset)
    images_b, labels_b = collect(make())
    np.testing.assert_array_equal(labels_a, labels_b)
    np.testing.assert_allclose(images_a, images_b)
    assert images_a.shape == (4, 40, 56, 3) and labels_a.shape == (4, 40, 56)
    assert set(np.unique(labels_a)) <= set(range(19)) | {255}
    # image and label were scaled / cropped / flipped together: colours match classes
    assert _colour_agreement(images_a, labels_a) > 0.9
    epoch_2 = collect(dataset)
    assert not np.allclose(images_a, epoch_2[0])  # new crops every epoch


def test_cityscapes_errors(city, coco, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        make_cityscapes_dataset(tmp_path / "missing", "train", 2, True)
    with pytest.raises(ValueError, match="unknown split 'holdout'.*use one of test, train, "
                                         "validation"):
        make_cityscapes_dataset(city.builder_dir, "holdout", 2, False, name=None)
    with pytest.raises(ValueError, match="not prepared"):
        make_cityscapes_dataset(city.root, "train", 2, True, name="cityscapes/stereo_disparity")
    with pytest.raises(ValueError, match="has no feature 'image_left'"):
        make_cityscapes_dataset(coco.builder_dir, "train", 2, True, name=None)
    with pytest.raises(ValueError, match="crop_size must be"):
        make_cityscapes_dataset(city.builder_dir, "train", 2, True, crop_size=(0, 8), name=None)
    with pytest.raises(ValueError, match="scale_range must be"):
        make_cityscapes_dataset(city.builder_dir, "train", 2, True, scale_range=(2.0, 1.0),
                                name=None)
    with pytest.raises(ValueError, match="ignore_label must not be a trainId"):
        make_cityscapes_dataset(city.builder_dir, "train", 2, True, ignore_label=3, name=None)


# --- COCO -------------------------------------------------------------------

SIZE = 80


def _resized(item):
    """(new_h, new_w) of the evaluation fit of an example into SIZE x SIZE."""
    height, width = item["image"].shape[:2]
    scale = min(SIZE / height, SIZE / width)
    return round(height * scale), round(width * scale)


def _expected_boxes(item, flipped=False):
    """Non-crowd boxes (absolute yxyx in the evaluation resize) and labels."""
    height, width = item["image"].shape[:2]
    new_h, new_w = _resized(item)
    factor = np.array([new_h / height, new_w / width] * 2)
    objects = [obj for obj in item["objects"] if not obj["is_crowd"]]
    boxes = np.array([obj["box"] for obj in objects], np.float64).reshape(-1, 4) * factor
    if flipped:
        boxes = np.stack([boxes[:, 0], new_w - boxes[:, 3], boxes[:, 2], new_w - boxes[:, 1]], 1)
    return boxes, [obj["label"] for obj in objects]


def _check_boxes_on_objects(images, targets):
    """Every real box lies on a rectangle of its label's colour; padding is -1."""
    checked = 0
    for image, boxes, labels in zip(pixels(images), targets["boxes"], targets["labels"]):
        valid = labels >= 0
        assert (boxes[~valid] == -1).all() and (labels[~valid] == -1).all()
        assert (boxes[valid] >= 0).all() and (boxes[valid] <= SIZE).all()
        for (top, left, bottom, right), label in zip(boxes[valid], labels[valid]):
            assert bottom > top and right > left
            # 2 px margin: bilinear resizing and JPEG chroma subsampling blur the edges
            rows = slice(int(np.ceil(top)) + 2, int(np.floor(bottom)) - 2)
            cols = slice(int(np.ceil(left)) + 2, int(np.floor(right)) - 2)
            if rows.stop - rows.start < 2 or cols.stop - cols.start < 2:
                continue  # a sliver left by a crop
            mean = image[rows, cols].reshape(-1, 3).mean(axis=0)
            np.testing.assert_allclose(mean, COCO_COLOURS[label], atol=30)
            checked += 1
    return checked


def test_coco_eval_targets(coco):
    dataset = make_coco_dataset(coco.builder_dir, "validation", batch_size=4, training=False,
                                image_size=SIZE, max_boxes=6, name=None)
    images, targets = next(iter(dataset))
    assert images.dtype == tf.float32 and images.shape == (2, SIZE, SIZE, 3)
    assert targets["boxes"].dtype == tf.float32 and targets["boxes"].shape == (2, 6, 4)
    assert targets["labels"].dtype == tf.int32 and targets["labels"].shape == (2, 6)
    images, targets = tf.nest.map_structure(np.asarray, (images, targets))
    by_id = {item["image_id"]: item for item in coco.examples["validation"]}
    order = file_order(coco.builder_dir, "validation", "image/id")
    for index, image_id in enumerate(order):
        item = by_id[image_id]
        boxes, labels = _expected_boxes(item)  # crowd boxes dropped
        count = len(labels)
        np.testing.assert_allclose(targets["boxes"][index, :count], boxes, atol=1e-3)
        assert targets["labels"][index].tolist() == labels + [-1] * (6 - count)
        assert (targets["boxes"][index, count:] == -1).all()
        new_h, new_w = _resized(item)
        assert (images[index, new_h:] == 0).all() and (images[index, :, new_w:] == 0).all()
    assert any(obj["is_crowd"] for item in coco.examples["validation"] for obj in item["objects"])
    assert _check_boxes_on_objects(images, targets) == sum(
        len(_expected_boxes(item)[1]) for item in coco.examples["validation"])


def test_coco_by_name_truncates_to_max_boxes(coco):
    dataset = make_coco_dataset(coco.root, "train", batch_size=4, training=False,
                                image_size=SIZE, max_boxes=1)
    _, targets = collect(dataset)
    assert targets["boxes"].shape == (4, 1, 4)
    assert (targets["labels"][:, 0] >= 0).all()


def _match_boxes(boxes, labels, examples):
    valid = labels >= 0
    for item in examples:
        for flipped in (False, True):
            expected, expected_labels = _expected_boxes(item, flipped)
            if (labels[valid].tolist() == expected_labels
                    and np.allclose(boxes[valid], expected, atol=1e-3)):
                return item, flipped
    raise AssertionError("boxes match no input example")


def test_coco_train_flip_mirrors_boxes_and_drops_crowd(coco):
    dataset = make_coco_dataset(coco.builder_dir, "train", batch_size=2, training=True,
                                image_size=SIZE, max_boxes=5, seed=2, name=None)
    flips, seen = [], []
    for _ in range(2):
        images, targets = collect(dataset)
        assert images.shape == (4, SIZE, SIZE, 3)
        for boxes, labels in zip(targets["boxes"], targets["labels"]):
            item, flipped = _match_boxes(boxes, labels, coco.examples["train"])
            flips.append(flipped)
            seen.append(item["image_id"])
        _check_boxes_on_objects(images, targets)
    assert any(flips) and not all(flips)
    assert sorted(seen[:4]) == sorted(item["image_id"] for item in coco.examples["train"])
    total = sum(len(item["objects"]) for item in coco.examples["train"])
    crowd = sum(obj["is_crowd"] for item in coco.examples["train"] for obj in item["objects"])
    assert crowd == 1 and (targets["labels"] >= 0).sum() == total - crowd


def test_coco_scale_jitter_seeded_and_boxes_on_objects(coco):
    def make():
        return make_coco_dataset(coco.builder_dir, "train", batch_size=2, training=True,
                                 image_size=SIZE, max_boxes=5, seed=4, name=None,
                                 scale_range=(0.6, 1.8))

    dataset = make()
    first = collect(dataset)
    again = collect(make())
    np.testing.assert_allclose(first[0], again[0])
    np.testing.assert_array_equal(first[1]["boxes"], again[1]["boxes"])
    checked = _check_boxes_on_objects(*first)
    second = collect(dataset)
    checked += _check_boxes_on_objects(*second)
    assert checked >= 6
    assert not np.allclose(first[0], second[0])


def test_coco_eval_dataset_for_ap(coco):
    dataset = make_coco_eval_dataset(coco.builder_dir, "validation", batch_size=2,
                                     image_size=SIZE, name=None)
    images, info = next(iter(dataset))
    info = tf.nest.map_structure(np.asarray, info)
    order = file_order(coco.builder_dir, "validation", "image/id")
    assert info["image_id"].dtype == np.int64 and info["image_id"].tolist() == order
    by_id = {item["image_id"]: item for item in coco.examples["validation"]}
    most = max(len(item["objects"]) for item in by_id.values())
    assert info["boxes"].shape == (2, most, 4) and info["labels"].dtype == np.int32
    assert info["is_crowd"].dtype == bool and info["area"].dtype == np.float32
    for index, image_id in enumerate(order):
        item, count = by_id[image_id], info["num_boxes"][index]
        objects = item["objects"]
        assert count == len(objects)
        assert info["original_size"][index].tolist() == list(item["image"].shape[:2])
        assert info["resized_size"][index].tolist() == list(_resized(item))
        np.testing.assert_allclose(info["scale"][index],
                                   np.array(_resized(item)) / item["image"].shape[:2])
        np.testing.assert_allclose(info["boxes"][index, :count],  # original pixels
                                   [obj["box"] for obj in objects], atol=1e-3)
        assert info["labels"][index, :count].tolist() == [obj["label"] for obj in objects]
        assert info["is_crowd"][index, :count].tolist() == [obj["is_crowd"] for obj in objects]
        assert info["area"][index, :count].tolist() == [obj["area"] for obj in objects]
        assert info["ann_id"][index, :count].tolist() == [obj["id"] for obj in objects]
        assert (info["boxes"][index, count:] == -1).all()
        assert (info["labels"][index, count:] == -1).all()
    assert info["is_crowd"].any()  # crowd ground truth is kept for AP
    eval_images, _ = next(iter(make_coco_dataset(coco.builder_dir, "validation", 2, False,
                                                 image_size=SIZE, name=None)))
    np.testing.assert_allclose(images, eval_images)


def test_coco_test_split_is_all_padding(coco):
    _, targets = collect(make_coco_dataset(coco.root, "test", 2, False, image_size=SIZE,
                                           max_boxes=3))
    assert targets["boxes"].shape == (1, 3, 4) and (targets["boxes"] == -1).all()
    assert (targets["labels"] == -1).all()


def test_coco_targets_feed_the_retinanet_label_encoder(coco):
    if importlib.util.find_spec("keras_hub") is None:
        pytest.skip("keras_hub not installed")
    from keras_hub.layers import AnchorGenerator
    from keras_hub.src.models.retinanet.retinanet_label_encoder import RetinaNetLabelEncoder

    images, targets = next(iter(make_coco_dataset(coco.builder_dir, "validation", 2, False,
                                                  image_size=SIZE, max_boxes=6, name=None)))
    anchors = AnchorGenerator(bounding_box_format="yxyx", min_level=3, max_level=4,
                              num_scales=2, aspect_ratios=[0.5, 1.0, 2.0], anchor_size=3)
    encoder = RetinaNetLabelEncoder(anchor_generator=anchors, bounding_box_format="yxyx")
    box_targets, class_targets = encoder(images=images, gt_boxes=targets["boxes"],
                                         gt_classes=targets["labels"])
    assert not np.isnan(np.asarray(box_targets)).any()
    classes = np.asarray(class_targets)
    real = set(targets["labels"].numpy()[targets["labels"].numpy() >= 0].tolist())
    positives = set(classes[classes >= 0].astype(int).tolist())
    assert positives and positives <= real  # padding never becomes a positive


def test_coco_errors(coco, city, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        make_coco_dataset(tmp_path / "missing", "train", 2, True)
    with pytest.raises(ValueError, match="data_dir is not set"):
        make_coco_eval_dataset("", "validation")
    with pytest.raises(ValueError, match="unknown split 'val'.*use one of test, train, validation"):
        make_coco_dataset(coco.root, "val", 2, False)
    with pytest.raises(ValueError, match="has no feature 'image', 'image/id', 'objects'"):
        make_coco_eval_dataset(city.builder_dir, "validation", name=None)
    with pytest.raises(ValueError, match="max_boxes must be a positive integer"):
        make_coco_dataset(coco.root, "train", 2, True, max_boxes=0)
    with pytest.raises(ValueError, match="image_size must be"):
        make_coco_dataset(coco.root, "train", 2, True, image_size=(8, 8, 3))
