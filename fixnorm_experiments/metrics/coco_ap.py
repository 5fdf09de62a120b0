"""COCO-style bounding-box AP and AR in numpy (pycocotools' COCOeval, bbox).

The algorithm is pycocotools' ``COCOeval`` for ``iouType="bbox"`` with its
default parameters, step for step, so the numbers agree with it to rounding:

- IoU thresholds 0.50:0.05:0.95, 101 recall points 0:0.01:1, detections
  capped at 1, 10 and `max_detections` (100) per image *and category* (the
  highest-scoring; pycocotools caps per category, not per image), area
  ranges all, small (area <= 32**2), medium (32**2 .. 96**2) and large
  (>= 96**2), bounds inclusive on both sides as in pycocotools.
- Per image and category, detections sorted by score (stable: ties keep
  input order) are matched greedily, at each IoU threshold, to the unmatched
  ground truth (gt) of highest IoU >= the threshold; a gt that is not ignored
  is preferred to an ignored one (ties in IoU go to the later gt).
- Crowd gts (``is_crowd``) are always ignored, their IoU with a detection is
  intersection / detection area, and they can absorb any number of
  detections. Gts whose area is outside the area range are ignored (but can
  be used up). A detection matched to an ignored gt is ignored, and so is an
  unmatched detection whose own box area is outside the area range.
- Precision at each recall point is the interpolated (monotone envelope)
  precision of all images' detections of a category sorted by score (ties:
  lower image id first); recall is the recall after all of them. A category
  with no non-ignored gt in an area range has no value there and is left out
  of that range's means.

Boxes are COCO's ``[x, y, width, height]`` (xywh), in pixels; use
`yxyx_to_xywh` or `xyxy_to_xywh` to convert corner boxes. Areas are
compared with 32**2 and 96**2, so boxes must be in pixels of the original
image for APs/APm/APl to mean what COCO means.

Undefined values are -1.0, as in pycocotools' ``stats``: e.g. APs when no
category has a non-ignored small gt, or every stat when there is no gt at
all. Check for ``< 0`` before averaging them.

Nothing here imports TensorFlow; tensors are read with ``np.asarray``.
"""

import numpy as np

# Exactly pycocotools' arrays (np.linspace, not np.arange, whose points drift).
IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
AREA_RANGES = {
    "all": (0.0, 1e5 ** 2),
    "small": (0.0, 32.0 ** 2),
    "medium": (32.0 ** 2, 96.0 ** 2),
    "large": (96.0 ** 2, 1e5 ** 2),
}
_AREAS = list(AREA_RANGES)
_AP_SUFFIX = {"small": "s", "medium": "m", "large": "l"}


def yxyx_to_xywh(boxes):
    """``[ymin, xmin, ymax, xmax]`` boxes (TF/Keras-CV "yxyx") to COCO xywh.

    Args:
        boxes: array [..., 4].
    """
    boxes = np.asarray(boxes, np.float64)
    y0, x0, y1, x1 = np.moveaxis(boxes, -1, 0)
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=-1)


def xyxy_to_xywh(boxes):
    """``[xmin, ymin, xmax, ymax]`` boxes to COCO xywh.

    Args:
        boxes: array [..., 4].
    """
    boxes = np.asarray(boxes, np.float64)
    x0, y0, x1, y1 = np.moveaxis(boxes, -1, 0)
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=-1)


def box_iou(detections, ground_truth, is_crowd=None):
    """IoU of every detection with every gt, as pycocotools computes it.

    Args:
        detections: xywh boxes [D, 4].
        ground_truth: xywh boxes [G, 4].
        is_crowd: bools [G] (default all False); for a crowd gt the "IoU" is
            intersection / detection area.

    Returns:
        float64 array [D, G].
    """
    det = np.asarray(detections, np.float64).reshape(-1, 4)
    gt = np.asarray(ground_truth, np.float64).reshape(-1, 4)
    crowd = np.zeros(len(gt), bool) if is_crowd is None else np.asarray(is_crowd, bool)
    d, g = det[:, None, :], gt[None, :, :]
    # Same operations in the same order as pycocotools' bbIou (maskApi.c).
    w = np.minimum(d[..., 2] + d[..., 0], g[..., 2] + g[..., 0]) - np.maximum(d[..., 0], g[..., 0])
    h = np.minimum(d[..., 3] + d[..., 1], g[..., 3] + g[..., 1]) - np.maximum(d[..., 1], g[..., 1])
    overlap = (w > 0) & (h > 0)
    inter = np.where(overlap, w * h, 0.0)
    det_area = d[..., 2] * d[..., 3]
    union = np.where(crowd[None, :], det_area, det_area + g[..., 2] * g[..., 3] - inter)
    out = np.zeros(inter.shape)
    np.divide(inter, union, out=out, where=overlap)
    return out


def _array(record, key, shape, dtype, what):
    try:
        value = np.asarray(record[key])
    except KeyError:
        raise ValueError(f"{what} has no {key!r}") from None
    if value.size == 0:
        value = value.reshape((0,) if len(shape) == 1 else (0, 4))
    if value.dtype.kind not in "biuf":
        raise ValueError(f"{what}[{key!r}] must be numeric, got dtype {value.dtype}")
    if value.ndim != len(shape) or (len(shape) == 2 and value.shape[1] != 4):
        raise ValueError(f"{what}[{key!r}] must have shape {shape}, got {value.shape}")
    return value if dtype is None else value.astype(dtype)


def _read_image(record, what, detections):
    """Validated arrays of one image's gt or detections."""
    if not isinstance(record, dict):
        raise ValueError(f"{what} must be a dict, got {type(record).__name__}")
    boxes = _array(record, "boxes", ("N", 4), np.float64, what)
    n = len(boxes)
    labels = _array(record, "labels", ("N",), None, what)
    if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
        raise ValueError(f"{what}['labels'] must be integral category ids")
    out = {"boxes": boxes, "labels": labels.astype(np.int64)}
    if detections:
        out["scores"] = _array(record, "scores", ("N",), np.float64, what)
    else:
        out["is_crowd"] = (_array(record, "is_crowd", ("N",), bool, what)
                           if record.get("is_crowd") is not None else np.zeros(n, bool))
        out["area"] = (_array(record, "area", ("N",), np.float64, what)
                       if record.get("area") is not None else boxes[:, 2] * boxes[:, 3])
    for key, value in out.items():
        if len(value) != n:
            raise ValueError(f"{what}[{key!r}] has {len(value)} entries for {n} boxes")
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise ValueError(f"{what}[{key!r}] must be finite")
    if np.any(boxes[:, 2:] < 0):
        raise ValueError(f"{what}['boxes'] must be xywh with width, height >= 0 "
                         "(corner boxes? see yxyx_to_xywh / xyxy_to_xywh)")
    return out


def _match(iou, gt_ignore, is_crowd, det_outside):
    """Greedy matching of score-sorted detections at every IoU threshold.

    Args:
        iou: [D, G] IoUs, detections sorted by score.
        gt_ignore: bools [G].
        is_crowd: bools [G].
        det_outside: bools [D], detection area outside the area range.

    Returns:
        (matched, ignored), bools [T, D].
    """
    num_det, num_gt = iou.shape
    matched = np.zeros((len(IOU_THRESHOLDS), num_det), bool)
    ignored = np.zeros_like(matched)
    if num_gt and num_det:
        groups = (~gt_ignore, gt_ignore)  # COCOeval scans non-ignored gts first
        best_iou = iou.max(axis=1)
        for t, threshold in enumerate(IOU_THRESHOLDS):
            threshold = min(threshold, 1 - 1e-10)
            used = np.zeros(num_gt, bool)
            for d in np.flatnonzero(best_iou >= threshold):  # the others match nothing
                above = (iou[d] >= threshold) & ~used
                for group in groups:
                    candidates = np.flatnonzero(above & group)
                    if len(candidates):
                        best = iou[d, candidates]
                        # COCOeval keeps the later gt on equal IoU.
                        m = candidates[len(best) - 1 - np.argmax(best[::-1])]
                        matched[t, d] = True
                        ignored[t, d] = gt_ignore[m]
                        used[m] = not is_crowd[m]  # a crowd gt is never used up
                        break
    ignored |= ~matched & det_outside[None, :]
    return matched, ignored


def _evaluate_image(gt, det, max_detections):
    """Per-category matches of one image.

    Returns:
        {category: (scores [D], matched [A, T, D], ignored [A, T, D],
        num_gt [A])} with detections sorted by score and cut at
        `max_detections`, for every category with a gt or a detection.
    """
    out = {}
    for category in np.union1d(gt["labels"], det["labels"]):
        g = gt["labels"] == category
        d = np.flatnonzero(det["labels"] == category)
        d = d[np.argsort(-det["scores"][d], kind="mergesort")][:max_detections]
        boxes, scores = det["boxes"][d], det["scores"][d]
        crowd, gt_area = gt["is_crowd"][g], gt["area"][g]
        iou = box_iou(boxes, gt["boxes"][g], crowd)
        det_area = boxes[:, 2] * boxes[:, 3]
        matched, ignored, num_gt = [], [], []
        for name in _AREAS:
            low, high = AREA_RANGES[name]
            gt_ignore = crowd | (gt_area < low) | (gt_area > high)
            m, i = _match(iou, gt_ignore, crowd, (det_area < low) | (det_area > high))
            matched.append(m)
            ignored.append(i)
            num_gt.append(int(np.count_nonzero(~gt_ignore)))
        out[int(category)] = (scores, np.array(matched), np.array(ignored), np.array(num_gt))
    return out


def _max_dets(max_detections):
    if isinstance(max_detections, bool) or not isinstance(max_detections, (int, np.integer)) \
            or max_detections < 1:
        raise ValueError(f"max_detections must be an integer >= 1, got {max_detections!r}")
    return sorted({m for m in (1, 10, int(max_detections)) if m <= max_detections})


def _precision_recall(per_image, max_dets):
    """COCOeval.accumulate: precision [T, R, K, A, M], recall [T, K, A, M].

    Args:
        per_image: list of `_evaluate_image` results, in image-id order.
        max_dets: sorted detection caps.

    Returns:
        (categories, precision, recall); -1 where a category has no
        non-ignored gt.
    """
    categories = sorted({c for image in per_image for c in image})
    shape_t, shape_r = len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS)
    precision = -np.ones((shape_t, shape_r, len(categories), len(_AREAS), len(max_dets)))
    recall = -np.ones((shape_t, len(categories), len(_AREAS), len(max_dets)))
    for k, category in enumerate(categories):
        results = [image[category] for image in per_image if category in image]
        for a in range(len(_AREAS)):
            num_gt = sum(int(r[3][a]) for r in results)
            if num_gt == 0:
                continue
            for m, cap in enumerate(max_dets):
                scores = np.concatenate([r[0][:cap] for r in results])
                order = np.argsort(-scores, kind="mergesort")
                matched = np.concatenate([r[1][a, :, :cap] for r in results], axis=1)[:, order]
                ignored = np.concatenate([r[2][a, :, :cap] for r in results], axis=1)[:, order]
                tp = np.cumsum(matched & ~ignored, axis=1).astype(float)
                fp = np.cumsum(~matched & ~ignored, axis=1).astype(float)
                num = tp.shape[1]
                rc = tp / num_gt
                pr = tp / (fp + tp + np.spacing(1))
                pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # envelope
                recall[:, k, a, m] = rc[:, -1] if num else 0.0
                for t in range(shape_t):
                    index = np.searchsorted(rc[t], RECALL_THRESHOLDS, side="left")
                    q = np.zeros(shape_r)
                    reached = index < num
                    q[reached] = pr[t, index[reached]]
                    precision[t, :, k, a, m] = q
    return categories, precision, recall


def _mean(values):
    """COCOeval.summarize's mean over defined entries, -1 if none."""
    values = values[values > -1]
    return float(np.mean(values)) if values.size else -1.0


def _summarize(precision, recall, max_dets):
    last = len(max_dets) - 1
    area = {name: i for i, name in enumerate(_AREAS)}
    t50 = int(np.flatnonzero(IOU_THRESHOLDS == 0.5)[0])
    t75 = int(np.flatnonzero(IOU_THRESHOLDS == 0.75)[0])
    stats = {
        "AP": _mean(precision[:, :, :, 0, last]),
        "AP50": _mean(precision[t50, :, :, 0, last]),
        "AP75": _mean(precision[t75, :, :, 0, last]),
    }
    for name in ("small", "medium", "large"):
        stats["AP" + _AP_SUFFIX[name]] = _mean(precision[:, :, :, area[name], last])
    for m, cap in enumerate(max_dets):
        stats[f"AR{cap}"] = _mean(recall[:, :, 0, m])
    for name in ("small", "medium", "large"):
        stats["AR" + _AP_SUFFIX[name]] = _mean(recall[:, :, area[name], last])
    return stats


class CocoAPAccumulator:
    """COCO bbox AP/AR, fed one image at a time.

    Matching happens in `add`; only the per-image matches (not the boxes)
    are kept, and `result` ranks them across images. Images may be added in
    any order: ties in score across images are broken by image id, as
    pycocotools does.

    Args:
        max_detections: most detections kept per image and category (the
            highest-scoring); the cap of AP and of the last AR.
    """

    def __init__(self, max_detections=100):
        self.max_dets = _max_dets(max_detections)
        self.reset()

    def reset(self):
        """Forget every image added so far."""
        self._images = {}

    def add(self, ground_truth_image, detections_image=None):
        """Match one image's detections to its gt.

        Args:
            ground_truth_image: dict with ``image_id`` (int, or any sortable
                key), ``boxes`` [N, 4] xywh, ``labels`` [N] integer category
                ids, and optionally ``is_crowd`` [N] (bools, default False)
                and ``area`` [N] (default box width * height; COCO json gives
                the segment area). An image without objects has N = 0.
            detections_image: dict with ``boxes`` [D, 4] xywh, ``labels``
                [D], ``scores`` [D], and optionally ``image_id`` (must match);
                None for no detections.
        """
        if not isinstance(ground_truth_image, dict) or "image_id" not in ground_truth_image:
            raise ValueError("ground_truth_image must be a dict with an 'image_id'")
        image_id = ground_truth_image["image_id"]
        if image_id in self._images:
            raise ValueError(f"image_id {image_id!r} was already added")
        gt = _read_image(ground_truth_image, f"ground truth of image {image_id!r}", False)
        if detections_image is None:
            detections_image = {"boxes": np.zeros((0, 4)), "labels": [], "scores": []}
        elif isinstance(detections_image, dict) and \
                detections_image.get("image_id", image_id) != image_id:
            raise ValueError(f"detections of image {detections_image['image_id']!r} given "
                             f"with the ground truth of image {image_id!r}")
        det = _read_image(detections_image, f"detections of image {image_id!r}", True)
        self._images[image_id] = _evaluate_image(gt, det, self.max_dets[-1])

    def _accumulate(self):
        per_image = [self._images[i] for i in sorted(self._images)]
        return _precision_recall(per_image, self.max_dets)

    def result(self):
        """The summary statistics of every image added.

        Returns:
            dict of floats in [0, 1], -1.0 where undefined: ``AP`` (mean over
            IoU 0.50:0.95, area all), ``AP50``, ``AP75``, ``APs``, ``APm``,
            ``APl``, ``AR1``, ``AR10``, ``AR<max_detections>`` (``AR100``),
            ``ARs``, ``ARm``, ``ARl`` -- pycocotools' 12 ``stats`` in order.
        """
        _, precision, recall = self._accumulate()
        return _summarize(precision, recall, self.max_dets)

    def per_category_ap(self):
        """{category id: AP at IoU 0.50:0.95, area all}, -1.0 for a category
        with no non-ignored gt (only crowd gts, or only detections)."""
        categories, precision, _ = self._accumulate()
        return {c: _mean(precision[:, :, k, 0, -1]) for k, c in enumerate(categories)}


def evaluate(ground_truth, detections, max_detections=100):
    """COCO bbox AP/AR of a data set (pycocotools' COCOeval, bbox).

    Args:
        ground_truth: list of per-image dicts ``{image_id, boxes [N, 4] xywh,
            labels [N], is_crowd [N] (optional), area [N] (optional)}``, one
            per evaluated image, image ids unique. Images with no objects
            still count (their detections are false positives).
        detections: list of per-image dicts ``{image_id, boxes [D, 4] xywh,
            labels [D], scores [D]}``, at most one per image; an image
            missing here has no detections.
        max_detections: most detections kept per image and category
            (highest scores), as in pycocotools.

    Returns:
        See `CocoAPAccumulator.result`.

    Raises:
        ValueError: duplicate image ids, detections for an image that has no
            ground-truth entry, or malformed arrays.
    """
    by_id = {}
    for record in detections:
        if not isinstance(record, dict) or "image_id" not in record:
            raise ValueError("every detections entry must be a dict with an 'image_id'")
        if record["image_id"] in by_id:
            raise ValueError(f"two detections entries for image_id {record['image_id']!r}")
        by_id[record["image_id"]] = record
    gt_ids = {record.get("image_id") for record in ground_truth if isinstance(record, dict)}
    unknown = [i for i in by_id if i not in gt_ids]
    if unknown:
        raise ValueError(f"detections for image ids with no ground-truth entry: {unknown[:10]}")
    accumulator = CocoAPAccumulator(max_detections)
    for record in ground_truth:
        image_id = record.get("image_id") if isinstance(record, dict) else None
        accumulator.add(record, by_id.get(image_id))
    return accumulator.result()
