"""One hypermodel for every method and every task: a recipe's training run as a trial.

A trial trains what `fixnorm-train` would train (the recipe's `Task`: its
model, data, schedule and loss), with the knobs its method searches
(`methods.py`). Its score is measured once, after the last loop, on the
evaluation set (for embedded data a validation split held out of the
training set; the test split is never seen by the tuner): the model the
recipe would deliver, not the best epoch of a curve.
"""

from __future__ import annotations

import math

import keras
import keras_tuner

from fixnorm_experiments.train import schedules
from fixnorm_experiments.train.optimizers import make_optimizer
from fixnorm_experiments.tuning import warm
from fixnorm_experiments.tuning.methods import FIXED, SEARCHED, Ranges, flavour


class RecipeHyperModel(keras_tuner.HyperModel):
    """Builds and trains a recipe's model for one trial.

    Args:
      task: the recipe's `tasks.base.Task`.
      data: its `tasks.base.Data`; trials train on ``data.fresh_train()``
        and are scored by `Task.validate`.
      method: one of `methods.METHODS`.
      plan: a `tasks.base.Plan` (`Task.tuning_plan`).
      ranges: the `Ranges` searched knobs are declared with.
      scope, alpha_measure, other_kernels: FixNorm's options (`FixNorm`).
      score_batches: validation batches a trial is scored on (None: all).
      verbose: Keras fit verbosity (0 for tuning).
      reuse: build, compile and trace one model for the whole search and
        reset it for each trial (`warm.WarmModel`), where the recipe's
        schedule allows (`schedules.LINEAR_IN_PEAK`). Only for searches
        whose trials all start from the same seed (one execution per trial).
    """

    def __init__(self, task, data, method, plan, ranges=Ranges(), scope="global",
                 alpha_measure="frobenius", other_kernels="free", score_batches=None,
                 verbose=0, reuse=True):
        super().__init__(name=f"{task.recipe.name}_{method}")
        self.task, self.data, self.method, self.plan = task, data, method, plan
        self.recipe = task.recipe
        self.flavour = flavour(method)
        self.settings = self.recipe.settings(self.flavour)  # refuses a recipe with no reference
        self.ranges, self.scope, self.verbose = ranges, scope, verbose
        self.alpha_measure, self.other_kernels = alpha_measure, other_kernels
        self.score_batches = score_batches
        self.reuse = reuse and self.recipe.schedule in schedules.LINEAR_IN_PEAK
        self.warm = None  # the search's WarmModel, after the first build when reusing

    def knobs(self, hp):
        """``{name: value}`` of this trial's lr and alpha or weight_decay."""
        if self.method == "reference":
            return {"lr": hp.Fixed("lr", self.settings.lr),
                    "weight_decay": hp.Fixed("weight_decay", self.settings.weight_decay)}
        lr = hp.Float("lr", *self.ranges.lr, sampling="log", default=self.settings.lr)
        if self.method == "fixnorm":
            return {"lr": lr, "alpha": hp.Float("alpha", *self.ranges.alpha, sampling="log",
                                                default=self.settings.alpha)}
        if self.method in FIXED:
            return {"lr": lr, **FIXED[self.method]}
        return {"lr": lr, "weight_decay": hp.Float("weight_decay", *self.ranges.weight_decay,
                                                   sampling="log")}

    def build(self, hp):
        """The trial's model: the search's model reset, when reusing one (see the
        class docstring), else a new one."""
        knobs = self.knobs(hp)
        if self.warm is not None:
            return self.warm.reset({name: knobs[name] for name in SEARCHED[self.method]})
        return self._new_model(knobs, self.reuse)

    def new_model(self, hp):
        """A new model for ``hp``, never the search's reused one (to load a
        trial's saved weights into)."""
        return self._new_model(self.knobs(hp), reuse=False)

    def _new_model(self, knobs, reuse):
        searched = {name: knobs[name] for name in SEARCHED[self.method]}
        # Reused, the searched knobs live in variables the step reads.
        variables = warm.knob_variables(searched) if reuse else {}
        values = {**knobs, **variables}
        schedule = (schedules.PeakScaled(self.task.schedule(1.0, self.plan), variables["lr"])
                    if "lr" in variables else self.task.schedule(knobs["lr"], self.plan))
        model = self.task.build_model()
        optimizer = make_optimizer(self.flavour, model, schedule, alpha=values.get("alpha"),
                                   weight_decay=values.get("weight_decay"), scope=self.scope,
                                   alpha_measure=self.alpha_measure,
                                   other_kernels=self.other_kernels,
                                   **self.task.fixnorm_options())
        model = self.task.compile(model, optimizer)
        if reuse:
            model.optimizer.build(model.trainable_variables)
            self.warm = warm.WarmModel(model, variables)
        return model

    def fit(self, hp, model, *args, callbacks=(), **kwargs):
        """Train for the plan; return the trial's validation results.

        A diverging run stops at its first NaN loss (TerminateOnNaN) and is
        scored by the task (a classifier as it stands, a dense model 0), so a
        learning rate that is too large gets a low score rather than
        crashing the search.
        """
        # A fresh pipeline: every trial sees the same stream (`Data.make_train`).
        history = model.fit(self.data.fresh_train().repeat(), epochs=self.plan.loops,
                            steps_per_epoch=self.plan.steps_per_loop, verbose=self.verbose,
                            shuffle=False,
                            callbacks=[*callbacks, keras.callbacks.TerminateOnNaN()])
        losses = history.history["loss"]
        diverged = not math.isfinite(losses[-1]) or len(losses) < self.plan.loops
        results = self.task.validate(model, self.data, diverged, self.score_batches)
        return {**results, "diverged": float(diverged)}
