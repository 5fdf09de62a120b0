"""A search's model, built, compiled and traced once, then reset for each trial.

Every trial of one search starts from the same seed (`tuner.RecipeTuner`),
so from the same initial weights: trials differ in their knobs only. Building,
compiling and tracing a new model per trial was most of a digits trial
(BENCHMARKS.md, "Where a trial's time goes"). A `WarmModel` keeps one model
whose knobs live in variables (the peak learning rate under
`schedules.PeakScaled`, FixNorm's alpha, the coupled-L2 lambda); `reset`
puts back the weights and optimizer state the model had before its first
step and assigns the trial's knobs. Keras keeps a model's traced train and
test functions, so only the first trial of a search traces them.
"""

from __future__ import annotations

import keras
from keras import ops


def knob_variables(values):
    """``{name: scalar float32 keras.Variable}`` holding ``values``."""
    return {name: keras.Variable(float(value), dtype="float32", trainable=False,
                                 name=f"tuned_{name}")
            for name, value in values.items()}


class WarmModel:
    """One compiled model reused by every trial of a search.

    Args:
      model: compiled, its optimizer built, not trained yet: the state that
        `reset` puts back.
      knobs: ``{name: keras.Variable}`` the model's step reads its searched
        knobs from.
    """

    def __init__(self, model, knobs):
        if not model.optimizer.built:
            raise ValueError("build the optimizer before taking the initial state: "
                             "model.optimizer.build(model.trainable_variables)")
        self.model, self.knobs = model, dict(knobs)
        # Model weights (BatchNorm statistics and seed states included) and the
        # optimizer's slots, step counter and FixNorm's norm targets.
        variables = (list(model.trainable_variables) + list(model.non_trainable_variables)
                     + list(model.optimizer.variables))
        self._initial = [(v, ops.convert_to_numpy(v.value)) for v in variables]

    def reset(self, values):
        """Put back the initial state and set the knobs to ``values``; the model."""
        unknown = set(values) - set(self.knobs)
        if unknown:
            raise ValueError(f"no variable for knobs {sorted(unknown)}; this model's are "
                             f"{sorted(self.knobs)}")
        for variable, value in self._initial:
            variable.assign(value)
        for name, value in values.items():
            self.knobs[name].assign(float(value))
        self.model.stop_training = False
        return self.model
