"""What segmentation and detection share: ResNet-50 models trained for iterations.

`DenseTask` is the base of `segmentation.SegmentationTask` (Table 3) and
`detection.DetectionTask` (Table 4): both read a local TFDS directory, build
a model on a ResNet-50 (`fixnorm_experiments.models.dense`), train
with an iteration schedule, and checkpoint every ``steps_per_loop``
iterations. Needs keras-hub (``pip install 'tf_fixnorm[dense]'``) and
tensorflow-datasets.
"""

from __future__ import annotations

from fixnorm_experiments.tasks.base import Plan, Task
from fixnorm_experiments.train import schedules

IGNORE_LABEL = 255
# Step decay divides the lr by 10 at these fractions of training (mmdet's 1x:
# 60k and 80k of 90k).
STEP_FRACTIONS = (2 / 3, 8 / 9)


def shard_by_example(dataset):
    """``dataset``, split between multi-worker workers by example, not by file:
    TFDS splits can have fewer files than there are workers (the one-file
    fixtures do)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


class DenseTask(Task):
    """A `recipes.DenseRecipe` (see the module docstring); subclasses add data,
    loss and scoring."""

    # The TFDS dataset under --data_dir, for the error that names it.
    tfds_dataset = None

    def data_dir(self, source):
        """``source.data_dir``, or a ValueError naming the TFDS dataset expected there."""
        if not (source and source.data_dir):
            raise ValueError(f"recipe {self.recipe.name!r} needs --data_dir: a TFDS directory "
                             f"holding {self.tfds_dataset}")
        return source.data_dir

    @staticmethod
    def tfds_name(source):
        """The ``name=`` argument of the TFDS readers: absent (the recipe's
        dataset), or ``--tfds_name`` ("" means --data_dir is the builder
        directory itself)."""
        if source is None or source.tfds_name is None:
            return {}
        return {"name": source.tfds_name or None}

    @property
    def image_size(self):
        """(height, width) of training crops / padded images."""
        size = self.recipe.image_size
        if isinstance(size, int):
            size = (size, size)
        return tuple(int(s) for s in size)

    def plan(self, data, length=None, steps_per_loop=None):
        """``length`` iterations (default: the recipe's) in loops of
        ``steps_per_loop`` (default 1000, at most ``length``), which must divide it:
        every loop ends with a checkpoint."""
        iterations = int(length or self.recipe.iterations)
        loop = min(int(steps_per_loop or self.spec.default_steps_per_loop), iterations)
        if iterations % loop:
            raise ValueError(f"--iterations ({iterations}) must be a multiple of "
                             f"--steps_per_loop ({loop}): every loop ends with a checkpoint")
        return Plan(iterations // loop, loop, self.spec.unit)

    def tuning_plan(self, data, loops=None, steps_per_loop=None):
        """One loop is the whole run unless ``loops`` (``--epochs``) splits it."""
        loops = int(loops or 1)
        return Plan(loops, int(steps_per_loop or self.recipe.iterations // loops), self.spec.unit)

    def build_model(self, sync_batch_norm=None, image_size=None):
        """The recipe's model at the training size (or ``image_size``), with
        random weights; nothing is downloaded."""
        from fixnorm_experiments.models import dense

        recipe = self.recipe
        model = dense.build(recipe.model, recipe.num_classes,
                            tuple(image_size or self.image_size) + (3,),
                            backbone=recipe.backbone)
        if recipe.sync_batch_norm if sync_batch_norm is None else sync_batch_norm:
            from fixnorm_experiments.train import distribution

            distribution.synchronize_batch_norm(model)
        return model

    def schedule(self, peak_lr, plan):
        """The recipe's schedule over the iterations, after its warm-up iterations."""
        return schedules.build(self.recipe.schedule, peak_lr, plan.total_steps,
                               self.recipe.warmup_iterations, step_fractions=STEP_FRACTIONS)

    def fixnorm_options(self):
        """The outputs whose kernels alpha governs (`models.dense.CLASSIFIER_OUTPUTS`),
        and the batch the sample probe measures keras-hub's custom layers on.

        Two random images at the training size: batch statistics need two
        examples, and each of the probe's passes is a full forward pass, so a
        smaller batch halves the analysis (measured on the keras-hub DeepLabV3+
        the segmentation recipes used before issue 15, at 32x64 on 2 CPU cores:
        21 s against 40 s for the default 8; the same roles). Only RetinaNet's
        custom layers need the probe now: the graph rules decide all of
        DeepLabV3 R-50-D8, so the batch goes unused there.
        """
        import numpy as np

        from fixnorm_experiments.models import dense

        sample = np.random.default_rng(0).standard_normal((2, *self.image_size, 3))
        return {"classifier_outputs": dense.CLASSIFIER_OUTPUTS[self.recipe.model],
                "sample": sample.astype("float32")}

    def load_backbone_weights(self, model, path):
        """Load ImageNet (or any) weights into the ResNet-50 inside ``model``
        (`models.dense.load_backbone_weights` says which file). The paper's
        segmentation and detection runs start from ImageNet weights."""
        from fixnorm_experiments.models import dense

        dense.load_backbone_weights(model, path)

    def validate(self, model, data, diverged, max_batches=None):
        """The validation loss and, unless the run diverged (then 0), the metric."""
        loss = model.evaluate(data.evaluation, verbose=0, return_dict=True)["loss"]
        metric = 0.0 if diverged else self.score(model, data, max_batches)["metric"] / 100
        return {"val_metric": float(metric), "val_loss": float(loss)}
