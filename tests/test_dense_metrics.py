"""Segmentation mIoU and COCO bbox AP (fixnorm_experiments.metrics), by hand and against
keras.metrics.MeanIoU and pycocotools."""

import contextlib
import io

import numpy as np
import pytest

from fixnorm_experiments.metrics import coco_ap, segmentation as seg

# ---------------------------------------------------------------- segmentation

# 6 pixels, the last one ignored. Counted (label, prediction) pairs:
# (0,0) (0,1) (1,1) (1,1) (2,0).
LABELS = np.array([[0, 0, 1], [1, 2, 255]])
PREDS = np.array([[0, 1, 1], [1, 0, 7]])  # 7 at the ignored pixel is not looked at


def test_confusion_matrix_by_hand():
    m = seg.confusion_matrix(LABELS, PREDS, 3)
    assert m.dtype == np.int64
    np.testing.assert_array_equal(m, [[1, 1, 0], [0, 2, 0], [1, 0, 0]])


def test_iou_mean_iou_and_pixel_accuracy_by_hand():
    m = seg.confusion_matrix(LABELS, PREDS, 3)
    # class 0: TP 1, union row 2 + column 2 - 1 = 3; class 1: 2 / (2 + 3 - 2);
    # class 2: TP 0 of a row of 1.
    np.testing.assert_allclose(seg.iou_from_confusion(m), [1 / 3, 2 / 3, 0.0])
    assert seg.mean_iou(m) == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)
    assert seg.pixel_accuracy(m) == pytest.approx(3 / 5)


def test_absent_class_is_nan_and_left_out_of_the_mean_but_predicted_only_counts():
    m = seg.confusion_matrix(LABELS, PREDS, 5)  # classes 3 and 4 never seen
    iou = seg.iou_from_confusion(m)
    assert np.isnan(iou[3:]).all()
    assert seg.mean_iou(m) == pytest.approx(1 / 3)  # same as with 3 classes
    # Class 3 predicted once but never labelled: IoU 0, and it does count.
    m2 = seg.confusion_matrix([0, 1, 1], [0, 1, 3], 5)
    np.testing.assert_allclose(seg.iou_from_confusion(m2)[:4], [1.0, 0.5, np.nan, 0.0])
    assert seg.mean_iou(m2) == pytest.approx(1.5 / 3)
    assert np.isnan(seg.mean_iou(np.zeros((3, 3))))


def test_ignore_label_none_counts_every_pixel_and_bad_ids_raise():
    m = seg.confusion_matrix([0, 1, 2], [0, 1, 1], 3, ignore_label=None)
    assert m.sum() == 3
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        seg.confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="labels must lie"):
        seg.confusion_matrix([0, 255], [0, 1], 3, ignore_label=None)
    with pytest.raises(ValueError, match="predictions must lie"):
        seg.confusion_matrix([0, 1], [0, -1], 3)
    with pytest.raises(ValueError, match="same shape"):
        seg.confusion_matrix([0, 1], [0, 1, 1], 3)
    with pytest.raises(ValueError, match="integral"):
        seg.confusion_matrix([0.5], [0], 3)
    with pytest.raises(ValueError, match="num_classes"):
        seg.confusion_matrix([0], [0], 0)
    with pytest.raises(ValueError, match="square"):
        seg.mean_iou(np.zeros((2, 3)))


def _random_batch(rng, shape, num_classes, ignore_fraction=0.1):
    labels = rng.integers(0, num_classes, shape)
    labels[rng.random(shape) < ignore_fraction] = 255
    logits = rng.standard_normal(shape + (num_classes,)).astype("float32")
    # Make predictions better than chance so IoUs are not all alike.
    onehot = np.eye(num_classes, dtype="float32")[np.where(labels == 255, 0, labels)]
    return labels, logits + 1.5 * onehot


def test_accumulator_over_batches_equals_one_shot():
    rng = np.random.default_rng(1)
    batches = [_random_batch(rng, (2, 9, 11), 6) for _ in range(3)]
    acc = seg.MeanIoUAccumulator(6)
    for labels, logits in batches:
        acc.update(labels, logits)
    all_labels = np.concatenate([b[0] for b in batches])
    all_preds = np.concatenate([b[1] for b in batches]).argmax(-1)
    one_shot = seg.confusion_matrix(all_labels, all_preds, 6)
    np.testing.assert_array_equal(acc.matrix, one_shot)
    result = acc.result()
    assert result["mean_iou"] == seg.mean_iou(one_shot)
    np.testing.assert_array_equal(result["per_class_iou"], seg.iou_from_confusion(one_shot))
    kept = all_labels != 255
    assert result["pixel_accuracy"] == pytest.approx(np.mean(all_preds[kept] == all_labels[kept]))
    # Class-id predictions give the same matrix as the logits they come from.
    acc2 = seg.MeanIoUAccumulator(6)
    for labels, logits in batches:
        acc2.update(labels, logits.argmax(-1))
    np.testing.assert_array_equal(acc2.matrix, one_shot)
    acc2.reset()
    assert acc2.matrix.sum() == 0
    with pytest.raises(ValueError, match="logits"):
        acc2.update(batches[0][0], batches[0][1][..., :5])


@pytest.mark.parametrize("absent", [False, True])
def test_matches_keras_mean_iou(absent):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(2)
    num_classes = 5
    labels, logits = _random_batch(rng, (3, 16, 16), num_classes)
    if absent:
        # Class 4 neither labelled nor predicted: we give NaN and skip it,
        # Keras skips classes whose TP + FP + FN is 0. Both are nanmeans.
        labels[labels == 4] = 255
        logits[..., 4] = -100.0
    acc = seg.MeanIoUAccumulator(num_classes)
    acc.update(labels, logits)
    ours = acc.result()
    assert np.isnan(ours["per_class_iou"][4]) == absent
    metric = keras.metrics.MeanIoU(num_classes, ignore_class=255, sparse_y_pred=False)
    metric.update_state(labels, logits)
    np.testing.assert_array_equal(np.asarray(metric.total_cm), acc.matrix)
    assert float(metric.result()) == pytest.approx(ours["mean_iou"], rel=1e-5)
    # Not a coincidence of the random case: a plain mean over all 5 classes
    # (NaN as 0) would differ when a class is absent.
    if absent:
        assert np.nan_to_num(ours["per_class_iou"]).mean() < 0.9 * ours["mean_iou"]


# -------------------------------------------------------------------- COCO AP

def gt(boxes, labels=None, image_id=1, **extra):
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    labels = np.ones(len(boxes), int) if labels is None else np.asarray(labels)
    return dict(image_id=image_id, boxes=boxes, labels=labels, **extra)


def det(boxes, scores, labels=None, image_id=1):
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    labels = np.ones(len(boxes), int) if labels is None else np.asarray(labels)
    return dict(image_id=image_id, boxes=boxes, labels=labels, scores=np.asarray(scores, float))


def one_image(g, d, **kwargs):
    return coco_ap.evaluate([g], [d], **kwargs)


def test_perfect_detection():
    r = one_image(gt([10, 10, 50, 50]), det([10, 10, 50, 50], [0.3]))  # area 2500: medium
    for key in ("AP", "AP50", "AP75", "APm", "AR1", "AR10", "AR100", "ARm"):
        # precision is tp / (tp + fp + eps) in pycocotools: 1 - 2e-16, not 1.
        assert r[key] == pytest.approx(1.0, abs=1e-12), key
    for key in ("APs", "APl", "ARs", "ARl"):  # no gt of that size: undefined
        assert r[key] == -1.0, key
    assert list(r) == ["AP", "AP50", "AP75", "APs", "APm", "APl",
                       "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]


@pytest.mark.parametrize("width, thresholds_passed", [(60, 3), (58, 2), (62, 3), (76, 6)])
def test_one_detection_at_a_given_iou(width, thresholds_passed):
    # gt 100x100 at the origin, detection width x 100 inside it: IoU = width / 100.
    # IoU 0.6 passes 0.50, 0.55 and 0.60 (the threshold is exactly 0.6 in
    # pycocotools' linspace): AP 0.3, not 0.2. IoU 0.58 passes two.
    r = one_image(gt([0, 0, 100, 100]), det([0, 0, width, 100], [0.9]))
    assert r["AP50"] == pytest.approx(1.0)
    assert r["AP75"] == pytest.approx(1.0 if width >= 75 else 0.0)
    assert r["AP"] == pytest.approx(thresholds_passed / 10)
    assert r["AR100"] == pytest.approx(thresholds_passed / 10)  # recall 1 or 0 per threshold


def test_higher_scoring_false_positive():
    # One gt; the 0.9 detection misses, the 0.8 one is perfect. Ranked:
    # FP, TP -> precision [0, 1/2], envelope [1/2, 1/2]; recall [0, 1].
    # Each of the 101 recall points picks 1/2: AP = 0.5 at every threshold.
    r = one_image(gt([0, 0, 40, 40]), det([[200, 200, 40, 40], [0, 0, 40, 40]], [0.9, 0.8]))
    assert r["AP"] == pytest.approx(0.5)
    assert (r["AR1"], r["AR10"]) == (0.0, 1.0)  # the top-1 detection is the miss


def test_interpolated_precision_by_hand():
    # Two gts; ranked detections TP, FP, TP. tp = [1, 1, 2], fp = [0, 1, 1],
    # recall = [.5, .5, 1], precision = [1, 1/2, 2/3] -> envelope [1, 2/3, 2/3].
    # Recall points 0.00 .. 0.50 (51 of them) take 1, 0.51 .. 1.00 (50) take 2/3.
    g = gt([[0, 0, 40, 40], [100, 0, 40, 40]])
    d = det([[0, 0, 40, 40], [300, 0, 40, 40], [100, 0, 40, 40]], [0.9, 0.8, 0.7])
    assert one_image(g, d)["AP"] == pytest.approx((51 + 50 * 2 / 3) / 101)
    # Only the first gt found: recall points 0 .. 0.5 at precision 1, the rest 0.
    assert one_image(g, det([0, 0, 40, 40], [0.9]))["AP"] == pytest.approx(51 / 101)


def test_greedy_matching_by_score():
    # All boxes 10 high at y = 0, so IoU is the x-overlap ratio.
    # gts A = x[0, 10], B = x[4, 14]. det1 (0.9) = x[1, 11]: IoU A 9/11 = .818,
    # B 7/13 = .538; det2 (0.8) = A exactly, IoU with B 6/14 = .43.
    # Thresholds .50-.80 (7): det1 takes A, det2 finds A used and B too far:
    #   TP, FP over 2 gts -> recall points 0..0.5 at precision 1: 51/101.
    # Thresholds .85-.95 (3): det1 misses, det2 takes A: FP, TP -> envelope
    #   1/2 on points 0..0.5: 25.5/101.
    g = gt([[0, 0, 10, 10], [4, 0, 10, 10]])
    d = det([[1, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.8])
    r = one_image(g, d)
    assert r["AP"] == pytest.approx((7 * 51 / 101 + 3 * 25.5 / 101) / 10)
    assert r["AR100"] == pytest.approx(0.5)


def test_equal_iou_goes_to_the_later_gt():
    # gts A = x[0, 10], B = x[4, 14]; det1 (0.9) = x[2, 12] has IoU 8/12 with
    # both and takes the later gt in input order; det2 (0.8) is exactly A.
    # So the order of the gts matters, as in pycocotools:
    # [A, B]: det1 -> B, det2 -> A at thresholds .50-.65 (4): AP 1 there;
    #   above, det1 misses and det2 -> A: FP, TP over 2 gts: 25.5/101.
    # [B, A]: det1 -> A, det2 finds A used (IoU with B 6/14): 51/101 at .50-.65.
    a, b = [0, 0, 10, 10], [4, 0, 10, 10]
    d = det([[2, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.8])
    assert one_image(gt([a, b]), d)["AP"] == pytest.approx((4 + 6 * 25.5 / 101) / 10)
    assert one_image(gt([b, a]), d)["AP"] == pytest.approx((4 * 51 / 101 + 6 * 25.5 / 101) / 10)


def test_a_normal_gt_is_preferred_to_a_better_overlapping_ignored_one():
    # Normal gt N = 100x100; crowd region C = the detection itself. IoU with
    # N is 0.6, crowd IoU with C is 1, yet the detection takes N at the
    # thresholds it can (.50, .55, .60) and only above them falls to C
    # (ignored; N then missed): AP = 3/10.
    g = gt([[0, 0, 100, 100], [0, 0, 60, 100]], is_crowd=[False, True])
    assert one_image(g, det([0, 0, 60, 100], [0.9]))["AP"] == pytest.approx(0.3)


def test_crowd_gt_absorbs_detections_and_is_ignored():
    g = gt([[0, 0, 40, 40], [100, 100, 200, 200]], is_crowd=[False, True])
    # One perfect detection, then two small ones inside the crowd region:
    # their crowd IoU (intersection / detection area) is 1, so they are
    # ignored, both of them (a crowd gt is never used up).
    d = det([[0, 0, 40, 40], [120, 120, 20, 20], [200, 200, 30, 30]], [0.5, 0.9, 0.8])
    r = one_image(g, d)
    assert (r["AP"], r["AR100"], r["APl"]) == (pytest.approx(1.0), 1.0, -1.0)  # crowd not counted
    # The same region as a normal gt: the two become false positives ranked
    # first and the big gt is missed.
    r2 = one_image(gt(g["boxes"]), d)
    assert r2["AP"] < 0.5 and r2["AR100"] == pytest.approx(0.5)


def test_crowd_iou_is_intersection_over_detection_area():
    g = np.array([[0, 0, 100, 100]], float)
    d = np.array([[50, 0, 100, 100]], float)  # half inside
    assert coco_ap.box_iou(d, g)[0, 0] == pytest.approx(5000 / 15000)
    assert coco_ap.box_iou(d, g, [True])[0, 0] == pytest.approx(0.5)
    # A detection half inside a crowd region: ignored at IoU 0.5, a false
    # positive above -> with a perfect detection of a normal gt ranked below
    # it, AP is 1 at threshold .5 and 0.5 at the other nine.
    gts = gt([[0, 0, 100, 100], [300, 0, 40, 40]], is_crowd=[True, False])
    dets = det([[50, 0, 100, 100], [300, 0, 40, 40]], [0.9, 0.8])
    assert one_image(gts, dets)["AP"] == pytest.approx((1 + 9 * 0.5) / 10)


def test_area_ranges():
    # S: 20x20 (small), L: 100x100 (large); each found by a perfect detection.
    g = gt([[0, 0, 20, 20], [100, 100, 100, 100]])
    d = det([[100, 100, 100, 100], [0, 0, 20, 20]], [0.9, 0.8])
    r = one_image(g, d)
    # In the small range the detection of L matches an ignored gt: ignored,
    # not a false positive (and the other way round for large).
    assert [r["AP"], r["APs"], r["APm"], r["APl"]] == pytest.approx([1.0, 1.0, -1.0, 1.0])
    # A small false positive ranked first: a FP for "all" and "small"; for
    # "large" it is unmatched and outside the range, so ignored.
    d2 = det([[300, 300, 10, 10], [100, 100, 100, 100], [0, 0, 20, 20]], [0.95, 0.9, 0.8])
    r2 = one_image(g, d2)
    assert r2["APl"] == pytest.approx(1.0)
    assert r2["APs"] == pytest.approx(0.5)  # FP, TP: envelope 1/2 everywhere
    # all: FP, TP, TP over 2 gts: precision [0, 1/2, 2/3] -> envelope 2/3.
    assert r2["AP"] == pytest.approx(2 / 3)
    assert r2["ARs"] == 1.0 and r2["ARl"] == 1.0


def test_area_range_bounds_are_inclusive():
    # Area exactly 32**2 is both small and medium (pycocotools' ranges
    # [0, 32**2] and [32**2, 96**2] are closed).
    r = one_image(gt([0, 0, 32, 32]), det([0, 0, 32, 32], [0.9]))
    assert [r["APs"], r["APm"], r["APl"]] == pytest.approx([1.0, 1.0, -1.0])
    r = one_image(gt([0, 0, 96, 96]), det([0, 0, 96, 96], [0.9]))
    assert [r["APs"], r["APm"], r["APl"]] == pytest.approx([-1.0, 1.0, 1.0])
    # An unmatched 32x32 detection ranked first is a false positive for
    # medium (inside the range), not ignored: FP, TP -> 1/2.
    r = one_image(gt([0, 0, 50, 50]), det([[200, 0, 32, 32], [0, 0, 50, 50]], [0.9, 0.8]))
    assert r["APm"] == pytest.approx(0.5)
    r = one_image(gt([0, 0, 50, 50]), det([[200, 0, 31, 32], [0, 0, 50, 50]], [0.9, 0.8]))
    assert r["APm"] == pytest.approx(1.0)


def test_given_area_overrides_box_area():
    # A 100x100 box whose object (segment) covers 500 px: it counts as small.
    g = gt([0, 0, 100, 100], area=[500.0])
    r = one_image(g, det([0, 0, 100, 100], [0.9]))
    assert [r["APs"], r["APl"]] == pytest.approx([1.0, -1.0])
    assert one_image(gt([0, 0, 100, 100]), det([0, 0, 100, 100], [0.9]))["APl"] == pytest.approx(1)


def test_categories_without_gt_are_left_out():
    g = gt([[0, 0, 40, 40], [100, 0, 40, 40]], labels=[1, 3], is_crowd=[False, True])
    d = det([[0, 0, 40, 40], [0, 0, 40, 40], [100, 0, 40, 40]], [0.9, 0.95, 0.9],
            labels=[1, 2, 3])
    # Category 2 has only a detection, category 3 only a crowd gt: neither
    # has a value, so AP is category 1's alone.
    assert one_image(g, d)["AP"] == pytest.approx(1.0)
    acc = coco_ap.CocoAPAccumulator()
    acc.add(g, d)
    assert acc.per_category_ap() == {1: pytest.approx(1.0), 2: -1.0, 3: -1.0}
    # No gt at all: everything undefined.
    empty = coco_ap.evaluate([gt(np.zeros((0, 4)))], [det([0, 0, 5, 5], [0.5])])
    assert set(empty.values()) == {-1.0}


def test_images_without_detections_or_objects():
    gts = [gt([0, 0, 40, 40], image_id=1), gt([0, 0, 40, 40], image_id=2),
           gt(np.zeros((0, 4)), image_id=3)]
    dets = [det([0, 0, 40, 40], [0.5], image_id=1), det([0, 0, 9, 9], [0.9], image_id=3)]
    # Image 2's gt is missed; image 3's detection is a FP ranked first:
    # FP, TP over 2 gts: envelope 1/2 on recall points 0..0.5.
    assert coco_ap.evaluate(gts, dets)["AP"] == pytest.approx(25.5 / 101)


def test_max_detections_caps_each_image():
    boxes = [[i * 50, 0, 40, 40] for i in range(3)]
    r = one_image(gt(boxes), det(boxes, [0.9, 0.8, 0.7]))
    assert (r["AR1"], r["AR10"], r["AR100"]) == (pytest.approx(1 / 3), 1.0, 1.0)
    r2 = one_image(gt(boxes), det(boxes, [0.9, 0.8, 0.7]), max_detections=2)
    assert set(r2) >= {"AR1", "AR2"} and "AR10" not in r2
    assert r2["AR2"] == pytest.approx(2 / 3)
    # Recall reaches 2/3: points 0.00 .. 0.66 (67 of 101) at precision 1.
    assert r2["AP"] == pytest.approx(67 / 101)


def test_converters():
    yxyx = np.array([[10.0, 20.0, 50.0, 80.0]])
    np.testing.assert_array_equal(coco_ap.yxyx_to_xywh(yxyx), [[20, 10, 60, 40]])
    np.testing.assert_array_equal(coco_ap.xyxy_to_xywh(yxyx), [[10, 20, 40, 60]])


def test_accumulator_is_order_free_and_equals_evaluate():
    gts, dets = random_set(np.random.default_rng(5), num_images=12, num_classes=3, score_levels=5)
    expected = coco_ap.evaluate(gts, dets)
    by_id = {d["image_id"]: d for d in dets}
    acc = coco_ap.CocoAPAccumulator()
    for i in np.random.default_rng(0).permutation(len(gts)):
        acc.add(gts[i], by_id.get(gts[i]["image_id"]))
    assert acc.result() == expected
    assert 0.0 < expected["AP"] < 1.0


def test_bad_input():
    g = gt([0, 0, 10, 10])
    with pytest.raises(ValueError, match="no ground-truth entry"):
        coco_ap.evaluate([g], [det([0, 0, 10, 10], [0.5], image_id=2)])
    with pytest.raises(ValueError, match="two detections entries"):
        coco_ap.evaluate([g], [det([0, 0, 1, 1], [0.5]), det([0, 0, 1, 1], [0.5])])
    with pytest.raises(ValueError, match="already added"):
        coco_ap.evaluate([g, g], [])
    with pytest.raises(ValueError, match="width, height >= 0"):
        coco_ap.evaluate([gt([10, 10, -5, 5])], [])
    with pytest.raises(ValueError, match="1 entries for 2 boxes"):
        coco_ap.evaluate([g], [det([[0, 0, 1, 1], [0, 0, 2, 2]], [0.5])])
    with pytest.raises(ValueError, match="has no 'scores'"):
        coco_ap.evaluate([g], [dict(image_id=1, boxes=[[0, 0, 1, 1]], labels=[1])])
    with pytest.raises(ValueError, match="shape"):
        coco_ap.evaluate([gt([0, 0, 10, 10])], [dict(det([0, 0, 1, 1], [0.5]), boxes=[1, 2, 3])])
    with pytest.raises(ValueError, match="max_detections"):
        coco_ap.CocoAPAccumulator(0)


# ------------------------------------------------------- against pycocotools

def random_set(rng, num_images, num_classes, integer_boxes=False, score_levels=None,
               crowd_rate=0.1, many=False):
    """Synthetic gts and noisy detections spanning all area ranges."""
    gts, dets = [], []
    for image_id in range(1, num_images + 1):
        n = int(rng.integers(0, 8))
        wh = np.exp(rng.uniform(np.log(4), np.log(250), (n, 2)))
        xy = rng.uniform(0, 400, (n, 2))
        boxes = np.concatenate([xy, wh], 1)
        labels = rng.integers(1, num_classes + 1, n)
        crowd = rng.random(n) < crowd_rate
        # Some objects have a segment area smaller than their box.
        area = boxes[:, 2] * boxes[:, 3] * np.where(rng.random(n) < 0.3, rng.uniform(0.3, 1, n), 1)
        # Detections: jittered copies of most gts (some with a wrong label,
        # some twice), plus random false positives.
        copy = np.concatenate([np.flatnonzero(rng.random(n) < 0.8),
                               np.flatnonzero(rng.random(n) < 0.2)])
        copies, copy_labels = boxes[copy], labels[copy].copy()
        flip = rng.random(len(copy_labels)) < 0.1
        copy_labels[flip] = rng.integers(1, num_classes + 1, flip.sum())
        jitter = rng.normal(0, 0.12, copies.shape) * copies[:, [2, 3, 2, 3]]
        copies = copies + jitter
        num_fp = 300 if many and image_id == 1 else int(rng.integers(0, 5))
        fp = np.concatenate([rng.uniform(0, 400, (num_fp, 2)),
                             np.exp(rng.uniform(np.log(4), np.log(250), (num_fp, 2)))], 1)
        d_boxes = np.concatenate([copies, fp])
        d_boxes[:, 2:] = np.abs(d_boxes[:, 2:])
        d_labels = np.concatenate([copy_labels, rng.integers(1, num_classes + 1, num_fp)])
        scores = rng.random(len(d_boxes))
        if integer_boxes:
            boxes, d_boxes = np.round(boxes), np.round(d_boxes)
            area = boxes[:, 2] * boxes[:, 3]
        if score_levels:
            scores = np.round(scores * score_levels) / score_levels
        gts.append(dict(image_id=image_id, boxes=boxes, labels=labels, is_crowd=crowd, area=area))
        if len(d_boxes) or rng.random() < 0.5:
            dets.append(dict(image_id=image_id, boxes=d_boxes, labels=d_labels, scores=scores))
    return gts, dets


def pycocotools_stats(gts, dets, num_classes):
    """pycocotools' 12 bbox stats of the same data."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    annotations, results = [], []
    for g in gts:
        for box, label, crowd, area in zip(g["boxes"], g["labels"], g["is_crowd"], g["area"]):
            annotations.append(dict(id=len(annotations) + 1, image_id=g["image_id"],
                                    category_id=int(label), bbox=box.tolist(),
                                    area=float(area), iscrowd=int(crowd)))
    for d in dets:
        for box, label, score in zip(d["boxes"], d["labels"], d["scores"]):
            results.append(dict(image_id=d["image_id"], category_id=int(label),
                                bbox=box.tolist(), score=float(score)))
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = dict(images=[dict(id=g["image_id"]) for g in gts],
                            annotations=annotations,
                            categories=[dict(id=c) for c in range(1, num_classes + 1)])
        coco.createIndex()
        evaluator = COCOeval(coco, coco.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


@pytest.mark.parametrize("seed, options", [
    (0, dict(num_images=25, num_classes=4)),
    (1, dict(num_images=15, num_classes=6, crowd_rate=0.3)),
    (2, dict(num_images=20, num_classes=3, integer_boxes=True, score_levels=10)),  # ties
    # An image with > 100 detections of a class, many tied scores.
    (3, dict(num_images=8, num_classes=2, many=True, score_levels=20)),
    (4, dict(num_images=30, num_classes=8, score_levels=4, crowd_rate=0.0)),
])
def test_agrees_with_pycocotools(seed, options):
    pytest.importorskip("pycocotools")
    gts, dets = random_set(np.random.default_rng(seed), **options)
    ours = coco_ap.evaluate(gts, dets)
    theirs = pycocotools_stats(gts, dets, options["num_classes"])
    np.testing.assert_allclose(list(ours.values()), theirs, rtol=0, atol=1e-9)
    # The cases are not degenerate: every stat is defined, AP strictly inside.
    assert min(ours.values()) >= 0 and 0.01 < ours["AP"] < 0.99
