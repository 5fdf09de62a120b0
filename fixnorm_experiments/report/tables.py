"""A tuning session as text: the live trial line, the trial table, the comparison table.

Every table goes through `fixnorm_text.format_table`, the formatter of every
table the project prints. Pure Python.
"""

from __future__ import annotations

import math

from fixnorm_experiments.report.records import COMPLETED, best_trial, sorted_trials, trial_score
from fixnorm_text import format_table


def _exponent_form(value, max_digits=2):
    """Shortest ``1.2e-03``-style form with at most ``max_digits`` decimals."""
    for digits in range(max_digits + 1):
        text = f"{value:.{digits}e}"
        if math.isclose(float(text), value, rel_tol=1e-9):
            return text
    return f"{value:.{max_digits}e}"


def format_value(name, value):
    """A searched value in compact human form.

    Args:
      name: the hyperparameter: "lr" (``0.35``, ``1.2e-03``), "alpha" (powers
        of two as ``4``, ``0.5``, ``2^-7``), "weight_decay" (``5e-04``);
        anything else gets 4 significant digits.
      value: a number (None gives ``-``; non-numbers are shown as they are).

    Returns:
      A string.
    """
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) and name != "weight_decay":
        return str(value)
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    if name == "alpha":
        exponent = math.log2(abs(value))
        if exponent == round(exponent):
            exponent = int(round(exponent))
            if exponent >= 0:
                return str(int(value))
            if exponent >= -4:
                return f"{value:g}"
            return f"{'-' if value < 0 else ''}2^{exponent}"
        return f"{value:.3g}"
    if name == "weight_decay":
        return _exponent_form(value)
    if name == "lr":
        if 1e-2 <= abs(value) < 1e3:
            return f"{value:.3g}"
        return _exponent_form(value)
    return f"{value:.4g}"


def format_values(values):
    """``lr=0.35 alpha=4``: a trial's values, in their order.

    Args:
      values: a dict of hyperparameter name to value.
    """
    return " ".join(f"{name}={format_value(name, value)}" for name, value in values.items())


def _format_score(trial):
    score = trial_score(trial)
    if score is not None:
        return f"{score:.4f}"
    status = trial.get("status", COMPLETED)
    return "invalid" if status == "INVALID" else "failed"


def value_names(trials):
    """Searched value names in order of first appearance in the trials.

    Args:
      trials: trial records.
    """
    names = []
    for trial in trials:
        for name in trial.get("values", {}):
            if name not in names:
                names.append(name)
    return names


def format_trial_table(run, direction="max"):
    """A run's trials as an aligned text table.

    Columns: ``#`` (index), ``trial`` (id), ``stage`` (blank if None), one per
    searched value, ``score`` (4 decimals, ``failed`` / ``invalid``) and
    ``best`` (``*`` on the best trial).

    Args:
      run: a run record.
      direction: "max" or "min".

    Returns:
      The table as a string (no trailing newline).
    """
    trials = sorted_trials(run)
    names = value_names(trials)
    best = best_trial(run, direction)
    headers = ["#", "trial", "stage"] + names + ["score", "best"]
    rows = []
    for trial in trials:
        values = trial.get("values", {})
        rows.append([str(trial.get("index", "")), str(trial.get("trial_id", "")),
                     trial.get("stage") or ""]
                    + [format_value(name, values[name]) if name in values else ""
                       for name in names]
                    + [_format_score(trial), "*" if trial is best else ""])
    right_aligned = [True, False, False] + [True] * len(names) + [True, False]
    return format_table(headers, rows, right_aligned)


def trial_line(run, trial, direction="max"):
    """One line reporting a finished trial, for live progress.

    For example ``[fixnorm seed 0] trial 4  lr=0.35 alpha=4  score 0.9712
    best 0.9733 (trial 2)  4.1 s``. The best is over the run's trials up to
    and including this one (``trial`` need not be in ``run["trials"]`` yet).

    Args:
      run: the run record the trial belongs to.
      trial: the finished trial record.
      direction: "max" or "min".
    """
    index = trial.get("index")
    earlier = [t for t in run.get("trials", [])
               if t is not trial and t.get("index") != index
               and (index is None or t.get("index", 0) <= index)]
    best = best_trial({"trials": earlier + [trial]}, direction)
    parts = [f"[{run.get('method')} seed {run.get('seed')}] trial {index}"]
    values = format_values(trial.get("values", {}))
    if values:
        parts.append(values)
    score = _format_score(trial)
    parts.append(score if trial_score(trial) is None else f"score {score}")
    if best is None:
        parts.append("best -")
    else:
        parts.append(f"best {best['score']:.4f} (trial {best.get('index')})")
    if trial.get("seconds") is not None:
        parts.append(f"{trial['seconds']:.1f} s")
    return "  ".join(parts)


def _format_count(count):
    if count is None:
        return "-"
    return f"{count:g}" if isinstance(count, float) else str(count)


def target_line(summary, margin):
    """What the target is, e.g. ``target 0.9780: within 0.0020 of the best
    score any method found (0.9800)``.

    Args:
      summary: the list `summarize` returns.
      margin: the results' margin.
    """
    if not summary or summary[0].get("target") is None:
        return "target: none (no trial completed)"
    first = summary[0]
    line = f"target {first['target']:.4f}: within {margin:.4f} of the best score any method found"
    if first.get("best_overall") is not None:
        line += f" ({first['best_overall']:.4f})"
    if first.get("direction") == "min":
        line += ", lower is better"
    return line


def format_summary_table(summary, margin):
    """The per-method comparison as an aligned text table.

    A line saying what the target is comes first, then one row per method:
    seeds, best score mean +- std, trials to the target (median, then per
    seed with ``-`` for unreached: ``3 [2, 3, 7]``), seeds that reached it
    (``n/N``), mean trials run, values of the best trial.

    Args:
      summary: the list `summarize` returns.
      margin: the results' margin.

    Returns:
      The text (no trailing newline).
    """
    headers = ["method", "seeds", "best (mean +- std)", "trials to target",
               "reached", "mean trials", "best values"]
    rows = []
    for entry in summary:
        if entry["best_mean"] is None:
            best = "-"
        else:
            best = f"{entry['best_mean']:.4f} +- {entry['best_std']:.4f}"
        per_seed = ", ".join(_format_count(count) for count in entry["trials_to_target"])
        rows.append([
            str(entry["method"]),
            str(len(entry["seeds"])),
            best,
            f"{_format_count(entry['trials_to_target_median'])} [{per_seed}]",
            f"{entry['reached']}/{len(entry['seeds'])}",
            f"{entry['trials_mean']:.1f}",
            format_values(entry["best_values"]) if entry["best_values"] else "-",
        ])
    right_aligned = [False, True, True, False, True, True, False]
    return target_line(summary, margin) + "\n\n" + format_table(headers, rows, right_aligned)
