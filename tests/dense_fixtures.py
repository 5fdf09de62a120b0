"""Tiny Cityscapes and COCO 2017 datasets in the genuine TFDS on-disk format.

``write_cityscapes_fixture`` and ``write_coco_fixture`` write, under ``root``,
``cityscapes/semantic_segmentation/1.0.0`` and ``coco/2017/1.1.0`` (the real
builders' names and versions) with the real feature names, dtypes and splits,
through TFDS's own writer (``tfds.dataset_builders.store_as_tfds_dataset``).
They read back with ``tfds.builder_from_directory``, ``tfds.builder(name,
data_dir=root)`` and ``fixnorm_experiments.data.tfds_local``. Nothing is downloaded
(``try_download_gcs=False``). One difference is unavoidable: the Cityscapes
images are ``height x width`` instead of 1024 x 2048, and
``tfds.builder("cityscapes/...")`` takes its features from the registered
builder's code, so *decoding* them through it fails the 1024 x 2048 shape
check; the pipelines read images as bytes (``SkipDecoding``) and
``builder_from_directory`` uses the shapes written here.

The pictures have structure a model can learn: in Cityscapes every pixel's
colour is the colour of its class (sky / building / road bands plus random
rectangles of cars, people, vegetation and unlabelled ids) with a little
noise; in COCO each object is a solid rectangle of its class colour on a
gray gradient, and its box is exactly the rectangle. Each function returns a
``Fixture`` whose ``examples`` hold the arrays written, per split, in writing
order (TFDS shuffles the order on disk).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

CITYSCAPES_VERSION = "1.0.0"
COCO_VERSION = "1.1.0"

# Cityscapes labelIds drawn and their colours (cityscapesScripts palette;
# unlabelled ids 0 / 4 / 9 get dark colours of their own).
CITYSCAPES_COLOURS = {
    0: (0, 0, 0),          # unlabeled        -> ignore
    4: (111, 74, 0),       # static           -> ignore
    7: (128, 64, 128),     # road             -> 0
    8: (244, 35, 232),     # sidewalk         -> 1
    9: (250, 170, 160),    # parking          -> ignore
    11: (70, 70, 70),      # building         -> 2
    17: (153, 153, 153),   # pole             -> 5
    21: (107, 142, 35),    # vegetation       -> 8
    23: (70, 130, 180),    # sky              -> 10
    24: (220, 20, 60),     # person           -> 11
    26: (0, 0, 142),       # car              -> 13
    33: (119, 11, 32),     # bicycle          -> 18
}
RECTANGLE_IDS = (0, 4, 9, 17, 21, 24, 26, 33)

# COCO labels (0-based ClassLabel indices) drawn and their colours.
COCO_COLOURS = {
    0: (230, 30, 30),      # person
    2: (30, 30, 230),      # car
    16: (240, 220, 20),    # dog
    56: (30, 200, 60),     # chair
}
COCO_LABELS = tuple(COCO_COLOURS)


@dataclasses.dataclass
class Fixture:
    """Where a fixture dataset was written and what it holds.

    Attributes:
      root: the TFDS root (pass with ``name=...``).
      builder_dir: the builder directory (pass with ``name=None``).
      name: the TFDS name, e.g. ``"coco/2017"``.
      examples: split -> list of the examples written (dicts of numpy arrays).
    """

    root: str
    builder_dir: str
    name: str
    examples: dict


def _tfds():
    import tensorflow_datasets as tfds

    return tfds


def _store(root, name, config, version, features, splits):
    tfds = _tfds()
    builder = tfds.dataset_builders.store_as_tfds_dataset(
        name=name, config=config, version=version, features=features, data_dir=os.fspath(root),
        split_datasets=splits,
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    return os.fspath(builder.data_dir)


# --- Cityscapes -------------------------------------------------------------


def cityscapes_label_ids(rng, height, width) -> np.ndarray:
    """uint8 ``[H, W]`` labelIds: sky / building / sidewalk / road bands + rectangles."""
    label = np.empty((height, width), np.uint8)
    label[: height // 4] = 23
    label[height // 4: height // 2] = 11
    label[height // 2: 5 * height // 8] = 8
    label[5 * height // 8:] = 7
    for label_id in RECTANGLE_IDS:
        box_h = int(rng.integers(height // 8, height // 3))
        box_w = int(rng.integers(width // 16, width // 5))
        top = int(rng.integers(0, height - box_h))
        left = int(rng.integers(0, width - box_w))
        label[top: top + box_h, left: left + box_w] = label_id
    return label


def colour_image(label_ids, colours, rng, noise: int = 8) -> np.ndarray:
    """uint8 ``[H, W, 3]``: each pixel the colour of its id, plus uniform noise."""
    table = np.zeros((256, 3), np.int16)
    for key, colour in colours.items():
        table[key] = colour
    image = table[label_ids] + rng.integers(-noise, noise + 1, size=label_ids.shape + (3,))
    return np.clip(image, 0, 255).astype(np.uint8)


def write_cityscapes_fixture(root, num_train: int = 4, num_val: int = 2, height: int = 64,
                             width: int = 128, seed: int = 0, *, num_test: int = 1) -> Fixture:
    """Write ``root/cityscapes/semantic_segmentation/1.0.0`` (train / validation / test).

    Features as the real builder: ``image_id`` Text, ``image_left`` PNG
    ``(height, width, 3)``, ``segmentation_label`` PNG ``(height, width, 1)``
    with labelIds (``use_colormap=True``). ``examples[split]`` items:
    ``{"image_id": str, "image": uint8 [H, W, 3], "label_ids": uint8 [H, W]}``.
    """
    tfds = _tfds()
    rng = np.random.default_rng(seed)
    features = tfds.features.FeaturesDict({
        "image_id": tfds.features.Text(),
        "image_left": tfds.features.Image(shape=(height, width, 3), encoding_format="png"),
        "segmentation_label": tfds.features.Image(shape=(height, width, 1), encoding_format="png",
                                                  use_colormap=True),
    })
    examples, splits = {}, {}
    cities = {"train": "aachen", "validation": "frankfurt", "test": "berlin"}
    for split, count in (("train", num_train), ("validation", num_val), ("test", num_test)):
        examples[split] = []
        for index in range(count):
            label_ids = cityscapes_label_ids(rng, height, width)
            image = colour_image(label_ids, CITYSCAPES_COLOURS, rng)
            if split == "test":  # the real test labels carry no information
                label_ids = np.zeros_like(label_ids)
            examples[split].append({"image_id": f"{cities[split]}_{index:06d}_000019",
                                    "image": image, "label_ids": label_ids})
        splits[split] = [(item["image_id"], {"image_id": item["image_id"],
                                             "image_left": item["image"],
                                             "segmentation_label": item["label_ids"][..., None]})
                         for item in examples[split]]
    builder_dir = _store(root, "cityscapes", "semantic_segmentation", CITYSCAPES_VERSION,
                         features, splits)
    return Fixture(os.fspath(root), builder_dir, "cityscapes/semantic_segmentation", examples)


# --- COCO 2017 --------------------------------------------------------------


def coco_image_size(index: int, height: int, width: int) -> tuple[int, int]:
    """Even images ``(height, width)``; odd ones taller than wide (both letterbox cases)."""
    return (height, width) if index % 2 == 0 else (width - height // 4, height)


def _coco_objects(rng, image_hw, crowd: bool, next_id: int) -> list[dict]:
    """1..3 non-overlapping rectangles in the cells of a 2 x 2 grid (+ a crowd one)."""
    height, width = image_hw
    cells = rng.permutation(4)[: int(rng.integers(1, 4)) + int(crowd)]
    objects = []
    for number, cell in enumerate(cells):
        cell_y, cell_x = (cell // 2) * height // 2, (cell % 2) * width // 2
        box_h = int(rng.integers(height // 6, height // 2 - 4))
        box_w = int(rng.integers(width // 6, width // 2 - 4))
        top = cell_y + int(rng.integers(2, height // 2 - box_h - 1))
        left = cell_x + int(rng.integers(2, width // 2 - box_w - 1))
        is_crowd = crowd and number == 0
        objects.append({"box": (top, left, top + box_h, left + box_w),  # pixels, end exclusive
                        "label": 0 if is_crowd else int(rng.choice(COCO_LABELS)),
                        "is_crowd": is_crowd, "area": box_h * box_w, "id": next_id + number})
    return objects


def coco_image(rng, image_hw, objects) -> np.ndarray:
    """uint8 ``[H, W, 3]``: gray gradient + noise, each object a rectangle of its colour."""
    height, width = image_hw
    ramp = np.linspace(90, 160, width)[None, :, None]
    image = np.broadcast_to(ramp, (height, width, 3)) + rng.integers(-6, 7, (height, width, 3))
    for obj in objects:
        top, left, bottom, right = obj["box"]
        image[top:bottom, left:right] = COCO_COLOURS[obj["label"]]
    return np.clip(image, 0, 255).astype(np.uint8)


def write_coco_fixture(root, num_train: int = 4, num_val: int = 2, height: int = 96,
                       width: int = 128, seed: int = 0, *, num_test: int = 1) -> Fixture:
    """Write ``root/coco/2017/1.1.0`` (train / validation / test).

    Features as the real builder: ``image`` JPEG (variable size; odd-numbered
    images are ``(width - height // 4, height)``), ``image/filename``,
    ``image/id`` int64, ``objects`` = Sequence of {``area`` int64, ``bbox``
    normalized yxyx, ``id`` int64, ``is_crowd`` bool, ``label``
    ClassLabel(80)}. The first image of train and validation has one crowd
    object (label 0); test images have no objects (like the real test split).
    ``examples[split]`` items: ``{"image_id": int, "filename": str, "image":
    uint8 [h, w, 3], "objects": [{"box": (top, left, bottom, right) pixels
    (end exclusive), "label", "is_crowd", "area", "id"}]}``.
    """
    tfds = _tfds()
    rng = np.random.default_rng(seed)
    features = tfds.features.FeaturesDict({
        "image": tfds.features.Image(encoding_format="jpeg"),
        "image/filename": tfds.features.Text(),
        "image/id": np.int64,
        "objects": tfds.features.Sequence({
            "id": np.int64,
            "area": np.int64,
            "bbox": tfds.features.BBoxFeature(),
            "label": tfds.features.ClassLabel(num_classes=80),
            "is_crowd": np.bool_,
        }),
    })
    examples, splits, next_id = {}, {}, 1
    for split_number, (split, count) in enumerate(
            (("train", num_train), ("validation", num_val), ("test", num_test))):
        examples[split] = []
        for index in range(count):
            image_hw = coco_image_size(index, height, width)
            objects = ([] if split == "test" else
                       _coco_objects(rng, image_hw, crowd=index == 0, next_id=next_id))
            next_id += len(objects)
            image_id = 1000 * (split_number + 1) + index
            examples[split].append({"image_id": image_id, "filename": f"{image_id:012d}.jpg",
                                    "image": coco_image(rng, image_hw, objects),
                                    "objects": objects})
        splits[split] = [(item["filename"], _coco_record(tfds, item)) for item in examples[split]]
    builder_dir = _store(root, "coco", "2017", COCO_VERSION, features, splits)
    return Fixture(os.fspath(root), builder_dir, "coco/2017", examples)


def _coco_record(tfds, item) -> dict:
    height, width = item["image"].shape[:2]

    def bbox(box):
        top, left, bottom, right = box
        return tfds.features.BBox(ymin=top / height, xmin=left / width,
                                  ymax=bottom / height, xmax=right / width)

    return {"image": item["image"], "image/filename": item["filename"],
            "image/id": item["image_id"],
            "objects": [{"id": obj["id"], "area": obj["area"], "bbox": bbox(obj["box"]),
                         "label": obj["label"], "is_crowd": obj["is_crowd"]}
                        for obj in item["objects"]]}
