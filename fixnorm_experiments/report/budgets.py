"""Methods compared at fixed trial budgets: best score, trials to a target, noise.

A search that ran 24 trials also tells what it had after its first 11: the
methods compared here choose each trial from the trials before it, never from
the budget, so a prefix of a longer search is the shorter search
(BENCHMARKS.md, "FixNorm-tune against the tuners people use").

Pure Python and numpy.
"""

from __future__ import annotations

import math

import numpy as np

from fixnorm_experiments.report.records import (best_so_far, check_direction,
                                                methods_in_order, run_scores, trials_to_reach)
from fixnorm_experiments.report.summary import best_overall, median_count


def _mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def compare_at_budgets(results, budgets, margin):
    """Per method and budget: the best score per seed and the trials to the target.

    The target is the best score any method found (within the largest
    budget) minus ``margin`` (plus, for "min"), one target for every budget.

    Args:
      results: a results dict (``runs``, ``direction``).
      budgets: trial budgets, e.g. (11, 24); a search shorter than a budget
        counts with the trials it ran.
      margin: how far from the best score still counts as reaching it.

    Returns:
      ``(target, rows)``: one row per method and budget, in order of first
      appearance: ``method``, ``budget``, ``seeds``, ``best_scores`` (per
      seed, None where nothing completed), ``best_mean``, ``best_std``,
      ``trials_to_target`` (per seed, None if not reached within the
      budget), ``trials_to_target_median`` (unreached counted as infinite; None if
      the median is unreached), ``reached`` (seeds), ``trials_mean`` (mean).
    """
    direction = results.get("direction", "max")
    check_direction(direction)
    budgets = sorted(int(b) for b in budgets)
    if not budgets or budgets[0] < 1:
        raise ValueError(f"budgets must be positive trial counts, got {budgets}")
    longest = budgets[-1]
    clipped = {**results, "runs": [{**run, "trials": sorted(
        run.get("trials", []), key=lambda t: t.get("index", 0))[:longest]}
        for run in results["runs"]]}
    best = best_overall(clipped)
    target = None if best is None else (best - margin if direction == "max" else best + margin)
    rows = []
    for method in methods_in_order(clipped["runs"]):
        runs = [run for run in clipped["runs"] if run["method"] == method]
        for budget in budgets:
            scores = [run_scores(run)[:budget] for run in runs]
            bests = [(best_so_far(s, direction) or [None])[-1] for s in scores]
            counts = [trials_to_reach(s, target, direction) for s in scores]
            mean, std = _mean_std(bests)
            rows.append({
                "method": method, "budget": budget, "seeds": [run.get("seed") for run in runs],
                "best_scores": bests, "best_mean": mean, "best_std": std,
                "trials_to_target": counts, "trials_to_target_median": median_count(counts),
                "reached": sum(c is not None for c in counts),
                "trials_mean": float(np.mean([len(s) for s in scores])),
            })
    return target, rows


def welch_t(a, b):
    """Welch's t of mean(a) - mean(b); None with fewer than 2 values a side.

    Infinite when both sides have no spread and different means; 0 when they
    are the same constant.
    """
    a = [v for v in a if v is not None]
    b = [v for v in b if v is not None]
    if len(a) < 2 or len(b) < 2:
        return None
    difference = float(np.mean(a) - np.mean(b))
    spread = math.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b))
    if spread == 0:
        return 0.0 if difference == 0 else math.copysign(math.inf, difference)
    return difference / spread
