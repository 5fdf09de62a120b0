"""Learning-rate schedules of the recipes: warm-up, then cosine, step or poly decay.

One builder (`build`) for every task; a task says in which unit its
warm-up is counted and where its steps fall. Written on `keras.ops`, so the
schedules run on every Keras backend.
"""

import keras
from keras import ops

from tf_fixnorm.projection import to_float

KINDS = ("cosine", "step", "poly")
# Kinds whose rate at every step is the peak times a shape that does not
# depend on it (poly is not: it decays to a fixed 1e-4), so `PeakScaled` of
# the kind built at peak 1 is the same schedule.
LINEAR_IN_PEAK = ("cosine", "step")


class _Warmup(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak` over `warmup_steps`, then `decayed(step)`."""

    def __init__(self, peak, warmup_steps):
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)

    def decayed(self, step):
        raise NotImplementedError

    def __call__(self, step):
        step = ops.cast(step, "float32")
        decayed = self.decayed(step)
        if not self.warmup_steps:
            return decayed
        warm = self.peak * (step + 1.0) / float(self.warmup_steps)
        return ops.where(step < self.warmup_steps, warm, decayed)


@keras.saving.register_keras_serializable(package="fixnorm_experiments")
class WarmupStepDecay(_Warmup):
    """Linear warm-up to `peak`, then x`factor` at each boundary step."""

    def __init__(self, peak, warmup_steps, boundaries, factor=0.1):
        super().__init__(peak, warmup_steps)
        self.boundaries = [int(b) for b in boundaries]
        self.factor = float(factor)

    def decayed(self, step):
        drops = sum(ops.cast(step >= b, "float32") for b in self.boundaries) \
            if self.boundaries else 0.0
        return self.peak * ops.power(self.factor, drops)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps,
                "boundaries": self.boundaries, "factor": self.factor}


@keras.saving.register_keras_serializable(package="fixnorm_experiments")
class WarmupPolyDecay(_Warmup):
    """Linear warm-up to `peak`, then `(peak - end) * (1 - t/T)**power + end`
    (mmseg's "poly" schedule: power 0.9, end 1e-4)."""

    def __init__(self, peak, total_steps, warmup_steps=0, power=0.9, end=1e-4):
        super().__init__(peak, warmup_steps)
        self.total_steps = int(total_steps)
        self.power = float(power)
        self.end = float(end)

    def decayed(self, step):
        done = ops.minimum(step / float(self.total_steps), 1.0)
        return (self.peak - self.end) * ops.power(1.0 - done, self.power) + self.end

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "power": self.power, "end": self.end}


def build(kind, peak_lr, total_steps, warmup_steps=0, step_fractions=(1 / 3, 2 / 3, 8 / 9)):
    """A linear warm-up of `warmup_steps` (at most `total_steps - 1`), then:

    - "cosine": cosine decay to 0 (Keras' `CosineDecay`, with its warm-up);
    - "step": /10 at each of `step_fractions` of `total_steps` (ImageNet's
      30/60/80 of 90 epochs by default; mmdet's 1x is (2/3, 8/9));
    - "poly": mmseg's poly decay (power 0.9 down to 1e-4).
    """
    total_steps = int(total_steps)
    warmup = min(int(warmup_steps), total_steps - 1)
    if kind == "cosine":
        if warmup:
            return keras.optimizers.schedules.CosineDecay(
                0.0, decay_steps=total_steps - warmup, warmup_target=peak_lr,
                warmup_steps=warmup)
        return keras.optimizers.schedules.CosineDecay(peak_lr, decay_steps=total_steps)
    if kind == "step":
        return WarmupStepDecay(peak_lr, warmup, [round(total_steps * f) for f in step_fractions])
    if kind == "poly":
        return WarmupPolyDecay(peak_lr, total_steps, warmup)
    raise ValueError(f"schedule must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")


@keras.saving.register_keras_serializable(package="fixnorm_experiments")
class PeakScaled(keras.optimizers.schedules.LearningRateSchedule):
    """``peak * unit(step)``, the peak read from a variable at every step.

    A tuner assigns a trial's learning rate to ``peak`` instead of building
    a new schedule, so the traced training step is reused across trials
    (`fixnorm_experiments.tuning.warm`). ``unit`` is the schedule built at
    peak 1, of a kind in `LINEAR_IN_PEAK`. On TensorFlow the traced step
    reads the variable; under JAX's jit a variable no optimizer tracks is
    a constant of the compiled step (`fixnorm-tune` runs on TensorFlow).
    Saved, the peak becomes a number.
    """

    def __init__(self, unit, peak):
        self.unit, self.peak = unit, peak

    def __call__(self, step):
        return ops.multiply(ops.cast(self.peak, "float32"), self.unit(step))

    def get_config(self):
        return {"unit": keras.saving.serialize_keras_object(self.unit),
                "peak": to_float(self.peak)}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config["unit"]), config["peak"])

