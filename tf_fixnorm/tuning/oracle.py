"""`FixNormTuneOracle`: FixNorm-tune as a keras-tuner oracle (docs/method.md, "FixNorm-tune").

Stage 1 searches log(lr) with alpha at its start value; stage 2 searches
alpha on powers of two with lr at stage 1's best. The search itself is
`tf_fixnorm.tuning.two_stage` (pure, shared with the Optuna sampler); this
file is the plumbing between it and keras-tuner.

Everything the search needs is rebuilt from the oracle's trials on every
call (the stage each trial belongs to is the only extra state, saved with
the oracle), so a tuner killed and restarted on the same directory goes on
where it stopped: finished trials are kept and not re-run, and the trial that
was running when it died is run again (keras-tuner's retry queue). The
state files are written atomically (`tf_fixnorm.tuning.state`), and a worker
lost for ``worker_timeout`` seconds loses its trial to another
(`tf_fixnorm.tuning.leases`).
"""

from __future__ import annotations

import keras_tuner
from keras_tuner.engine import trial as trial_module

from tf_fixnorm.tuning import two_stage
from tf_fixnorm.tuning.leases import WorkerLeases
from tf_fixnorm.tuning.state import DurableState
from tf_fixnorm.tuning.two_stage import ALPHA_STAGE, LR_STAGE

__all__ = ["FixNormTuneOracle", "LR_STAGE", "ALPHA_STAGE"]
_DONE = (trial_module.TrialStatus.COMPLETED, trial_module.TrialStatus.FAILED)


class FixNormTuneOracle(DurableState, WorkerLeases, keras_tuner.Oracle):
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
      worker_timeout: in chief/worker mode, seconds without a word from a
        worker before its trial goes to another (`WorkerLeases`); None: never.
      **kwargs: passed to `keras_tuner.Oracle` (``seed``,
        ``max_retries_per_trial``, ``max_consecutive_failed_trials``, ...).
        The search itself is deterministic: the same results give the same
        trials whatever the seed.
    """

    def __init__(self, objective="val_accuracy", lr_start=0.1, lr_range=(1e-3, 10.0),
                 lr_ratio=2 ** 0.5, lr_bracket=4, lr_trials=7, alpha_start=1.0,
                 alpha_range=(2.0 ** -6, 2.0 ** 8), alpha_bracket=2, alpha_trials=5,
                 lr_name="lr", alpha_name="alpha", max_trials=None, **kwargs):
        self.plan = two_stage.TwoStageSearch.create(
            lr_start, lr_range, lr_ratio, lr_bracket, lr_trials, alpha_start, alpha_range,
            alpha_bracket, alpha_trials)
        self.lr_search, self.alpha_search = self.plan.lr, self.plan.alpha
        self.lr_name, self.alpha_name = lr_name, alpha_name
        if max_trials is None:
            max_trials = self.plan.budget
        hyperparameters = kwargs.pop("hyperparameters", None) or keras_tuner.HyperParameters()
        hyperparameters.Float(lr_name, lr_range[0], lr_range[1], sampling="log",
                              default=lr_start)
        hyperparameters.Float(alpha_name, alpha_range[0], alpha_range[1], sampling="log",
                              default=alpha_start)
        super().__init__(objective=objective, max_trials=max_trials,
                         hyperparameters=hyperparameters, **kwargs)
        self.stages = {}  # trial_id -> LR_STAGE or ALPHA_STAGE

    # -- the search, rebuilt from the trials ---------------------------------

    def observations(self):
        """Every trial the search proposed, as `two_stage.Observation`s."""
        sign = 1.0 if self.objective.direction == "max" else -1.0
        seen = []
        for trial_id, stage in self.stages.items():
            if trial_id not in self.trials:
                continue
            trial = self.trials[trial_id]
            values = trial.hyperparameters.values
            lr, alpha = values[self.lr_name], values[self.alpha_name]
            if trial.status == trial_module.TrialStatus.COMPLETED and trial.score is not None:
                seen.append(two_stage.Observation(stage, lr, alpha, sign * float(trial.score)))
            elif trial.status in _DONE:
                seen.append(two_stage.Observation(stage, lr, alpha))  # failed, retries spent
            else:  # running, or waiting for a retry
                seen.append(two_stage.Observation(stage, lr, alpha, running=True))
        return seen

    def best_lr(self):
        """Stage 1's best learning rate and its score (maximized), or (None, None)."""
        return self.plan.best_lr(self.observations())

    def stage(self):
        """The stage in progress: LR_STAGE, ALPHA_STAGE, or None when finished."""
        return self.plan.stage(self.observations())

    def _search_done(self):
        return self.stage() is None

    def populate_space(self, trial_id):
        decision = self.plan.next(self.observations())
        if decision.action == two_stage.WAIT:
            return {"status": trial_module.TrialStatus.IDLE}
        if decision.action == two_stage.STOP:
            return {"status": trial_module.TrialStatus.STOPPED}
        # Other hyperparameters of the hypermodel keep their defaults.
        values = {hp.name: hp.default for hp in self.hyperparameters.space}
        values[self.lr_name], values[self.alpha_name] = decision.lr, decision.alpha
        self.stages[trial_id] = decision.stage
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
        """A resumed project must have been searched from the same start points
        (`two_stage.TwoStageSearch.off_grid` says why)."""
        if self.plan.off_grid(self.observations()) is not None:
            first = self.trials[self.start_order[0]].hyperparameters.values
            raise ValueError(
                f"{self._project_dir} holds a FixNorm-tune search started from lr "
                f"{first[self.lr_name]:g} and alpha {first[self.alpha_name]:g}, not lr "
                f"{self.lr_search.start:g} and alpha {self.alpha_search.start:g}: resume it "
                f"with --lr_start={first[self.lr_name]:g} --alpha_start="
                f"{first[self.alpha_name]:g} (and its --lr_range, --alpha_range), or start "
                "afresh with --overwrite")
