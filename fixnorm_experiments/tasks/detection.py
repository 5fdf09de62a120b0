"""Object detection (Table 4): COCO 2017, RetinaNet, box AP."""

from __future__ import annotations

import numpy as np

from fixnorm_experiments.tasks.base import Data
from fixnorm_experiments.tasks.dense import DenseTask, shard_by_example


class DetectionTask(DenseTask):
    """keras-hub's RetinaNet with the reference losses (`train.detection_losses`:
    focal loss with alpha 0.25 summed over classes, L1 boxes), scored on COCO AP."""

    tfds_dataset = "coco/2017"

    def load_data(self, global_batch_size, seed=0, source=None, validation_fraction=None,
                  eval_batch_size=None):
        """Aspect-preserving resized and padded images; for `score`, COCO's AP
        set (ground truth in original pixels)."""
        from fixnorm_experiments.data import coco

        data_dir, name = self.data_dir(source), self.tfds_name(source)
        eval_batch = eval_batch_size or global_batch_size
        size = self.image_size

        def make_train():
            return shard_by_example(coco.make_coco_dataset(
                data_dir, "train", global_batch_size, True, image_size=size, seed=seed, **name))

        evaluation = coco.make_coco_dataset(data_dir, "validation", eval_batch, False,
                                            image_size=size, **name)
        scoring = coco.make_coco_eval_dataset(data_dir, "validation", eval_batch,
                                              image_size=size, **name)
        return Data(make_train(), evaluation, scoring, self.recipe.num_classes,
                    make_train=make_train)

    def compile(self, model, optimizer):
        """keras-hub's RetinaNet loss plumbing with the reference losses."""
        from fixnorm_experiments.train import detection_losses

        model.compile(optimizer=optimizer, **detection_losses.losses())
        return model

    def replica_loss(self, model, global_batch_size, replicas):
        # keras-hub's loss is not per example: each replica's mean, averaged.
        return lambda x, y, y_pred: model.compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=None) / replicas

    def score(self, model, data, max_batches=None, local=False):
        """COCO box AP (%) by `fixnorm_experiments.metrics.CocoAPAccumulator`
        (pycocotools' COCOeval algorithm, checked against it in tests) on
        keras-hub's decoded boxes (its NonMaxSuppression, 100 per image),
        scaled back to original pixels."""
        from fixnorm_experiments import metrics

        batches = data.scoring if max_batches is None else data.scoring.take(max_batches)
        accumulator = metrics.CocoAPAccumulator()
        for images, truth in batches:
            # keras-hub's predict_step chokes on predict_on_batch's 1-tuple
            # (retinanet_object_detector.decode_predictions); decode directly.
            predicted = model.decode_predictions(model(images, training=False), images)
            predicted = {k: np.asarray(v) for k, v in predicted.items()}
            truth = {k: v.numpy() for k, v in truth.items()}
            for i, image_id in enumerate(truth["image_id"]):
                n_true = int(truth["num_boxes"][i])
                scale = np.tile(truth["scale"][i], 2)
                n_found = int(predicted["num_detections"][i])
                accumulator.add(
                    {"image_id": int(image_id),
                     "boxes": metrics.yxyx_to_xywh(truth["boxes"][i, :n_true]),
                     "labels": truth["labels"][i, :n_true],
                     "is_crowd": truth["is_crowd"][i, :n_true],
                     "area": truth["area"][i, :n_true]},
                    {"boxes": metrics.yxyx_to_xywh(predicted["boxes"][i, :n_found] / scale),
                     "labels": np.asarray(predicted["labels"][i, :n_found]).astype(np.int64),
                     "scores": predicted["confidence"][i, :n_found]})
        result = accumulator.result()
        return {"metric": 100 * max(result["AP"], 0.0), **result}
