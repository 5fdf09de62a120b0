"""A comparison's finding in one plain sentence: who reached the target, how fast, and
whether the gap in best scores is beyond the seed noise.

Rows are `summary.summarize`'s or `budgets.compare_at_budgets`' (the same
keys). Pure Python.
"""

from __future__ import annotations

import math

from fixnorm_experiments.report.budgets import welch_t

# |Welch t| from which a gap in mean best score counts as beyond the seed
# noise: about a two-sided 10% level at 5 seeds a side.
BEYOND_NOISE_T = 2.0


def _speed(row):
    """Sort key: fewer median trials to target first, then more searches reaching it."""
    median = row["trials_to_target_median"]
    return (math.inf if median is None else median, -row["reached"])


def _reach(row):
    searches = f"{row['reached']} of {len(row['seeds'])} searches"
    if row["trials_to_target_median"] is None:
        return f"reached it in {searches}"
    median = row["trials_to_target_median"]
    return f"reached it in a median of {median:g} trial{'' if median == 1 else 's'} ({searches})"


def _within(row):
    return f" within {row['budget']} trials" if "budget" in row else ""


def fastest(rows):
    """The row that reaches the target in the fewest trials (median), or None."""
    return min(rows, key=_speed) if rows else None


def finding(ours, peers, target, margin, direction="max"):
    """One sentence: ``ours`` against the fastest of ``peers``.

    Args:
      ours: the row of the method under test (FixNorm-tune).
      peers: rows of the methods it is compared with.
      target: the score counted as reaching the best; margin: best - target.
      direction: "max" or "min".

    Returns:
      The sentence, or one saying why there is no finding.
    """
    peer = fastest(peers)
    if target is None or ours is None or peer is None or None in (ours["best_mean"],
                                                                   peer["best_mean"]):
        return "No finding: it needs two methods with a completed trial each."
    t = welch_t(ours["best_scores"], peer["best_scores"])
    if direction == "min" and t is not None:
        t = -t
    if t is None:
        noise = "not judged against the seed noise (too few seeds)"
    else:
        side = "beyond" if abs(t) >= BEYOND_NOISE_T else "within"
        noise = f"{'better' if t > 0 else 'worse' if t < 0 else 'level'}, {side} the " \
                f"seed noise (Welch t {t:+.1f} over seeds)"
    best = "best" if direction == "max" else "lowest"
    return (f"Against the target {target:.4f} (within {margin:g} of the {best} score any "
            f"method found), "
            f"{ours['method']} {_reach(ours)}{_within(ours)} and the fastest other method, "
            f"{peer['method']}, {_reach(peer)}{_within(peer)}; {ours['method']}'s mean "
            f"{best} score {ours['best_mean']:.4f} against {peer['best_mean']:.4f} is {noise}.")
