"""FixNorm-tune's two stages, as pure functions of the trials so far (docs/method.md, "FixNorm-tune").

Stage 1 searches the learning rate with alpha at its start value; stage 2
searches alpha on powers of two with the learning rate at stage 1's best,
counting stage 1's best point as its own start (it is not run again). Each
stage is the one-dimensional search of `tf_fixnorm.tuning.search`.

`TwoStageSearch.next` takes every trial seen so far (finished, failed or
running) and says what to run next, whether to wait for running trials, or
that the search is over. Both front ends call it and nothing else decides:
the keras-tuner oracle (`tf_fixnorm.tuning.oracle`) and the Optuna sampler
(`tf_fixnorm.tuning.sampler`). Because the answer depends on the trials
alone, a search rebuilt from stored trials goes on exactly where it stopped.

Nothing here imports Keras, keras-tuner or Optuna.
"""

from __future__ import annotations

import dataclasses
import math

from tf_fixnorm.tuning import search

LR_STAGE, ALPHA_STAGE = "lr", "alpha"
RUN, WAIT, STOP = "run", "wait", "stop"


@dataclasses.dataclass(frozen=True)
class Observation:
    """One trial as the search sees it.

    Args:
      stage: LR_STAGE or ALPHA_STAGE, the stage that proposed it.
      lr, alpha: the values it was run with.
      score: the score, maximized (a front end negates minimized objectives);
        None for a failed trial, or for one still running.
      running: True while the trial is being evaluated (its point is taken,
        its score unknown).
    """

    stage: str
    lr: float
    alpha: float
    score: float | None = None
    running: bool = False


@dataclasses.dataclass(frozen=True)
class Decision:
    """What to do next: ``action`` is RUN (with ``stage``, ``lr`` and ``alpha``),
    WAIT (running trials must report first) or STOP (the search is over)."""

    action: str
    stage: str | None = None
    lr: float | None = None
    alpha: float | None = None


@dataclasses.dataclass(frozen=True)
class TwoStageSearch:
    """The two line searches of FixNorm-tune.

    Build it with `TwoStageSearch.create`, which takes the front ends'
    argument names and defaults.
    """

    lr: search.LineSearch
    alpha: search.LineSearch

    @classmethod
    def create(cls, lr_start=0.1, lr_range=(1e-3, 10.0), lr_ratio=2 ** 0.5, lr_bracket=4,
               lr_trials=7, alpha_start=1.0, alpha_range=(2.0 ** -6, 2.0 ** 8),
               alpha_bracket=2, alpha_trials=5):
        """The search from the arguments `FixNormTuneOracle` and
        `FixNormTuneSampler` document (alpha's grid ratio is always 2)."""
        return cls(
            search.LineSearch(float(lr_start), float(lr_ratio), lr_bracket,
                              float(lr_range[0]), float(lr_range[1]), lr_trials),
            search.LineSearch(float(alpha_start), 2.0, alpha_bracket,
                              float(alpha_range[0]), float(alpha_range[1]), alpha_trials))

    @property
    def budget(self) -> int:
        """Most trials the search runs (stage 2 reuses stage 1's best)."""
        return self.lr.budget + self.alpha.budget - 1

    # -- the trials, on each stage's grid --------------------------------------

    def points(self, observations, stage):
        """``({k: score}, {running k})`` of one stage's trials on its grid."""
        line, name = (self.lr, "lr") if stage == LR_STAGE else (self.alpha, "alpha")
        results, running = {}, set()
        for obs in observations:
            if obs.stage != stage:
                continue
            k = line.index(getattr(obs, name))
            if obs.running:
                running.add(k)
            else:
                results[k] = obs.score
        return results, running

    def best_lr(self, observations):
        """Stage 1's best learning rate and its score, or ``(None, None)``."""
        results, _ = self.points(observations, LR_STAGE)
        k = search.best(results)
        if k is None:
            return None, None
        return self.lr.value(k), results[k]

    def _alpha_points(self, observations):
        results, running = self.points(observations, ALPHA_STAGE)
        _, score = self.best_lr(observations)
        results.setdefault(0, score)  # stage 1's best, at alpha_start: not run again
        return results, running

    # -- what next ----------------------------------------------------------------

    def next(self, observations) -> Decision:
        """The next trial to run, or WAIT, or STOP (see `Decision`)."""
        results, running = self.points(observations, LR_STAGE)
        proposed = search.propose(self.lr, results, running)
        if proposed:
            return Decision(RUN, LR_STAGE, self.lr.value(proposed[0]), self.alpha.start)
        if running:
            return Decision(WAIT)
        lr, _ = self.best_lr(observations)
        if lr is None:  # every stage-1 trial failed
            return Decision(STOP)
        results, running = self._alpha_points(observations)
        proposed = search.propose(self.alpha, results, running)
        if proposed:
            return Decision(RUN, ALPHA_STAGE, lr, self.alpha.value(proposed[0]))
        return Decision(WAIT) if running else Decision(STOP)

    def stage(self, observations):
        """The stage in progress: LR_STAGE, ALPHA_STAGE, or None when finished."""
        results, running = self.points(observations, LR_STAGE)
        if not search.finished(self.lr, results, running):
            return LR_STAGE
        if self.best_lr(observations)[0] is None:
            return None
        if not search.finished(self.alpha, *self._alpha_points(observations)):
            return ALPHA_STAGE
        return None

    def off_grid(self, observations):
        """The first observation not on this search's grids, or None.

        Grid indices are nearest points, so trials from another start (say
        ``alpha_start`` 1 where this search starts at 4) would be misread
        silently; front ends refuse to resume such a search.
        """
        def on(line, value):
            return abs(math.log(value / line.value(line.index(value)))) < 1e-5

        for obs in observations:
            alpha_fits = (math.isclose(obs.alpha, self.alpha.start, rel_tol=1e-5)
                          if obs.stage == LR_STAGE else on(self.alpha, obs.alpha))
            if not (on(self.lr, obs.lr) and alpha_fits):
                return obs
        return None
