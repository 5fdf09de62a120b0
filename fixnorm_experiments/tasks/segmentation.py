"""Semantic segmentation (Table 3): Cityscapes, DeepLabV3, mIoU."""

from __future__ import annotations

import numpy as np

from fixnorm_experiments.models import deeplab_v3 as deeplab
from fixnorm_experiments.tasks.base import Data
from fixnorm_experiments.tasks.dense import IGNORE_LABEL, DenseTask, shard_by_example

# The loss of each output of DeepLabV3 (mmseg's weights): the auxiliary
# head's only trains the backbone.
LOSS_WEIGHTS = {deeplab.MAIN: 1.0, deeplab.AUXILIARY: deeplab.AUXILIARY_LOSS_WEIGHT}


def _per_output(dataset):
    """Each label map as the target of both outputs (Keras pairs them by name)."""
    return dataset.map(lambda image, label: (image, {name: label for name in LOSS_WEIGHTS}))


class SegmentationTask(DenseTask):
    """Per-pixel softmax over 19 classes, label 255 ignored, scored on mIoU.

    The model has two outputs, ``segmentation`` and ``auxiliary``
    (`models.deeplab_v3`): training and the validation loss take the sum of
    their cross-entropies weighted by `LOSS_WEIGHTS`; predictions and mIoU
    use ``segmentation`` alone.
    """

    tfds_dataset = "cityscapes/semantic_segmentation"

    def load_data(self, global_batch_size, seed=0, source=None, validation_fraction=None,
                  eval_batch_size=None):
        """Random-scale crops for training; for the validation loss one random
        crop per image at scale 1 (the model is built for the crop size); whole
        validation images for `score`."""
        from fixnorm_experiments.data import cityscapes

        data_dir, name = self.data_dir(source), self.tfds_name(source)
        eval_batch = eval_batch_size or global_batch_size

        def make_train():
            return shard_by_example(_per_output(cityscapes.make_cityscapes_dataset(
                data_dir, "train", global_batch_size, True, crop_size=self.image_size,
                seed=seed, **name)))

        evaluation = _per_output(cityscapes.make_cityscapes_dataset(
            data_dir, "validation", eval_batch, True, crop_size=self.image_size,
            scale_range=(1.0, 1.0), seed=seed, shuffle_buffer=1, **name))
        scoring = cityscapes.make_cityscapes_dataset(data_dir, "validation", eval_batch, False,
                                                     **name)
        return Data(make_train(), evaluation, scoring, self.recipe.num_classes,
                    make_train=make_train)

    def _cross_entropy(self):
        import keras

        return keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                          ignore_class=IGNORE_LABEL)

    def compile(self, model, optimizer):
        """Per-pixel cross-entropy ignoring label 255 on each output, weighted
        by `LOSS_WEIGHTS`, and a running mIoU of ``segmentation``."""
        import keras

        model.compile(optimizer=optimizer,
                      loss={name: self._cross_entropy() for name in LOSS_WEIGHTS},
                      loss_weights=LOSS_WEIGHTS,
                      metrics={deeplab.MAIN: [keras.metrics.MeanIoU(
                          self.recipe.num_classes, ignore_class=IGNORE_LABEL,
                          sparse_y_pred=False, name="mean_iou")]})
        return model

    def replica_loss(self, model, global_batch_size, replicas):
        # Inside a replica, Keras already scales a mean-reducing loss by
        # 1 / replicas: this is the replica's share of the global mean as it is.
        cross_entropy = self._cross_entropy()

        def loss(x, y, y_pred):
            return sum(weight * cross_entropy(y[name], y_pred[name])
                       for name, weight in LOSS_WEIGHTS.items())

        return loss

    def _at_size(self, model, size):
        """What predicts ``segmentation`` on images of ``size`` with ``model``'s
        weights: its main output, or that of a twin built for ``size``.

        The model is built for one size (`models.deeplab_v3`); whole
        validation images (Cityscapes: 1024x2048) are larger than the
        training crops. The weights do not depend on the size.
        """
        if tuple(model.input_shape[1:3]) != tuple(size):
            twin = self.build_model(image_size=size, sync_batch_norm=False)
            twin.set_weights(model.get_weights())
            model = twin
        return deeplab.main_output(model)

    def score(self, model, data, max_batches=None, local=False):
        """mIoU (%) on whole validation images, by
        `fixnorm_experiments.metrics.MeanIoUAccumulator` (the Cityscapes
        convention: classes absent from labels and predictions are left out)."""
        from fixnorm_experiments import metrics

        batches = data.scoring if max_batches is None else data.scoring.take(max_batches)
        accumulator = metrics.MeanIoUAccumulator(self.recipe.num_classes, IGNORE_LABEL)
        sized = {}
        for images, labels in batches:
            size = tuple(images.shape[1:3])
            if size not in sized:
                sized[size] = self._at_size(model, size)
            accumulator.update(labels.numpy(), sized[size].predict_on_batch(images))
        result = accumulator.result()
        return {"metric": 100 * result["mean_iou"], "mean_iou": result["mean_iou"],
                "pixel_accuracy": result["pixel_accuracy"],
                "per_class_iou": [None if np.isnan(v) else float(v)
                                  for v in result["per_class_iou"]]}
