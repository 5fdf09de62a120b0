"""Comparing search methods: the best score each seed finds, and the trials it takes.

Methods are compared on the best score each seed finds and on how many trials
it takes to come within ``margin`` of the best score any method found.
Pure Python and numpy.
"""

from __future__ import annotations

import math

import numpy as np

from fixnorm_experiments.report.records import (best_trial, better, check_direction,
                                                methods_in_order, run_scores, trials_to_reach)


def best_overall(results):
    """The best score any trial of any run found, or None if none completed.

    Args:
      results: a results dict.
    """
    direction = results.get("direction", "max")
    best = None
    for run in results["runs"]:
        trial = best_trial(run, direction)
        if trial is not None and better(trial["score"], best, direction):
            best = trial["score"]
    return best


def target_score(results):
    """The score counted as "found the optimum": the best overall minus margin.

    Args:
      results: a results dict; ``margin`` defaults to 0.

    Returns:
      best - margin for "max", best + margin for "min"; None if no trial
      completed.
    """
    best = best_overall(results)
    if best is None:
        return None
    margin = results.get("margin", 0.0) or 0.0
    return best - margin if results.get("direction", "max") == "max" else best + margin


def median_count(counts):
    """Median trial count, unreached (None) counting as +inf; None if infinite."""
    if not counts:
        return None
    median = float(np.median([math.inf if c is None else c for c in counts]))
    if not math.isfinite(median):
        return None
    return int(median) if median.is_integer() else median


def summarize(results):
    """Per-method comparison of the runs in a results dict.

    Args:
      results: a results dict (``runs``, ``direction``, ``margin``).

    Returns:
      A list with one dict per method, in order of first appearance:
      ``method``; ``seeds`` (list); ``best_scores`` (per seed, None where no
      trial completed); ``best_mean`` and ``best_std`` (sample std, ddof=1;
      0.0 for one seed; both over seeds with a score, None if there are
      none); ``target`` (shared by all methods); ``trials_to_target`` (per
      seed, None if not reached); ``trials_to_target_median`` (unreached
      counting as +inf; None if the median is unreached); ``reached``
      (count of seeds); ``trials_mean`` (mean trials run per seed);
      ``best_values`` (values of the best trial of the best seed, None if
      none) and ``best_seed``; plus ``direction`` and ``best_overall``.
    """
    direction = results.get("direction", "max")
    check_direction(direction)
    runs = results["runs"]
    target = target_score(results)
    overall = best_overall(results)
    summary = []
    for method in methods_in_order(runs):
        method_runs = [run for run in runs if run["method"] == method]
        bests = [best_trial(run, direction) for run in method_runs]
        best_scores = [None if trial is None else trial["score"] for trial in bests]
        counts = [trials_to_reach(run_scores(run), target, direction) for run in method_runs]
        found = [score for score in best_scores if score is not None]
        best_index = None
        for i, score in enumerate(best_scores):
            if score is not None and (best_index is None or
                                      better(score, best_scores[best_index], direction)):
                best_index = i
        summary.append({
            "method": method,
            "seeds": [run.get("seed") for run in method_runs],
            "best_scores": best_scores,
            "best_mean": float(np.mean(found)) if found else None,
            "best_std": (float(np.std(found, ddof=1)) if len(found) > 1
                         else 0.0 if found else None),
            "target": target,
            "trials_to_target": counts,
            "trials_to_target_median": median_count(counts),
            "reached": sum(count is not None for count in counts),
            "trials_mean": float(np.mean([len(run.get("trials", [])) for run in method_runs])),
            "best_values": (None if best_index is None
                            else dict(bests[best_index].get("values", {}))),
            "best_seed": None if best_index is None else method_runs[best_index].get("seed"),
            "direction": direction,
            "best_overall": overall,
        })
    return summary
