"""FixNorm: an optimizer wrapper that fixes weight norms instead of decaying them.

What happens after a step is all in this file: the inner optimizer updates
the weights as usual (momentum, clipping, EMA, gradient accumulation...),
then, on the steps that updated, FixNorm rescales
- the scale-invariant kernels back to the norm they had when training began
  (one norm over all of them: scope "global"; or each its own: "per_kernel"),
  so their effective learning rate lr / |w|^2 follows the lr schedule alone;
- the classifier kernel to norm `alpha`, which bounds the logits' scale;
- with ``other_kernels="held"``, every other kernel (squeeze-excitation,
  un-normalized convs: role "other", rank >= 2) back to its own initial norm.
Everything else (biases, gamma, beta; other kernels by default) gets the plain
inner update. Why: docs/method.md, "FixNorm".
"""

import math
import warnings
import weakref

import keras
import numpy as np
import tensorflow as tf

from tf_fixnorm import projection
from tf_fixnorm.analysis import CLASSIFIER, OTHER, SCALE_INVARIANT, Analysis, analyze

_BASE_ARGS = ("weight_decay", "clipnorm", "global_clipnorm", "clipvalue", "use_ema",
              "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
              "gradient_accumulation_steps")
OTHER_KERNELS = ("free", "held")


class _Groups:
    """The variables FixNorm holds. A plain object so Keras does not track it:
    the optimizer must not own the model's variables in checkpoints."""

    def __init__(self, scale_invariant, classifier, other=()):
        self.scale_invariant = scale_invariant
        self.classifier = classifier
        self.other = list(other)


def check_no_weight_decay(inner_optimizer):
    """Raise if `inner_optimizer` decays weights: FixNorm replaces weight decay."""
    decay = getattr(inner_optimizer, "weight_decay", None)
    if decay is not None and float(decay) != 0.0:
        raise ValueError(
            f"FixNorm replaces weight decay, but {type(inner_optimizer).__name__} has "
            f"weight_decay={decay}: create it with weight_decay=0.0 (AdamW defaults to "
            "0.004), or train without FixNorm to compare against weight decay")


def check_no_regularizers(variables):
    """Raise if any of `variables` carries a regularizer (L2 is weight decay)."""
    regularized = [v.path for v in variables if getattr(v, "regularizer", None) is not None]
    if regularized:
        shown = ", ".join(regularized[:5]) + (" ..." if len(regularized) > 5 else "")
        raise ValueError(
            f"FixNorm replaces weight decay, but {len(regularized)} weights have "
            f"regularizers ({shown}): build those layers without kernel_regularizer / "
            "bias_regularizer")


@keras.saving.register_keras_serializable(package="tf_fixnorm")
class FixNorm(keras.optimizers.Optimizer):
    """Wraps a Keras optimizer and holds weight norms fixed after every update.

    Usage:
        opt = FixNorm(keras.optimizers.SGD(0.1, momentum=0.9), model, alpha=1.0)
        model.compile(optimizer=opt, loss=...)

    Args:
        inner_optimizer: any Keras 3 optimizer (SGD, Adam, AdamW with
            weight_decay=0.0, Lion, Lamb, ...) without weight decay. Its
            clipping, EMA and gradient accumulation settings apply as usual.
        model: the model being trained; `tf_fixnorm.analyze(model)` decides
            which kernels are held. May be left None when `roles` is given.
        alpha: target norm of the classifier kernel (> 0).
        scope: "global" (one norm over all scale-invariant kernels together)
            or "per_kernel" (each at its own initial norm).
        alpha_measure: "frobenius" (alpha is the norm of the whole classifier
            kernel) or "per_class" (the norm of each class's weight vector).
        other_kernels: "free" (kernels that are neither scale-invariant nor
            the classifier get the plain update) or "held" (each is held at
            its initial norm). Biases and normalization parameters are
            always free.
            The three defaults are measured choices: on two tasks no other
            option scored better (BENCHMARKS.md, "Design points settled").
        roles: dict variable path -> role, or an `Analysis`, instead of
            analysing `model`. Saved in the config, so a reloaded optimizer
            holds the same variables.
        overrides: passed to `analyze`: layer name (or variable path or path
            prefix) -> role.
        classifier_outputs: passed to `analyze`: the names of the model
            outputs that carry logits, e.g. "cls_logits" for a RetinaNet
            (default: every output not named like box regression).
        sample: passed to `analyze`: one batch of inputs, needed for
            subclassed models (whose graph cannot be read).
        name: name of the optimizer.
    """

    def __init__(self, inner_optimizer, model=None, alpha=1.0, scope="global",
                 alpha_measure="frobenius", roles=None, overrides=None, sample=None, name="fixnorm",
                 other_kernels="free", classifier_outputs=None, **kwargs):
        if not isinstance(inner_optimizer, keras.optimizers.Optimizer):
            raise TypeError("inner_optimizer must be a keras.optimizers.Optimizer, got "
                            f"{type(inner_optimizer).__name__}")
        if isinstance(inner_optimizer, keras.optimizers.LossScaleOptimizer):
            raise ValueError("wrap the plain optimizer: FixNorm(SGD(...)); under mixed "
                             "precision Keras puts FixNorm inside a LossScaleOptimizer itself")
        check_no_weight_decay(inner_optimizer)
        for arg in _BASE_ARGS:
            if kwargs.pop(arg, None) not in (None, False):
                raise ValueError(f"set {arg} on the inner optimizer, not on FixNorm")
        if kwargs:
            raise ValueError(f"FixNorm does not take arguments {sorted(kwargs)}")
        try:
            alpha = float(alpha)
        except (TypeError, ValueError):
            raise ValueError(f"alpha must be a positive number, got {alpha!r}") from None
        if not (alpha > 0 and math.isfinite(alpha)):
            raise ValueError(f"alpha must be a positive finite number, got {alpha}")
        if scope not in projection.SCOPES:
            raise ValueError(f"scope must be one of {projection.SCOPES}, got {scope!r}")
        if alpha_measure not in projection.ALPHA_MEASURES:
            raise ValueError(f"alpha_measure must be one of {projection.ALPHA_MEASURES}, "
                             f"got {alpha_measure!r}")
        if other_kernels not in OTHER_KERNELS:
            raise ValueError(f"other_kernels must be one of {OTHER_KERNELS}, got "
                             f"{other_kernels!r}")
        if model is None and roles is None:
            raise ValueError("FixNorm needs the model (or its roles) to know which weights "
                             "to hold: FixNorm(inner_optimizer, model, alpha)")
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = inner_optimizer
        self.alpha = alpha
        self.scope = scope
        self.alpha_measure = alpha_measure
        self.other_kernels = other_kernels
        self._overrides = dict(overrides) if overrides else None
        self._classifier_outputs = classifier_outputs
        self._model_ref = weakref.ref(model) if model is not None else None
        self._sample = sample
        if isinstance(roles, Analysis):
            roles = roles.roles
        self._role_map = None if roles is None else dict(roles)
        if self._role_map is None and model.built:
            self._role_map = self._analyze(model)
            self._sample = None
            check_no_regularizers(model.trainable_variables)
        self._groups = None

    # -- roles and state ---------------------------------------------------

    @property
    def roles(self):
        """dict: variable path -> role ("scale_invariant", "classifier", "other")."""
        if self._role_map is None:
            model = self._model_ref() if self._model_ref is not None else None
            if model is None or not model.built:
                raise ValueError("FixNorm cannot analyse the model before it is built: "
                                 "build it (or call fit) first")
            self._role_map = self._analyze(model)
            self._sample = None  # not needed any more; do not hold the batch
        return dict(self._role_map)

    def _analyze(self, model):
        return dict(analyze(model, sample=self._sample, overrides=self._overrides,
                            classifier_outputs=self._classifier_outputs).roles)

    def build(self, var_list):
        roles = self.roles
        var_list = list(var_list)
        check_no_regularizers(var_list)
        unknown = [v.path for v in var_list if v.path not in roles]
        if unknown:
            warnings.warn(f"FixNorm has no role for {len(unknown)} variables "
                          f"({', '.join(unknown[:3])}...): it leaves them free", stacklevel=2)
        invariant = [v for v in var_list if roles.get(v.path) == SCALE_INVARIANT]
        classifier = [v for v in var_list if roles.get(v.path) == CLASSIFIER]
        if not invariant:
            warnings.warn("FixNorm holds no scale-invariant kernel: the model has none "
                          "(see tf_fixnorm.analyze(model))", stacklevel=2)
        if not classifier:
            warnings.warn("FixNorm found no classifier kernel: alpha applies to nothing",
                          stacklevel=2)
        self.inner_optimizer.build(var_list)
        # The norms when training began, read eagerly even if build runs in a
        # tf.function; a checkpoint restores them over these values.
        with tf.init_scope():
            norms = np.array([float(projection.norm(v)) for v in invariant], np.float32)
        if self.scope == "global":
            initial = np.float32(np.sqrt(np.sum(np.square(norms))))
            shape = ()
        else:
            initial, shape = norms, (len(norms),)
        self.target_norms = self.add_variable(
            shape=shape, dtype="float32", name="scale_invariant_norms", aggregation="none",
            initializer=lambda shape, dtype: tf.constant(initial, dtype=dtype, shape=shape))
        other = []
        if self.other_kernels == "held":
            other = [v for v in var_list if roles.get(v.path) == OTHER and len(v.shape) >= 2]
            with tf.init_scope():
                other_norms = np.array([float(projection.norm(v)) for v in other], np.float32)
            self.other_norms = self.add_variable(
                shape=(len(other),), dtype="float32", name="other_kernel_norms",
                aggregation="none",
                initializer=lambda shape, dtype: tf.constant(other_norms, dtype=dtype,
                                                             shape=shape))
        self._groups = _Groups(invariant, classifier, other)
        super().build(var_list)

    @property
    def variables(self):
        return self._variables + self.inner_optimizer.variables

    # -- delegation to the inner optimizer ---------------------------------

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def scale_loss(self, loss):
        return self.inner_optimizer.scale_loss(loss)

    # -- the step ----------------------------------------------------------

    def apply(self, grads, trainable_variables=None):
        if not self.built:
            with keras.name_scope(self.name, caller=self):
                self.build(trainable_variables)
            self.built = True
        inner = self.inner_optimizer
        steps = inner.gradient_accumulation_steps
        # With accumulation, only every `steps`-th call updates the weights;
        # Keras decides so on its raw call counter (`iterations` is divided).
        is_update = None if not steps else tf.equal((inner._iterations + 1) % steps, 0)
        inner.apply(grads, trainable_variables)
        self.project(is_update)

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)
        if self.inner_optimizer.use_ema:
            self.project()  # the EMA averages were swapped in: hold their norms too

    def project(self, is_update=None):
        """Rescale the held kernels onto their norms (one pass, in-graph).

        Args:
            is_update: optional boolean scalar; where False the weights are
                left exactly as they are (scale 1).
        """
        groups = self._groups
        if groups is None:
            raise ValueError("FixNorm is not built yet: build it or call fit first")
        variables, scales = [], []
        if groups.scale_invariant:
            squared = [projection.squared_norm(v) for v in groups.scale_invariant]
            if self.scope == "global":
                scales += [projection.global_scale(squared, self.target_norms)] * len(squared)
            else:
                scales += projection.per_kernel_scales(squared, self.target_norms)
            variables += groups.scale_invariant
        for v in groups.classifier:
            scales.append(projection.classifier_scale(v, self.alpha, self.alpha_measure))
            variables.append(v)
        if groups.other:
            scales += projection.per_kernel_scales(
                [projection.squared_norm(v) for v in groups.other], self.other_norms)
            variables += groups.other
        if not variables:
            return
        if is_update is not None:
            scales = [tf.where(is_update, s, tf.ones_like(s)) for s in scales]
        self._assign_scaled([v.value for v in variables], scales)

    def _assign_scaled(self, variables, scales):
        def assign_all(distribution, variables, scales):
            for variable, scale in zip(variables, scales):
                distribution.extended.update(
                    variable, lambda v, s: v.assign(v * tf.cast(s, v.dtype)),
                    args=(scale,), group=False)

        strategy = self._distribution_strategy
        if tf.distribute.in_cross_replica_context():
            assign_all(strategy, variables, scales)
        else:
            # As Keras' own update step does: merge to cross-replica context
            # where the strategy needs it, so mirrored copies stay identical.
            tf.__internal__.distribute.interim.maybe_merge_call(
                assign_all, strategy, variables, scales)

    # -- reports -----------------------------------------------------------

    def targets(self):
        """dict: group -> target norm (scale-invariant: over the whole group)."""
        target = np.asarray(self.target_norms.numpy(), np.float64)
        targets = {SCALE_INVARIANT: float(np.sqrt(np.sum(np.square(target)))),
                   CLASSIFIER: self.alpha}
        if self._groups is not None and self._groups.other:
            other = np.asarray(self.other_norms.numpy(), np.float64)
            targets[OTHER] = float(np.sqrt(np.sum(np.square(other))))
        return targets

    def norm_report(self):
        """dict: group -> current norm, comparable with `targets()`.

        Scale-invariant: the norm of all held kernels together. Classifier:
        the root mean square of the measured norms (kernels, or classes with
        alpha_measure "per_class"), which is alpha when they are all held.
        """
        groups = self._groups
        if groups is None:
            raise ValueError("FixNorm is not built yet")
        report = {SCALE_INVARIANT: float(np.sqrt(sum(
            float(projection.squared_norm(v)) for v in groups.scale_invariant)))}
        measured = []
        for v in groups.classifier:
            if self.alpha_measure == "per_class":
                axes = projection.class_axes(len(v.shape))
                measured += list(projection.norm(v, axis=axes).numpy())
            else:
                measured.append(float(projection.norm(v)))
        report[CLASSIFIER] = float(np.sqrt(np.mean(np.square(measured)))) if measured \
            else float("nan")
        if groups.other:  # held other kernels, all together, as for the targets
            report[OTHER] = float(np.sqrt(sum(float(projection.squared_norm(v))
                                              for v in groups.other)))
        return report

    # -- serialization -----------------------------------------------------

    def get_config(self):
        return {
            "name": self.name,
            "inner_optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "alpha": self.alpha,
            "scope": self.scope,
            "alpha_measure": self.alpha_measure,
            "other_kernels": self.other_kernels,
            "roles": self.roles,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(
            config.pop("inner_optimizer"), custom_objects=custom_objects)
        return cls(inner, **config)
