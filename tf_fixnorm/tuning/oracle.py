"""`FixNormTuneOracle`: FixNorm-tune as a keras-tuner oracle (docs/method.md, "FixNorm-tune").

Stage 1 searches log(lr) with alpha at its start value; stage 2 searches
alpha on powers of two with lr at stage 1's best. Each stage is the pure
1-D search of `tf_fixnorm.tuning.search`; this file is the plumbing between
it and keras-tuner.

Everything the search needs is rebuilt from the oracle's trials on every
call (the stage each trial belongs to is the only extra state, saved with
the oracle), so a tuner killed and restarted on the same directory goes on
where it stopped: finished trials are kept and not re-run, and the trial that
was running when it died is run again (keras-tuner's retry queue). The
state files are written atomically (`tf_fixnorm.tuning.state`).
"""

from __future__ import annotations

import math

import keras_tuner
from keras_tuner.engine import trial as trial_module

from tf_fixnorm.tuning import search
from tf_fixnorm.tuning.state import DurableState

LR_STAGE, ALPHA_STAGE = "lr", "alpha"
_DONE = (trial_module.TrialStatus.COMPLETED, trial_module.TrialStatus.FAILED)


class FixNormTuneOracle(DurableState, keras_tuner.Oracle):
    """Two-stage search over the learning rate, then the classifier norm alpha.

    Works with any keras-tuner `Tuner` whose hypermodel reads the two values
    as ``hp.Float(lr_name, ...)`` and ``hp.Float(alpha_name, ...)``; other
    hyperparameters keep their defaults. With several workers (keras-tuner's
    chief/worker mode) each request gets a different point of the current
    stage; a worker waits (the trial status is IDLE) only when the stage has
    nothing left to hand out before the running trials report.

    Args:
      objective: the keras-tuner objective (name or `keras_tuner.Objective`);
        its direction is honoured.
      lr_start: the learning rate the search starts from.
      lr_range: ``(lowest, highest)`` learning rate it may try.
      lr_ratio: finest factor between learning rates (the grid).
      lr_bracket: grid steps per bracketing step (``lr_ratio**lr_bracket``
        is the bracketing factor; 4 by default).
      lr_trials: trials of stage 1.
      alpha_start: the alpha of stage 1, where stage 2 starts.
      alpha_range: ``(lowest, highest)`` alpha; alpha stays a power of two
        times ``alpha_start``.
      alpha_bracket: factors of two per bracketing step in stage 2.
      alpha_trials: trials of stage 2, counting stage 1's best (reused, not
        run again).
      lr_name, alpha_name: the hyperparameter names the hypermodel reads.
      max_trials: a cap on trials; default ``lr_trials + alpha_trials - 1``.
      **kwargs: passed to `keras_tuner.Oracle` (``seed``,
        ``max_retries_per_trial``, ``max_consecutive_failed_trials``, ...).
        The search itself is deterministic: the same results give the same
        trials whatever the seed.
    """

    def __init__(self, objective="val_accuracy", lr_start=0.1, lr_range=(1e-3, 10.0),
                 lr_ratio=2 ** 0.5, lr_bracket=4, lr_trials=7, alpha_start=1.0,
                 alpha_range=(2.0 ** -6, 2.0 ** 8), alpha_bracket=2, alpha_trials=5,
                 lr_name="lr", alpha_name="alpha", max_trials=None, **kwargs):
        self.lr_search = search.LineSearch(lr_start, float(lr_ratio), lr_bracket,
                                           float(lr_range[0]), float(lr_range[1]), lr_trials)
        self.alpha_search = search.LineSearch(alpha_start, 2.0, alpha_bracket,
                                              float(alpha_range[0]), float(alpha_range[1]),
                                              alpha_trials)
        self.lr_name, self.alpha_name = lr_name, alpha_name
        if max_trials is None:
            max_trials = lr_trials + alpha_trials - 1
        hyperparameters = kwargs.pop("hyperparameters", None) or keras_tuner.HyperParameters()
        hyperparameters.Float(lr_name, lr_range[0], lr_range[1], sampling="log",
                              default=lr_start)
        hyperparameters.Float(alpha_name, alpha_range[0], alpha_range[1], sampling="log",
                              default=alpha_start)
        super().__init__(objective=objective, max_trials=max_trials,
                         hyperparameters=hyperparameters, **kwargs)
        self.stages = {}  # trial_id -> LR_STAGE or ALPHA_STAGE

    # -- the search, rebuilt from the trials ---------------------------------

    def _stage_points(self, stage, line, name):
        """``({k: score}, {pending k})`` of one stage's trials, scores maximized."""
        sign = 1.0 if self.objective.direction == "max" else -1.0
        results, pending = {}, set()
        for trial_id, trial_stage in self.stages.items():
            if trial_stage != stage or trial_id not in self.trials:
                continue
            trial = self.trials[trial_id]
            k = line.index(trial.hyperparameters.values[name])
            if trial.status == trial_module.TrialStatus.COMPLETED and trial.score is not None:
                results[k] = sign * float(trial.score)
            elif trial.status in _DONE:
                results[k] = None  # failed, retries spent
            else:
                pending.add(k)  # running, or waiting for a retry
        return results, pending

    def best_lr(self):
        """Stage 1's best learning rate and its score (maximized), or (None, None)."""
        results, _ = self._stage_points(LR_STAGE, self.lr_search, self.lr_name)
        k = search.best(results)
        if k is None:
            return None, None
        return self.lr_search.value(k), results[k]

    def stage(self):
        """The stage in progress: LR_STAGE, ALPHA_STAGE, or None when finished."""
        results, pending = self._stage_points(LR_STAGE, self.lr_search, self.lr_name)
        if not search.finished(self.lr_search, results, pending):
            return LR_STAGE
        lr, _ = self.best_lr()
        if lr is None:
            return None
        results, pending = self._alpha_points()
        if not search.finished(self.alpha_search, results, pending):
            return ALPHA_STAGE
        return None

    def _alpha_points(self):
        results, pending = self._stage_points(ALPHA_STAGE, self.alpha_search, self.alpha_name)
        _, score = self.best_lr()
        results.setdefault(0, score)  # stage 1's best, at alpha_start: not run again
        return results, pending

    def populate_space(self, trial_id):
        # Other hyperparameters of the hypermodel keep their defaults.
        values = {hp.name: hp.default for hp in self.hyperparameters.space}
        results, pending = self._stage_points(LR_STAGE, self.lr_search, self.lr_name)
        points = search.propose(self.lr_search, results, pending)
        if points:
            values[self.lr_name] = self.lr_search.value(points[0])
            values[self.alpha_name] = self.alpha_search.start
            return self._running(trial_id, LR_STAGE, values)
        if pending:
            return {"status": trial_module.TrialStatus.IDLE}
        lr, _ = self.best_lr()
        if lr is None:  # every stage-1 trial failed
            return {"status": trial_module.TrialStatus.STOPPED}
        results, pending = self._alpha_points()
        points = search.propose(self.alpha_search, results, pending)
        if points:
            values[self.lr_name] = lr
            values[self.alpha_name] = self.alpha_search.value(points[0])
            return self._running(trial_id, ALPHA_STAGE, values)
        if pending:
            return {"status": trial_module.TrialStatus.IDLE}
        return {"status": trial_module.TrialStatus.STOPPED}

    def _running(self, trial_id, stage, values):
        self.stages[trial_id] = stage
        return {"status": trial_module.TrialStatus.RUNNING, "values": values}

    # -- state ------------------------------------------------------------------

    def get_state(self):
        state = super().get_state()
        state["fixnorm_tune_stages"] = dict(self.stages)
        return state

    def set_state(self, state):
        super().set_state(state)
        self.stages = dict(state.get("fixnorm_tune_stages", {}))
        self._check_resumed_trials_fit_the_grids()

    def _check_resumed_trials_fit_the_grids(self):
        """A resumed project must have been searched from the same start points.

        Grid indices are nearest points, so trials from another start (say
        ``alpha_start`` 1 where this oracle starts at 4) would be misread
        silently; the first trial of stage 1 is at the starts it was run from.
        """
        def on(line, value):
            return abs(math.log(value / line.value(line.index(value)))) < 1e-5

        def fits(trial_id, stage):
            values = self.trials[trial_id].hyperparameters.values
            alpha = values[self.alpha_name]
            return on(self.lr_search, values[self.lr_name]) and (
                math.isclose(alpha, self.alpha_search.start, rel_tol=1e-5)
                if stage == LR_STAGE else on(self.alpha_search, alpha))

        if not all(fits(trial_id, stage) for trial_id, stage in self.stages.items()
                   if trial_id in self.trials):
            first = self.trials[self.start_order[0]].hyperparameters.values
            raise ValueError(
                f"{self._project_dir} holds a FixNorm-tune search started from lr "
                f"{first[self.lr_name]:g} and alpha {first[self.alpha_name]:g}, not lr "
                f"{self.lr_search.start:g} and alpha {self.alpha_search.start:g}: resume it "
                f"with --lr_start={first[self.lr_name]:g} --alpha_start="
                f"{first[self.alpha_name]:g} (and its --lr_range, --alpha_range), or start "
                "afresh with --overwrite")
