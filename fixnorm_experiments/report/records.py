"""Trial and run records of a tuning session, and the scores read from them.

A results file (`results_file.py`) holds, per method and search seed, the
trials in the order they started:

- trial: ``{"trial_id": "03", "index": 4, "status": "COMPLETED", "score":
  0.9712, "values": {"lr": 0.2, "alpha": 4.0}, "stage": "lr", "seconds": 4.1}``;
  ``index`` is 1-based, a failed trial has status "FAILED" (or "INVALID")
  and score None.
- run: ``{"method": "fixnorm", "seed": 0, "trials": [...], "seconds": 50.2}``.
- results: ``{"recipe": ..., "objective": "val_accuracy", "direction": "max",
  "margin": 0.002, "runs": [...], "command": ..., "machine": ..., "created":
  ...}``; ``direction`` is "max" or "min".

Pure Python: nothing here imports TensorFlow, Keras or matplotlib.
"""

from __future__ import annotations

import math

COMPLETED = "COMPLETED"
DIRECTIONS = ("max", "min")


def check_direction(direction):
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'max' or 'min', got {direction!r}")


def usable(score):
    """Whether a score counts: a finite number (None and NaN are failures)."""
    return score is not None and math.isfinite(score)


def better(score, than, direction):
    """Whether ``score`` is strictly better than ``than`` (None: anything is)."""
    if than is None:
        return True
    return score > than if direction == "max" else score < than


def best_so_far(scores, direction="max"):
    """The best score among the first 1, 2, ... trials.

    Args:
      scores: per trial in start order; None (or NaN) for a failed trial.
      direction: "max" or "min", which scores are better.

    Returns:
      A list as long as ``scores``: a failed trial carries the previous best;
      None until the first usable score.
    """
    check_direction(direction)
    best, curve = None, []
    for score in scores:
        if usable(score) and better(score, best, direction):
            best = score
        curve.append(best)
    return curve


def _reaches(score, target, direction):
    return score >= target if direction == "max" else score <= target


def trials_to_reach(scores, target, direction="max"):
    """How many trials it takes until the best so far first reaches a target.

    Args:
      scores: per trial in start order; None for a failed trial.
      target: the score to reach (>= for "max", <= for "min"); None: never.
      direction: "max" or "min".

    Returns:
      The 1-based trial count, or None if the target is never reached.
    """
    if target is None:
        return None
    for count, best in enumerate(best_so_far(scores, direction), start=1):
        if best is not None and _reaches(best, target, direction):
            return count
    return None


def sorted_trials(run):
    """A run's trial records in the order they started (by ``index``).

    Args:
      run: a run record.
    """
    return sorted(run.get("trials", []), key=lambda trial: trial.get("index", 0))


def trial_score(trial):
    """A trial's score if it completed with a usable score, else None.

    Args:
      trial: a trial record.
    """
    score = trial.get("score")
    if trial.get("status", COMPLETED) != COMPLETED or not usable(score):
        return None
    return score


def run_scores(run):
    """A run's scores in start order, None for each failed or invalid trial.

    Args:
      run: a run record.
    """
    return [trial_score(trial) for trial in sorted_trials(run)]


def best_trial(run, direction="max"):
    """The best completed trial of a run.

    Args:
      run: a run record.
      direction: "max" or "min".

    Returns:
      The trial record, or None if no trial completed. Ties go to the trial
      with the lowest index.
    """
    check_direction(direction)
    best, best_score = None, None
    for trial in sorted_trials(run):
        score = trial_score(trial)
        if score is not None and better(score, best_score, direction):
            best, best_score = trial, score
    return best


def methods_in_order(runs):
    """The methods of ``runs`` in order of first appearance."""
    methods = []
    for run in runs:
        if run["method"] not in methods:
            methods.append(run["method"])
    return methods
