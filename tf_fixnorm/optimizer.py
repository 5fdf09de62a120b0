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

It is written on `keras.ops` and runs on every Keras backend: under JAX the
rescaling happens inside the jitted step (Keras' `stateless_apply` calls
`apply` in a stateless scope), and under a `tf.distribute` strategy it goes
through the strategy's merge, as Keras' own update does.
"""

import contextlib
import dataclasses
import math
import warnings
import weakref

import keras
import numpy as np
from keras import ops

from tf_fixnorm import projection
from tf_fixnorm.analysis import CLASSIFIER, OTHER, SCALE_INVARIANT, Analysis, analyze

_BASE_ARGS = ("weight_decay", "clipnorm", "global_clipnorm", "clipvalue", "use_ema",
              "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
              "gradient_accumulation_steps")
OTHER_KERNELS = ("free", "held")


@dataclasses.dataclass(frozen=True)
class HeldGroup:
    """One group of kernels FixNorm holds, and how.

    Attributes:
        role: the role of its kernels, also its name in `targets()` and
            `norm_report()`.
        variables: the kernels.
        measure: how their norm is held (`projection.MEASURES`).
        target: the target norm: a number (alpha), or the optimizer variable
            holding the initial norm(s), which checkpoints restore.
        report: how `norm_report` sums the group up: "joint" (the norm of
            all its kernels together) or "classifier"
            (`projection.classifier_norm`, in the units of alpha).
    """

    role: str
    variables: tuple
    measure: str
    target: object
    report: str = "joint"

    def target_report(self):
        """The group's target in the units of `current_report`."""
        target = np.asarray(ops.convert_to_numpy(self.target), np.float64)
        if self.report == "joint":  # the norm of all kernels at their targets together
            return float(np.sqrt(np.sum(np.square(target))))
        return float(np.sqrt(np.mean(np.square(target))))

    def current_report(self, alpha_measure="frobenius"):
        """The group's current norm, comparable with `target_report`."""
        if self.report == "joint":
            return projection.joint_norm(self.variables)
        return projection.classifier_norm(self.variables, alpha_measure)


def _eager():
    """A scope where tensors have values even inside a traced function (TensorFlow)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.init_scope()
    return contextlib.nullcontext()


def _initial_norms(variables, joint):
    """The current norms of `variables`, read eagerly: one over all of them, or each."""
    with _eager():
        norms = np.array([projection.to_float(projection.norm(v)) for v in variables],
                         np.float32)
    if joint:
        return np.float32(np.sqrt(np.sum(np.square(norms))))
    return norms


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
        alpha: target norm of the classifier kernel (> 0): a number, or a
            scalar float32 `keras.Variable` to change it while training
            without tracing the step again (assign to it; the next step holds
            the new norm). A variable is tracked with the optimizer's own and
            saved with them.
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
        alpha = _check_alpha(alpha)
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
        # A variable alpha is tracked on assignment (Keras' optimizers track the
        # variables set as attributes): state of the step on every backend.
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
        self._groups = None  # the HeldGroups, made by build

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
        # traced function; a checkpoint restores them over these values.
        joint = self.scope == "global"
        self.target_norms = self._norm_variable("scale_invariant_norms",
                                                _initial_norms(invariant, joint))
        groups = [HeldGroup(SCALE_INVARIANT, tuple(invariant), "joint" if joint else "each",
                            self.target_norms),
                  HeldGroup(CLASSIFIER, tuple(classifier),
                            "per_class" if self.alpha_measure == "per_class" else "each",
                            self.alpha, report="classifier")]
        if self.other_kernels == "held":
            other = [v for v in var_list if roles.get(v.path) == OTHER and len(v.shape) >= 2]
            self.other_norms = self._norm_variable("other_kernel_norms",
                                                   _initial_norms(other, joint=False))
            groups.append(HeldGroup(OTHER, tuple(other), "each", self.other_norms))
        self._groups = groups
        super().build(var_list)

    def _norm_variable(self, name, value):
        value = np.asarray(value, np.float32)
        return self.add_variable(
            shape=value.shape, dtype="float32", name=name, aggregation="none",
            initializer=lambda shape, dtype: ops.convert_to_tensor(value.reshape(shape), dtype))

    @property
    def groups(self):
        """The `HeldGroup`s, in the order they are projected; None before build."""
        return None if self._groups is None else list(self._groups)

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
        # Under JAX, Keras' `stateless_apply` runs this in a stateless scope:
        # the reads and assignments below then act on the jitted step's values.
        if not self.built:
            with keras.name_scope(self.name, caller=self):
                self.build(trainable_variables)
            self.built = True
        inner = self.inner_optimizer
        steps = inner.gradient_accumulation_steps
        # With accumulation, only every `steps`-th call updates the weights;
        # Keras decides so on its raw call counter (`iterations` is divided).
        is_update = None if not steps else ops.equal((inner._iterations + 1) % steps, 0)
        inner.apply(grads, trainable_variables)
        self.project(is_update)

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)
        if self.inner_optimizer.use_ema:
            self.project()  # the EMA averages were swapped in: hold their norms too

    def project(self, is_update=None):
        """Rescale the held kernels onto their norms (one pass, in the step).

        Args:
            is_update: optional boolean scalar; where False the weights are
                left exactly as they are (scale 1).
        """
        if self._groups is None:
            raise ValueError("FixNorm is not built yet: build it or call fit first")
        variables, scales = [], []
        for group in self._groups:
            if group.variables:
                variables += group.variables
                scales += projection.group_scales([v.value for v in group.variables],
                                                  group.target, group.measure)
        if not variables:
            return
        if is_update is not None:
            scales = [ops.where(is_update, s, ops.ones_like(s)) for s in scales]
        if keras.backend.backend() == "tensorflow":
            self._tf_assign_scaled([v.value for v in variables], scales)
        else:
            for variable, scale in zip(variables, scales):
                variable.assign(projection.rescale(variable.value, scale))

    def _tf_assign_scaled(self, variables, scales):
        """The assignments under a `tf.distribute` strategy, as Keras' own update
        step does: merged to cross-replica context where the strategy needs it,
        so mirrored copies stay identical."""
        import tensorflow as tf

        def assign_all(distribution, variables, scales):
            for variable, scale in zip(variables, scales):
                distribution.extended.update(
                    variable, lambda v, s: v.assign(projection.rescale(v, s)),
                    args=(scale,), group=False)

        strategy = self._distribution_strategy
        if tf.distribute.in_cross_replica_context():
            assign_all(strategy, variables, scales)
        else:
            tf.__internal__.distribute.interim.maybe_merge_call(
                assign_all, strategy, variables, scales)

    # -- reports -----------------------------------------------------------

    def targets(self):
        """dict: group -> target norm, in the units of `norm_report()`.

        Scale-invariant (and held other kernels): the norm of all of them
        together at their targets. Classifier: alpha.
        """
        if self._groups is None:
            raise ValueError("FixNorm is not built yet")
        return {group.role: group.target_report() for group in self._groups
                if group.variables or group.role != OTHER}

    def norm_report(self):
        """dict: group -> current norm, comparable with `targets()`.

        Scale-invariant (and held other kernels): the norm of all of them
        together. Classifier: `projection.classifier_norm` (the root mean
        square of the norms alpha holds), which is alpha when they are held;
        NormMonitor reports the same.
        """
        if self._groups is None:
            raise ValueError("FixNorm is not built yet")
        return {group.role: group.current_report(self.alpha_measure) for group in self._groups
                if group.variables or group.role != OTHER}

    # -- serialization -----------------------------------------------------

    def get_config(self):
        return {
            "name": self.name,
            "inner_optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "alpha": projection.to_float(self.alpha),
            "scope": self.scope,
            "alpha_measure": self.alpha_measure,
            "other_kernels": self.other_kernels,
            "roles": self.roles,
            **({"alpha_variable": True} if isinstance(self.alpha, keras.Variable) else {}),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(
            config.pop("inner_optimizer"), custom_objects=custom_objects)
        if config.pop("alpha_variable", False):  # saved with the optimizer's variables
            config["alpha"] = keras.Variable(config["alpha"], dtype="float32",
                                             trainable=False, name="alpha")
        return cls(inner, **config)


def _check_alpha(alpha):
    """``alpha`` as given, if a positive finite number or scalar float variable."""
    if isinstance(alpha, keras.Variable):
        if tuple(alpha.shape) != () or "float" not in str(alpha.dtype):
            raise ValueError(f"an alpha variable must be a float scalar, got shape "
                             f"{tuple(alpha.shape)} and dtype {alpha.dtype}")
        value = projection.to_float(alpha)
    else:
        try:
            alpha = value = float(alpha)
        except (TypeError, ValueError):
            raise ValueError(f"alpha must be a positive number, got {alpha!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"alpha must be a positive finite number, got {value}")
    return alpha
