"""Semantic segmentation metrics from a confusion matrix, in numpy.

Conventions (those of the Cityscapes scripts and mmsegmentation):

- The confusion matrix has one row per ground-truth class and one column per
  predicted class: ``matrix[i, j]`` counts pixels labelled ``i`` and
  predicted ``j``. Pixels labelled ``ignore_label`` are not counted.
- A class's IoU is ``TP / (TP + FP + FN)``. A class that appears neither in
  the ground truth nor in the predictions has no IoU (NaN), and the mean IoU
  is the mean over the other classes (``nanmean``). A class that is predicted
  but absent from the ground truth has IoU 0 and does count.

Relation to ``keras.metrics.MeanIoU(num_classes, ignore_class=255,
sparse_y_pred=False)``: Keras builds the same matrix (same row/column
meaning) and, in Keras 3, averages the IoU only over classes whose
denominator ``TP + FP + FN`` is non-zero, which is the ``nanmean`` above; its
result differs from `mean_iou` only by float32 rounding and the ``1e-7``
epsilon it adds to each denominator. Two differences remain: Keras silently
drops pixels whose label or prediction is outside ``[0, num_classes)``, where
`confusion_matrix` raises (such values are bugs upstream, usually a wrong
``num_classes``), and Keras keeps no per-class IoU or pixel accuracy.

Nothing here imports TensorFlow; tensors are read with ``np.asarray``.
"""

import numpy as np


def _as_class_ids(x, name):
    """`x` as an int64 array, refusing non-integral values."""
    x = np.asarray(x)
    if x.dtype.kind in "iub":
        return x.astype(np.int64)
    if x.dtype.kind != "f":
        raise ValueError(f"{name} must hold class ids, got dtype {x.dtype}")
    if not np.all(np.isfinite(x)) or not np.all(x == np.round(x)):
        raise ValueError(f"{name} must hold integral class ids; got non-integral values")
    return x.astype(np.int64)


def _check_num_classes(num_classes):
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 1:
        raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
    return int(num_classes)


def confusion_matrix(labels, predictions, num_classes, ignore_label=255):
    """Pixel confusion matrix of one or many label maps.

    Args:
        labels: integer ground-truth class ids, any shape (e.g. [B, H, W]).
        predictions: predicted class ids, same shape as `labels`.
        num_classes: number of classes C; valid ids are 0 .. C-1.
        ignore_label: label value whose pixels are not counted (their
            prediction is not looked at either); None to count every pixel.

    Returns:
        int64 array [C, C]; rows are ground truth, columns predictions.

    Raises:
        ValueError: shapes differ, or a counted pixel has a label or a
            prediction outside [0, C).
    """
    num_classes = _check_num_classes(num_classes)
    labels = _as_class_ids(labels, "labels")
    predictions = _as_class_ids(predictions, "predictions")
    if labels.shape != predictions.shape:
        raise ValueError(f"labels and predictions must have the same shape, got "
                         f"{labels.shape} and {predictions.shape}")
    labels, predictions = labels.ravel(), predictions.ravel()
    if ignore_label is not None:
        keep = labels != ignore_label
        labels, predictions = labels[keep], predictions[keep]
    for name, ids in (("labels", labels), ("predictions", predictions)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
            bad = ids[(ids < 0) | (ids >= num_classes)]
            raise ValueError(f"{name} must lie in [0, {num_classes}) (ignore_label="
                             f"{ignore_label}), got {np.unique(bad)[:10].tolist()}")
    counts = np.bincount(labels * num_classes + predictions, minlength=num_classes ** 2)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def _check_matrix(matrix):
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"confusion matrix must be square [C, C], got shape {matrix.shape}")
    if np.any(matrix < 0):
        raise ValueError("confusion matrix must not hold negative counts")
    return matrix


def iou_from_confusion(matrix):
    """Per-class IoU ``TP / (TP + FP + FN)`` of a confusion matrix.

    Args:
        matrix: [C, C] counts, rows ground truth, columns predictions.

    Returns:
        float64 array [C]; NaN for a class absent from both ground truth and
        predictions (row and column empty), 0 for a class only predicted.
    """
    matrix = _check_matrix(matrix).astype(np.float64)
    true_positives = np.diag(matrix)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - true_positives
    iou = np.full(len(true_positives), np.nan)
    present = union > 0
    iou[present] = true_positives[present] / union[present]
    return iou


def mean_iou(matrix):
    """Mean IoU over the classes that have one (Cityscapes/mmseg ``nanmean``).

    Classes absent from both ground truth and predictions are left out of
    the mean rather than counted as 0 or 1. NaN if no class has an IoU (an
    empty matrix).

    Args:
        matrix: [C, C] counts, rows ground truth, columns predictions.
    """
    iou = iou_from_confusion(matrix)
    present = ~np.isnan(iou)
    return float(np.mean(iou[present])) if np.any(present) else float("nan")


def pixel_accuracy(matrix):
    """Fraction of counted pixels predicted correctly; NaN if none counted.

    Args:
        matrix: [C, C] counts, rows ground truth, columns predictions.
    """
    matrix = _check_matrix(matrix)
    total = matrix.sum()
    return float(np.trace(matrix) / total) if total > 0 else float("nan")


class MeanIoUAccumulator:
    """Confusion matrix summed over batches, for an evaluation loop.

    Args:
        num_classes: number of classes C.
        ignore_label: label value not counted; None to count every pixel.

    Example::

        acc = MeanIoUAccumulator(19)
        for images, labels in dataset:
            acc.update(labels, model(images))   # logits [B, H, W, 19]
        acc.result()["mean_iou"]
    """

    def __init__(self, num_classes, ignore_label=255):
        self.num_classes = _check_num_classes(num_classes)
        self.ignore_label = ignore_label
        self.reset()

    def reset(self):
        """Forget every batch seen so far."""
        self.matrix = np.zeros((self.num_classes, self.num_classes), np.int64)

    def update(self, labels, logits_or_predictions):
        """Add one batch.

        Args:
            labels: integer class ids [B, H, W] (any shape S).
            logits_or_predictions: scores [B, H, W, C] (shape S + [C]; argmax
                over the last axis is taken), or class ids of shape S.

        Returns:
            The batch's own [C, C] confusion matrix.
        """
        labels = np.asarray(labels)
        scores = np.asarray(logits_or_predictions)
        if scores.shape == labels.shape:
            predictions = scores
        elif scores.shape == labels.shape + (self.num_classes,):
            predictions = np.argmax(scores, axis=-1)
        else:
            raise ValueError(f"predictions must have the labels' shape {labels.shape} (class "
                             f"ids) or {labels.shape + (self.num_classes,)} (logits), got "
                             f"{scores.shape}")
        batch = confusion_matrix(labels, predictions, self.num_classes, self.ignore_label)
        self.matrix += batch
        return batch

    def result(self):
        """Metrics of everything seen since the last reset.

        Returns:
            dict with ``mean_iou`` (float, NaN-excluding mean as in
            `mean_iou`), ``per_class_iou`` (float64 array [C], NaN for
            absent classes) and ``pixel_accuracy`` (float).
        """
        return {
            "mean_iou": mean_iou(self.matrix),
            "per_class_iou": iou_from_confusion(self.matrix),
            "pixel_accuracy": pixel_accuracy(self.matrix),
        }
