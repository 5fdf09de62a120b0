"""Evaluation metrics for dense prediction; the modules import only numpy.

- `segmentation`: confusion matrix, per-class IoU, mean IoU (Cityscapes/mmseg
  NaN-excluding convention), `MeanIoUAccumulator`.
- `coco_ap`: COCO bounding-box AP/AR (pycocotools' COCOeval algorithm),
  `evaluate` and the streaming `CocoAPAccumulator`; boxes are xywh.
"""

from fixnorm_experiments.metrics.coco_ap import (
    CocoAPAccumulator, box_iou, evaluate, xyxy_to_xywh, yxyx_to_xywh)
from fixnorm_experiments.metrics.segmentation import (
    MeanIoUAccumulator, confusion_matrix, iou_from_confusion, mean_iou, pixel_accuracy)

__all__ = [
    "CocoAPAccumulator", "box_iou", "evaluate", "xyxy_to_xywh", "yxyx_to_xywh",
    "MeanIoUAccumulator", "confusion_matrix", "iou_from_confusion", "mean_iou",
    "pixel_accuracy",
]
