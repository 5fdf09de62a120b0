"""Tuning results: summaries, tables and plots comparing search methods.

A results file (written by the tuning CLI) holds, per method and search seed,
the trials in the order they started:

- trial: ``{"trial_id": "03", "index": 4, "status": "COMPLETED", "score":
  0.9712, "values": {"lr": 0.2, "alpha": 4.0}, "stage": "lr", "seconds": 4.1}``;
  ``index`` is 1-based, a failed trial has status "FAILED" (or "INVALID")
  and score None.
- run: ``{"method": "fixnorm", "seed": 0, "trials": [...], "seconds": 50.2}``.
- results: ``{"recipe": ..., "objective": "val_accuracy", "direction": "max",
  "margin": 0.002, "runs": [...], "command": ..., "machine": ..., "created":
  ...}``; ``direction`` is "max" or "min".

Methods are compared on the best score each seed finds and on how many trials
it takes to come within ``margin`` of the best score any method found.

Pure Python and numpy: nothing here imports TensorFlow or Keras, and
matplotlib is imported only inside the plot functions.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from tf_fixnorm.jsonio import write_json_atomically

COMPLETED = "COMPLETED"
DIRECTIONS = ("max", "min")
_PNG_DPI = 100


# ---------------------------------------------------------------------------
# Scores


def _check_direction(direction):
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'max' or 'min', got {direction!r}")


def _usable(score):
    """Whether a score counts: a finite number (None and NaN are failures)."""
    return score is not None and math.isfinite(score)


def _better(score, than, direction):
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
    _check_direction(direction)
    best, curve = None, []
    for score in scores:
        if _usable(score) and _better(score, best, direction):
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
    if trial.get("status", COMPLETED) != COMPLETED or not _usable(score):
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
    _check_direction(direction)
    best, best_score = None, None
    for trial in sorted_trials(run):
        score = trial_score(trial)
        if score is not None and _better(score, best_score, direction):
            best, best_score = trial, score
    return best


# ---------------------------------------------------------------------------
# Summary


def _methods_in_order(runs):
    methods = []
    for run in runs:
        if run["method"] not in methods:
            methods.append(run["method"])
    return methods


def best_overall(results):
    """The best score any trial of any run found, or None if none completed.

    Args:
      results: a results dict.
    """
    direction = results.get("direction", "max")
    best = None
    for run in results["runs"]:
        trial = best_trial(run, direction)
        if trial is not None and _better(trial["score"], best, direction):
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


def _median_count(counts):
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
    _check_direction(direction)
    runs = results["runs"]
    target = target_score(results)
    overall = best_overall(results)
    summary = []
    for method in _methods_in_order(runs):
        method_runs = [run for run in runs if run["method"] == method]
        bests = [best_trial(run, direction) for run in method_runs]
        best_scores = [None if trial is None else trial["score"] for trial in bests]
        counts = [trials_to_reach(run_scores(run), target, direction) for run in method_runs]
        found = [score for score in best_scores if score is not None]
        best_index = None
        for i, score in enumerate(best_scores):
            if score is not None and (best_index is None or
                                      _better(score, best_scores[best_index], direction)):
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
            "trials_to_target_median": _median_count(counts),
            "reached": sum(count is not None for count in counts),
            "trials_mean": float(np.mean([len(run.get("trials", [])) for run in method_runs])),
            "best_values": (None if best_index is None
                            else dict(bests[best_index].get("values", {}))),
            "best_seed": None if best_index is None else method_runs[best_index].get("seed"),
            "direction": direction,
            "best_overall": overall,
        })
    return summary


# ---------------------------------------------------------------------------
# Text


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


def _format_table(headers, rows, right_aligned):
    """Columns padded to a common width, two spaces apart, a dash rule below
    the header; trailing blanks stripped.

    Args:
      headers: column titles.
      rows: lists of cell strings, one per column.
      right_aligned: per column, whether cells are right-aligned (numbers).
    """
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]

    def line(cells):
        padded = [cell.rjust(width) if right else cell.ljust(width)
                  for cell, width, right in zip(cells, widths, right_aligned)]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule] + [line(row) for row in rows])


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
    return _format_table(headers, rows, right_aligned)


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
    return target_line(summary, margin) + "\n\n" + _format_table(headers, rows, right_aligned)


# ---------------------------------------------------------------------------
# Plots


def _require_matplotlib():
    """The matplotlib module; a clear RuntimeError if it is not installed."""
    try:
        import matplotlib
    except ImportError as error:
        raise RuntimeError("plots need matplotlib: pip install matplotlib") from error
    return matplotlib


def _new_figure(width, height):
    """A matplotlib Figure drawn by the Agg backend (no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_PNG_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    figure.savefig(path, format="png", dpi=_PNG_DPI)
    return path


def _median_curve(curves, direction):
    """Median over seeds at each trial count.

    Shorter curves carry their last value; a seed with nothing completed yet
    (None) counts as the worst possible score, so the median never gets
    worse as trials are added; NaN (not drawn) where the median is such a seed.
    """
    worst = -math.inf if direction == "max" else math.inf
    length = max(len(curve) for curve in curves)
    median = []
    for step in range(length):
        values = [curve[min(step, len(curve) - 1)] for curve in curves]
        value = float(np.median([worst if v is None else v for v in values]))
        median.append(value if math.isfinite(value) else math.nan)
    return median


def _nan_for_none(values):
    return [math.nan if value is None else value for value in values]


def plot_best_so_far(results, path):
    """Best score so far against trial count, per method and seed, as a PNG.

    Per method one colour: a thin line per seed, a thick line for the median
    over seeds (seeds with fewer trials carry their last value); a dashed
    line at the target.

    Args:
      results: a results dict.
      path: where to write the PNG.

    Returns:
      ``path``.
    """
    _require_matplotlib()
    from matplotlib.ticker import MaxNLocator

    direction = results.get("direction", "max")
    _check_direction(direction)
    figure = _new_figure(6, 4)
    axes = figure.add_subplot()
    shown, everything = [], []  # medians after their first trial; all values
    for number, method in enumerate(_methods_in_order(results["runs"])):
        colour = f"C{number % 10}"
        curves = [best_so_far(run_scores(run), direction)
                  for run in results["runs"] if run["method"] == method]
        curves = [curve for curve in curves if curve]
        if not curves:
            continue
        for curve in curves:
            axes.plot(range(1, len(curve) + 1), _nan_for_none(curve), color=colour,
                      linewidth=0.8, alpha=0.45, marker="o" if len(curve) == 1 else None,
                      markersize=3)
        median = _median_curve(curves, direction)
        everything += [v for curve in curves for v in curve if v is not None]
        shown += [v for v in (median[1:] or median) if v is not None and v == v]
        axes.plot(range(1, len(median) + 1), median, color=colour, linewidth=2.5,
                  marker="o" if len(median) == 1 else None, markersize=6,
                  label=f"{method} (median of {len(curves)})")
    target = target_score(results)
    if target is not None:
        axes.axhline(target, color="0.3", linestyle="--", linewidth=1,
                     label=f"target {target:.4f} (margin {results.get('margin', 0.0) or 0.0:g})")
    limits = zoom_limits(shown + ([target] if target is not None else []), everything)
    if limits is not None:
        axes.set_ylim(*limits)
        axes.annotate("y axis zoomed: earlier, worse scores lie below",
                      (0.01, 0.01), xycoords="axes fraction", fontsize="x-small",
                      color="0.4")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("trials")
    axes.set_ylabel(f"best {results.get('objective', 'score')} so far")
    axes.set_title(f"{results.get('recipe', 'tuning')}: best "
                   f"{results.get('objective', 'score')} so far ({direction})")
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")
    return _save(figure, path)


def zoom_limits(shown, everything, factor=3.0):
    """Y limits ``(low, high)`` framing ``shown``, or None to keep the full range.

    A diverged first trial (score 0.1 among scores near 0.98) would squash
    the curves that matter, so the plot frames the medians from the second
    trial on and the target (``shown``) when all values (``everything``)
    span more than ``factor`` times their range.
    """
    if not shown or not everything:
        return None
    low, high = min(shown), max(shown)
    span = max(high - low, 1e-3)
    if max(everything) - min(everything) <= factor * span:
        return None
    return low - 0.15 * span, high + 0.15 * span


def _axis_scale(name, values):
    """Scale and base for an axis: log2 for alpha, log for others, linear if
    any value is not positive."""
    if not values or min(values) <= 0:
        return "linear", None
    return "log", (2 if name == "alpha" else 10)


def _landscape_methods(results):
    """(method, x name, y name) for methods with two searched values and at
    least two completed trials."""
    chosen = []
    for method in _methods_in_order(results["runs"]):
        trials = [trial for run in results["runs"] if run["method"] == method
                  for trial in run.get("trials", [])]
        names = value_names(trials)
        completed = sum(trial_score(trial) is not None for trial in trials)
        if len(names) < 2 or completed < 2:
            continue
        x_name = "lr" if "lr" in names else names[0]
        y_name = next(name for name in names if name != x_name)
        chosen.append((method, x_name, y_name))
    return chosen


def plot_landscape(results, path):
    """Where each method searched, coloured by score, as a PNG.

    One subplot per method with two searched values and at least two
    completed trials: x = lr (log), y = alpha (log2) or weight_decay (log),
    all seeds overlaid, points coloured by score on a shared colour scale
    (brighter is better), failed trials as grey x, the method's best trial
    circled.

    Args:
      results: a results dict.
      path: where to write the PNG.

    Returns:
      ``path``.
    """
    _require_matplotlib()
    from matplotlib.colors import Normalize
    from matplotlib.cm import ScalarMappable
    from matplotlib.ticker import FuncFormatter, NullFormatter

    direction = results.get("direction", "max")
    _check_direction(direction)
    objective = results.get("objective", "score")
    chosen = _landscape_methods(results)
    if not chosen:
        figure = _new_figure(6, 4)
        axes = figure.add_subplot()
        axes.axis("off")
        axes.text(0.5, 0.5, "no method searched two values\nwith >= 2 completed trials",
                  ha="center", va="center")
        axes.set_title(f"{results.get('recipe', 'tuning')}: search landscape")
        return _save(figure, path)

    chosen_methods = {method for method, _, _ in chosen}
    scores = [trial_score(trial) for run in results["runs"] if run["method"] in chosen_methods
              for trial in run.get("trials", [])]
    scores = [score for score in scores if score is not None]
    norm = Normalize(vmin=min(scores), vmax=max(scores))
    colour_map = "viridis" if direction == "max" else "viridis_r"

    columns = min(len(chosen), 3)
    rows = math.ceil(len(chosen) / columns)
    figure = _new_figure(3.6 * columns + 1.0, 3.2 * rows + 0.4)
    all_axes = []
    for number, (method, x_name, y_name) in enumerate(chosen):
        axes = figure.add_subplot(rows, columns, number + 1)
        all_axes.append(axes)
        runs = [run for run in results["runs"] if run["method"] == method]
        trials = [trial for run in runs for trial in run.get("trials", [])
                  if x_name in trial.get("values", {}) and y_name in trial.get("values", {})]
        done = [trial for trial in trials if trial_score(trial) is not None]
        failed = [trial for trial in trials if trial_score(trial) is None]
        if done:
            axes.scatter([t["values"][x_name] for t in done], [t["values"][y_name] for t in done],
                         c=[trial_score(t) for t in done], cmap=colour_map, norm=norm,
                         s=28, edgecolors="none")
        if failed:
            axes.scatter([t["values"][x_name] for t in failed],
                         [t["values"][y_name] for t in failed],
                         marker="x", color="0.55", s=28, label="failed")
        best = best_trial({"trials": done}, direction)
        if best is not None:
            axes.scatter([best["values"][x_name]], [best["values"][y_name]], s=160,
                         facecolors="none", edgecolors="red", linewidths=1.5,
                         label=f"best {best['score']:.4f}")
        for name, values, set_scale in (
                (x_name, [t["values"][x_name] for t in trials], axes.set_xscale),
                (y_name, [t["values"][y_name] for t in trials], axes.set_yscale)):
            scale, base = _axis_scale(name, values)
            if scale == "log":
                set_scale("log", base=base)
        for name, axis in ((x_name, axes.xaxis), (y_name, axes.yaxis)):
            axis.set_major_formatter(FuncFormatter(
                lambda value, _, name=name: format_value(name, value)))
            axis.set_minor_formatter(NullFormatter())
        axes.set_xlabel(x_name)
        axes.set_ylabel(y_name)
        axes.set_title(f"{method} ({len(runs)} seed{'s' if len(runs) != 1 else ''})",
                       fontsize="medium")
        axes.grid(alpha=0.3)
        axes.legend(fontsize="x-small", loc="best")
    figure.colorbar(ScalarMappable(norm=norm, cmap=colour_map), ax=all_axes, label=objective)
    figure.suptitle(f"{results.get('recipe', 'tuning')}: search landscape")
    return _save(figure, path)


# ---------------------------------------------------------------------------
# Files


def write_results(path, results):
    """Write a results dict as JSON, atomically (temp file, then os.replace).

    Args:
      path: the JSON file to write; its directory is created if missing.
      results: a JSON-serializable results dict.

    Returns:
      ``path``.
    """
    return write_json_atomically(path, results, indent=1)


def read_results(path):
    """Load a results JSON file.

    Args:
      path: the file.

    Returns:
      The results dict.

    Raises:
      ValueError: naming the file, if it is not JSON or not a results dict
        (no "runs" list of runs with "method" and "trials").
    """
    with open(path, encoding="utf-8") as file:
        try:
            results = json.load(file)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not a tuning results file: invalid JSON ({error})") from None
    if not isinstance(results, dict) or not isinstance(results.get("runs"), list):
        raise ValueError(f"{path}: not a tuning results file: no \"runs\" list")
    for number, run in enumerate(results["runs"]):
        if not (isinstance(run, dict) and "method" in run
                and isinstance(run.get("trials"), list)):
            raise ValueError(f"{path}: not a tuning results file: run {number} "
                             f"needs \"method\" and a \"trials\" list")
    return results
