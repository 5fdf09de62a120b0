"""`FixNormTuneSampler`: FixNorm-tune as an Optuna sampler (docs/method.md, "FixNorm-tune").

The search is `tf_fixnorm.tuning.two_stage`, the same pure code the
keras-tuner oracle runs; this file is the plumbing between it and Optuna.

Everything the search needs is read from the study's storage: a trial the
sampler proposed carries its stage and point in one system attribute
(``fixnorm_tune``), written in `before_trial`, right after Optuna creates the
trial and before the objective runs. So

- a study loaded again from its storage goes on exactly where it stopped
  (a trial whose process was killed stays RUNNING in Optuna's storage and
  counts as still running until it is failed: by Optuna's heartbeat, with
  an `RDBStorage(heartbeat_interval=...)`, or by hand with
  ``study.tell(number, state=TrialState.FAIL)``);
- processes sharing one storage see each other's running trials as taken
  points. Trials decide in the order of their numbers: a trial waits until
  every lower-numbered trial of this sampler holds its point (or finished),
  so two processes never get the same point;
- a trial that cannot be given a point before running trials report (the
  stage's next points depend on them) waits in `before_trial`, as a
  keras-tuner worker waits on an IDLE trial.

When the search has nothing left, the sampler stops the study
(`Study.stop`). A trial created after that (by a process that was waiting
when the last result came in) is pruned at its first ``suggest_*`` call
before the objective does any work.
"""

from __future__ import annotations

import time

import optuna
from optuna.distributions import FloatDistribution
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import TrialState

from tf_fixnorm.tuning import two_stage

__all__ = ["FixNormTuneSampler"]

ATTR = "fixnorm_tune"  # system attribute: {"stage", "lr", "alpha"} | {"waiting"} | {"done"}
# A lower-numbered running trial with no attribute yet is waited for this
# long (it is normally written milliseconds after the trial is created);
# after that it is taken to belong to another sampler and left out.
CLAIM_TIMEOUT_S = 10.0
# A waiting trial whose time has not been refreshed for this long (or ten
# wait intervals) belongs to a process that died while waiting.
STALE_AFTER_S = 60.0

_logger = optuna.logging.get_logger(__name__)


class FixNormTuneSampler(optuna.samplers.BaseSampler):
    """Two-stage search over the learning rate, then the classifier norm alpha.

    The objective suggests the two values by name, on a log scale, over ranges
    that hold the sampler's::

        lr = trial.suggest_float("lr", 1e-3, 10.0, log=True)
        alpha = trial.suggest_float("alpha", 2.0 ** -6, 2.0 ** 8, log=True)

    The search is deterministic: the same results give the same trials. Other
    parameters the objective suggests come from ``independent_sampler``.

    Args:
      lr_start, lr_range, lr_ratio, lr_bracket, lr_trials, alpha_start,
        alpha_range, alpha_bracket, alpha_trials: the search, as in
        `tf_fixnorm.tuning.FixNormTuneOracle` (defaults alike).
      lr_name, alpha_name: the parameter names the objective suggests.
      independent_sampler: samples every other parameter; default
        ``optuna.samplers.RandomSampler(seed)``.
      seed: seed of the default independent sampler (the search itself
        needs none).
      wait_interval: seconds between looks at the storage while a trial
        waits for running trials to report.

    Failed and pruned trials count as failed points (worse than any score).
    A failed trial that Optuna retries (``RetryFailedTrialCallback``, with a
    heartbeat storage) is replaced by its retry, which keeps its point.
    Trials the user enqueues (``study.enqueue_trial``) are not part of the
    search.
    """

    def __init__(self, lr_start=0.1, lr_range=(1e-3, 10.0), lr_ratio=2 ** 0.5, lr_bracket=4,
                 lr_trials=7, alpha_start=1.0, alpha_range=(2.0 ** -6, 2.0 ** 8),
                 alpha_bracket=2, alpha_trials=5, lr_name="lr", alpha_name="alpha",
                 independent_sampler=None, seed=None, wait_interval=1.0):
        self.plan = two_stage.TwoStageSearch.create(
            lr_start, lr_range, lr_ratio, lr_bracket, lr_trials, alpha_start, alpha_range,
            alpha_bracket, alpha_trials)
        if lr_name == alpha_name:
            raise ValueError(f"lr_name and alpha_name must differ, both are {lr_name!r}")
        if not wait_interval > 0:
            raise ValueError(f"wait_interval must be > 0, got {wait_interval}")
        self.lr_name, self.alpha_name = lr_name, alpha_name
        self.wait_interval = float(wait_interval)
        self.stale_after = max(STALE_AFTER_S, 10 * self.wait_interval)
        self._independent = independent_sampler or optuna.samplers.RandomSampler(seed=seed)

    # -- the search, read from the storage -----------------------------------

    def _observations(self, study, trials, finishing=None):
        """The search's view of ``trials``: `two_stage.Observation`s.

        ``finishing`` is ``(number, state, values)`` of a trial whose result
        is being told (still RUNNING in the storage).
        """
        sign = 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
        retried = {number for t in trials for number in t.system_attrs.get("retry_history", ())}
        seen = []
        for t in trials:
            claim = t.system_attrs.get(ATTR) or {}
            if "stage" not in claim:
                continue
            state, values = t.state, t.values
            if finishing is not None and t.number == finishing[0]:
                state, values = finishing[1], finishing[2]
            point = (claim["stage"], claim["lr"], claim["alpha"])
            if state == TrialState.COMPLETE and values:
                seen.append(two_stage.Observation(*point, sign * float(values[0])))
            elif state in (TrialState.FAIL, TrialState.PRUNED):
                if t.number not in retried:
                    seen.append(two_stage.Observation(*point))
            else:  # running, or a retry waiting to run
                seen.append(two_stage.Observation(*point, running=True))
        return seen

    def _all_trials(self, study):
        return study._storage.get_all_trials(study._study_id, deepcopy=False)

    def is_finished(self, study) -> bool:
        """True when the search has nothing left to run or wait for."""
        decision = self.plan.next(self._observations(study, self._all_trials(study)))
        return decision.action == two_stage.STOP

    def best_lr(self, study):
        """Stage 1's best learning rate and its score (maximized), or (None, None)."""
        return self.plan.best_lr(self._observations(study, self._all_trials(study)))

    # -- Optuna's sampler interface -------------------------------------------

    def before_trial(self, study, trial):
        self._raise_error_if_multi_objective(study)
        claim = trial.system_attrs.get(ATTR) or {}
        if "stage" in claim or "fixed_params" in trial.system_attrs:
            return  # a retry keeps its point; enqueued trials are the user's
        try:
            self._decide(study, trial)
        except BaseException:
            # Interrupted while waiting (Ctrl-C, say): fail the trial so that it
            # does not hold up later ones, which decide after it.
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            raise

    def _decide(self, study, trial):
        """Give ``trial`` its point, or mark the search done; wait while neither can be."""
        storage = study._storage
        first_seen, logged, waiting = {}, False, False
        while True:
            trials = self._all_trials(study)
            if not waiting:
                self._check_resumable(study, trials)
            blockers = self._unclaimed_before(trial.number, trials, first_seen)
            decision = None if blockers else self.plan.next(self._observations(study, trials))
            if decision is not None and decision.action == two_stage.RUN:
                storage.set_trial_system_attr(trial._trial_id, ATTR, {
                    "stage": decision.stage, "lr": decision.lr, "alpha": decision.alpha})
                return
            if decision is not None and decision.action == two_stage.STOP:
                storage.set_trial_system_attr(trial._trial_id, ATTR, {"done": True})
                _stop(study)
                return
            # Waiting: say so, with the time, refreshed while alive (see `_unclaimed_before`).
            storage.set_trial_system_attr(trial._trial_id, ATTR,
                                          {"waiting": True, "at": time.time()})
            waiting = True
            if is_heartbeat_enabled(storage):
                storage.record_heartbeat(trial._trial_id)  # Optuna's thread starts later
                optuna.storages.fail_stale_trials(study)
            if not logged:
                running = [t.number for t in trials if t.state == TrialState.RUNNING
                           and "stage" in (t.system_attrs.get(ATTR) or {})]
                _logger.info(
                    f"Trial {trial.number} waits: "
                    + (f"trials {blockers} decide first. " if blockers else
                       f"the search's next points depend on trials {running}. ")
                    + "If their process is gone, mark them failed (study.tell(number, "
                    "state=optuna.trial.TrialState.FAIL)) or use a storage with a heartbeat.")
                logged = True
            time.sleep(self.wait_interval)

    def _unclaimed_before(self, number, trials, first_seen):
        """Lower-numbered running trials of this sampler that hold no point yet.

        A trial with no attribute yet is normally given one within
        milliseconds; after `CLAIM_TIMEOUT_S` it is taken to be another
        sampler's. A waiting trial refreshes its time on every look at the
        storage; one silent for `stale_after` seconds is taken to be dead.
        """
        now = time.monotonic()
        blockers = []
        for t in trials:
            if t.number >= number or t.state != TrialState.RUNNING:
                continue
            claim = t.system_attrs.get(ATTR)
            if claim is None:
                if "fixed_params" in t.system_attrs:
                    continue
                if now - first_seen.setdefault(t.number, now) > CLAIM_TIMEOUT_S:
                    continue  # not ours after all
                blockers.append(t.number)
            elif claim.get("waiting") and time.time() - claim.get("at", 0.0) < self.stale_after:
                blockers.append(t.number)
        return blockers

    def _check_resumable(self, study, trials):
        off = self.plan.off_grid(self._observations(study, trials))
        if off is not None:
            raise ValueError(
                f"Study {study.study_name!r} holds a FixNorm-tune search with a trial at lr "
                f"{off.lr:g}, alpha {off.alpha:g}, off the grid of this sampler (lr_start "
                f"{self.plan.lr.start:g}, alpha_start {self.plan.alpha.start:g}): resume it "
                "with the sampler arguments it was started with, or start a new study")

    def infer_relative_search_space(self, study, trial):
        return {
            self.lr_name: FloatDistribution(self.plan.lr.lower, self.plan.lr.upper, log=True),
            self.alpha_name: FloatDistribution(self.plan.alpha.lower, self.plan.alpha.upper,
                                               log=True),
        }

    def sample_relative(self, study, trial, search_space):
        claim = study._storage.get_trial_system_attrs(trial._trial_id).get(ATTR) or {}
        if claim.get("done"):
            raise optuna.TrialPruned("FixNorm-tune's search has finished")
        if "stage" not in claim:  # enqueued by the user: nothing to propose
            return {}
        return {self.lr_name: claim["lr"], self.alpha_name: claim["alpha"]}

    def sample_independent(self, study, trial, param_name, param_distribution):
        claim = study._storage.get_trial_system_attrs(trial._trial_id).get(ATTR) or {}
        if param_name in (self.lr_name, self.alpha_name) and "stage" in claim:
            line = self.plan.lr if param_name == self.lr_name else self.plan.alpha
            raise ValueError(
                f"FixNormTuneSampler searches {param_name!r} over [{line.lower:g}, "
                f"{line.upper:g}] on a log scale, but the objective suggests it as "
                f"{param_distribution}: use trial.suggest_float({param_name!r}, low, high, "
                f"log=True) with low <= {line.lower:g} and high >= {line.upper:g}")
        return self._independent.sample_independent(study, trial, param_name,
                                                    param_distribution)

    def after_trial(self, study, trial, state, values):
        self._independent.after_trial(study, trial, state, values)
        trials = self._all_trials(study)
        finishing = (trial.number, state, values)
        if self.plan.next(self._observations(study, trials, finishing)).action == two_stage.STOP:
            _stop(study)

    def reseed_rng(self):
        self._independent.reseed_rng()


def _stop(study):
    """`Study.stop`, which works only inside `Study.optimize` (not ask and tell)."""
    try:
        study.stop()
    except RuntimeError:
        pass
