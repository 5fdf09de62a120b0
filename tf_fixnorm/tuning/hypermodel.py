"""One hypermodel for every tuning method: a recipe's training run.

Every method trains the same model on the same data with the same schedule
and epochs; only the searched knobs differ (METHOD.md section 3):

| method      | optimizer                         | searched            |
|-------------|-----------------------------------|---------------------|
| `fixnorm`   | FixNorm(SGD momentum 0.9)         | lr, alpha           |
| `bo_wd`     | SGD momentum 0.9 + coupled L2     | lr, weight_decay    |
| `random`    | SGD momentum 0.9 + coupled L2     | lr, weight_decay    |
| `reference` | SGD momentum 0.9 + coupled L2     | nothing: the recipe's reference lr and lambda |

A trial's score is measured once, after the last epoch, on the evaluation
set (for embedded data a validation split held out of the training set; the
test split is never seen by the tuner): the model the recipe would deliver,
not the best epoch of a curve.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import keras_tuner

from tf_fixnorm import experiment, training

METHODS = ("fixnorm", "bo_wd", "random", "reference")
SEARCHED = {"fixnorm": ("lr", "alpha"), "bo_wd": ("lr", "weight_decay"),
            "random": ("lr", "weight_decay"), "reference": ()}


@dataclasses.dataclass(frozen=True)
class Ranges:
    """Search ranges, the same for every method that searches a knob."""

    lr: tuple = (1e-3, 10.0)
    alpha: tuple = (2.0 ** -6, 2.0 ** 8)
    weight_decay: tuple = (1e-6, 1e-2)

    def __post_init__(self):
        for name in ("lr", "alpha", "weight_decay"):
            low, high = getattr(self, name)
            if not 0 < low < high:
                raise ValueError(f"{name} range must satisfy 0 < low < high, got ({low}, {high})")


def flavour(method):
    """The recipe flavour a method trains: "fixnorm" or "reference"."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return "fixnorm" if method == "fixnorm" else "reference"


class RecipeHyperModel(keras_tuner.HyperModel):
    """Builds and trains a recipe's model for one trial.

    Args:
      recipe: a `tf_fixnorm.recipes.Recipe` (its model, schedule, epochs).
      data: an `experiment.Data`; trials train on ``data.train`` and are
        scored on ``data.evaluation``.
      method: one of ``METHODS``.
      steps_per_epoch: training steps per epoch.
      epochs: overrides the recipe's epochs.
      ranges: the `Ranges` searched knobs are declared with.
      scope, alpha_measure, other_kernels: FixNorm's options (`FixNorm`).
      verbose: Keras fit verbosity (0 for tuning).
    """

    def __init__(self, recipe, data, method, steps_per_epoch, epochs=None, ranges=Ranges(),
                 scope="global", alpha_measure="frobenius", other_kernels="free", verbose=0):
        super().__init__(name=f"{recipe.name}_{method}")
        self.recipe, self.data, self.method = recipe, data, method
        self.flavour = flavour(method)
        self.settings = recipe.settings(self.flavour)  # refuses a recipe with no reference
        self.steps_per_epoch = int(steps_per_epoch)
        self.epochs = int(epochs or recipe.epochs)
        self.ranges, self.scope, self.verbose = ranges, scope, verbose
        self.alpha_measure, self.other_kernels = alpha_measure, other_kernels

    def knobs(self, hp):
        """``{name: value}`` of this trial's lr and alpha or weight_decay."""
        if self.method == "reference":
            return {"lr": hp.Fixed("lr", self.settings.lr),
                    "weight_decay": hp.Fixed("weight_decay", self.settings.weight_decay)}
        lr = hp.Float("lr", *self.ranges.lr, sampling="log", default=self.settings.lr)
        if self.method == "fixnorm":
            return {"lr": lr, "alpha": hp.Float("alpha", *self.ranges.alpha, sampling="log",
                                                default=self.settings.alpha)}
        return {"lr": lr, "weight_decay": hp.Float("weight_decay", *self.ranges.weight_decay,
                                                   sampling="log")}

    def build(self, hp):
        knobs = self.knobs(hp)
        model = experiment.build_model(self.recipe)
        schedule = training.lr_schedule(knobs["lr"], self.steps_per_epoch, self.epochs,
                                        self.recipe.warmup_epochs, self.recipe.schedule)
        optimizer = training.make_optimizer(self.flavour, model, schedule,
                                            alpha=knobs.get("alpha"),
                                            weight_decay=knobs.get("weight_decay"),
                                            scope=self.scope,
                                            alpha_measure=self.alpha_measure,
                                            other_kernels=self.other_kernels)
        model.compile(optimizer=optimizer, loss=experiment.make_loss(self.recipe),
                      metrics=["accuracy"])
        return model

    def fit(self, hp, model, *args, callbacks=(), **kwargs):
        """Train for the recipe's epochs; return the final evaluation metrics.

        A diverging run stops at its first NaN loss (TerminateOnNaN) and is
        scored as it stands, so a learning rate that is too large gets a low
        score rather than crashing the search.
        """
        history = model.fit(self.data.train.repeat(), epochs=self.epochs,
                            steps_per_epoch=self.steps_per_epoch, verbose=self.verbose, shuffle=False,
                            callbacks=[*callbacks, keras.callbacks.TerminateOnNaN()])
        loss, accuracy = model.evaluate(self.data.evaluation, verbose=0)
        train_loss = history.history["loss"][-1]
        diverged = not math.isfinite(train_loss) or len(history.history["loss"]) < self.epochs
        return {"val_accuracy": float(accuracy), "val_metric": float(accuracy),
                "val_loss": float(loss), "diverged": float(diverged)}


class DenseRecipeHyperModel(RecipeHyperModel):
    """Trials of a segmentation or detection recipe (`recipes.DenseRecipe`).

    A trial trains ``epochs`` loops of ``steps_per_epoch`` iterations with
    the recipe's iteration schedule and is scored on ``val_metric``: the
    recipe's metric (mIoU or COCO AP, as a fraction) on the validation
    split, on its first ``score_batches`` batches when given.

    Args:
      data: a `dense_experiment.DenseData`.
      score_batches: validation batches scored per trial (None: all).
      Others: as `RecipeHyperModel`.
    """

    def __init__(self, recipe, data, method, steps_per_epoch, epochs=None, score_batches=None,
                 **kwargs):
        super().__init__(recipe, data, method, steps_per_epoch, epochs=epochs or 1, **kwargs)
        self.score_batches = score_batches

    def build(self, hp):
        from tf_fixnorm import dense_experiment

        knobs = self.knobs(hp)
        model = dense_experiment.build_model(self.recipe)
        schedule = training.iteration_schedule(knobs["lr"], self.steps_per_epoch * self.epochs,
                                               self.recipe.warmup_iterations,
                                               self.recipe.schedule)
        extra = {}
        if self.flavour == "fixnorm":
            extra = {"classifier_outputs": dense_experiment.classifier_outputs(self.recipe),
                     "scope": self.scope, "alpha_measure": self.alpha_measure,
                     "other_kernels": self.other_kernels}
        optimizer = training.make_optimizer(self.flavour, model, schedule,
                                            alpha=knobs.get("alpha"),
                                            weight_decay=knobs.get("weight_decay"), **extra)
        return dense_experiment.compile_model(model, self.recipe, optimizer)

    def fit(self, hp, model, *args, callbacks=(), **kwargs):
        """Train; return the validation metric and loss (see the class)."""
        from tf_fixnorm import dense_experiment

        history = model.fit(self.data.train, epochs=self.epochs,
                            steps_per_epoch=self.steps_per_epoch, verbose=self.verbose,
                            callbacks=[*callbacks, keras.callbacks.TerminateOnNaN()])
        losses = history.history["loss"]
        diverged = not math.isfinite(losses[-1]) or len(losses) < self.epochs
        loss = model.evaluate(self.data.evaluation, verbose=0, return_dict=True)["loss"]
        metric = 0.0
        if not diverged:
            metric = dense_experiment.score(model, self.recipe, self.data,
                                            self.score_batches)["metric"] / 100
        return {"val_metric": float(metric), "val_loss": float(loss), "diverged": float(diverged)}
