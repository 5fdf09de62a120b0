"""RetinaNet's losses as the reference implementation sums them (mmdet's 1x setting).

keras-hub's defaults differ in two ways that change the training signal:
Keras' ``BinaryFocalCrossentropy`` and ``Huber`` average over their last
axis (the 80 classes, the 4 box coordinates) where the RetinaNet paper and
mmdet sum, which makes the class loss 80 times smaller against the box loss;
and the focal loss leaves out alpha unless ``apply_class_balancing`` is set.
Here: the sigmoid focal loss with alpha 0.25 and gamma 2 summed over
classes, and the L1 loss of mmdet's RetinaNet summed over the four encoded
coordinates. keras-hub's ``compute_loss`` weighs each anchor by 1 / (number
of positive anchors) and sums (``reduction="sum"``), as mmdet does.
"""

import keras
from keras import ops

ALPHA, GAMMA = 0.25, 2.0


def sigmoid_focal_loss(y_true, y_pred):
    """Per anchor: the focal loss of its class logits (``y_pred``), summed over classes."""
    per_class = keras.losses.binary_focal_crossentropy(
        ops.expand_dims(y_true, -1), ops.expand_dims(y_pred, -1), apply_class_balancing=True,
        alpha=ALPHA, gamma=GAMMA, from_logits=True)
    return ops.sum(per_class, axis=-1)


def box_l1_loss(y_true, y_pred):
    """Per anchor: the L1 distance of its encoded box, summed over the 4 coordinates."""
    return ops.sum(ops.abs(ops.subtract(y_pred, ops.cast(y_true, y_pred.dtype))), axis=-1)


class PerAnchorLoss(keras.losses.Loss):
    """``fn(y_true, y_pred)`` per anchor, weighted and summed by keras-hub."""

    def __init__(self, fn, name):
        super().__init__(name=name, reduction="sum")
        self.fn = fn

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)


def losses():
    """``compile`` arguments of keras-hub's ``RetinaNetObjectDetector``."""
    return {"classification_loss": PerAnchorLoss(sigmoid_focal_loss, "focal"),
            "box_loss": PerAnchorLoss(box_l1_loss, "box_l1")}
