"""NormMonitor: weight norms and effective learning rates, each epoch."""

import keras
import numpy as np

from tf_fixnorm import projection
from tf_fixnorm.analysis import CLASSIFIER, SCALE_INVARIANT, analyze
from tf_fixnorm.optimizer import FixNorm


def find_fixnorm(optimizer):
    """The FixNorm inside `optimizer` (e.g. under a LossScaleOptimizer), or None."""
    while optimizer is not None:
        if isinstance(optimizer, FixNorm):
            return optimizer
        optimizer = getattr(optimizer, "inner_optimizer", None)
    return None


class NormMonitor(keras.callbacks.Callback):
    """Records per-group weight norm and effective learning rate every epoch.

    Adds to the epoch logs (so to `History` and, when it comes before a
    `TensorBoard` callback in the list, to TensorBoard):
    - `norm/scale_invariant`: the norm of all scale-invariant kernels together;
    - `elr/scale_invariant`: lr / mean_i |w_i|^2, the effective learning rate
      of the average scale-invariant kernel (docs/method.md, "Effective learning rate");
    - `norm/classifier`: the classifier's norm in the units of alpha
      (`projection.classifier_norm`; FixNorm's `norm_report` is the same);
    - with `per_layer=True`, `norm/<path>` and (for scale-invariant kernels)
      `elr/<path>` for each kernel.
    It works with any optimizer: under weight decay it shows decay acting as
    an ELR schedule; under FixNorm, the held norms.

    Args:
        per_layer: also record each kernel.
        log_dir: if set, also write the values as TensorBoard scalars there
            (needs TensorFlow installed, whatever the Keras backend).
        roles: dict path -> role; default: the FixNorm optimizer's roles, or
            `tf_fixnorm.analyze(model, **analysis)`.
        **analysis: passed to `analyze` when there is no FixNorm to ask
            (`sample=`, `classifier_outputs=`, `overrides=`), as to FixNorm.
    """

    def __init__(self, per_layer=False, log_dir=None, roles=None, **analysis):
        super().__init__()
        self.per_layer = per_layer
        self.log_dir = log_dir
        self._roles = roles
        self._analysis = analysis
        self._writer = None

    def _resolve_roles(self):
        if self._roles is None:
            fixnorm = find_fixnorm(self.model.optimizer)
            self._roles = (fixnorm.roles if fixnorm is not None
                           else analyze(self.model, **self._analysis).roles)
            self._analysis = {}  # the sample batch is not needed any more
        return self._roles

    def measure(self):
        """dict of the values recorded for the current weights."""
        roles = self._resolve_roles()
        lr = float(np.asarray(self.model.optimizer.learning_rate))
        variables = [v for v in self.model.trainable_variables
                     if roles.get(v.path) in (SCALE_INVARIANT, CLASSIFIER)]
        squared = {v.path: projection.to_float(projection.squared_norm(v)) for v in variables}
        invariant = [s for p, s in squared.items() if roles[p] == SCALE_INVARIANT]
        classifier = [v for v in variables if roles[v.path] == CLASSIFIER]
        values = {}
        if invariant:
            values["norm/scale_invariant"] = float(np.sqrt(np.sum(invariant)))
            mean_sq = float(np.mean(invariant))
            values["elr/scale_invariant"] = lr / mean_sq if mean_sq > 0 else float("inf")
        if classifier:
            fixnorm = find_fixnorm(self.model.optimizer)
            measure = fixnorm.alpha_measure if fixnorm is not None else "frobenius"
            values["norm/classifier"] = projection.classifier_norm(classifier, measure)
        if self.per_layer:
            for path, sq in squared.items():
                values[f"norm/{path}"] = float(np.sqrt(sq))
                if roles[path] == SCALE_INVARIANT:
                    values[f"elr/{path}"] = lr / sq if sq > 0 else float("inf")
        return values

    def on_epoch_end(self, epoch, logs=None):
        values = self.measure()
        if logs is not None:
            logs.update(values)
        if self.log_dir:
            import tensorflow as tf  # tf.summary writes TensorBoard's files

            if self._writer is None:
                self._writer = tf.summary.create_file_writer(self.log_dir)
            with self._writer.as_default():
                for key, value in values.items():
                    tf.summary.scalar(key, value, step=epoch)
            self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
