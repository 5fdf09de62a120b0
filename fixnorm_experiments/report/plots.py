"""A tuning session as pictures: best score so far against trials, and the search landscape.

matplotlib is imported only inside the plot functions (the Agg backend, no
pyplot state), so the rest of the report works without it.
"""

from __future__ import annotations

import math
import os

import numpy as np

from fixnorm_experiments.report.records import (best_so_far, best_trial, check_direction,
                                                methods_in_order, run_scores, trial_score)
from fixnorm_experiments.report.summary import target_score
from fixnorm_experiments.report.tables import format_value, value_names

_PNG_DPI = 100


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


def _curves_per_method(results, direction):
    """``(method, colour, curves)`` per method with a trial: each seed's best so far.

    Colours follow the methods' order of first appearance, so a method keeps
    its colour in every plot of one session.
    """
    for number, method in enumerate(methods_in_order(results["runs"])):
        curves = [best_so_far(run_scores(run), direction)
                  for run in results["runs"] if run["method"] == method]
        curves = [curve for curve in curves if curve]
        if curves:
            yield method, f"C{number % 10}", curves


def _finish_curves(axes, results, shown, everything, target, title):
    """Axes of a best-so-far plot: zoomed on ``shown`` (said so), labels, title, grid."""
    from matplotlib.ticker import MaxNLocator

    limits = zoom_limits(shown + ([target] if target is not None else []), everything)
    if limits is not None:
        axes.set_ylim(*limits)
        axes.annotate("y axis zoomed: earlier, worse scores lie below",
                      (0.01, 0.01), xycoords="axes fraction", fontsize="x-small",
                      color="0.4")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("trials")
    axes.set_ylabel(f"best {results.get('objective', 'score')} so far")
    axes.set_title(title)
    axes.grid(alpha=0.3)


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

    direction = results.get("direction", "max")
    check_direction(direction)
    figure = _new_figure(6, 4)
    axes = figure.add_subplot()
    shown, everything = [], []  # medians after their first trial; all values
    for method, colour, curves in _curves_per_method(results, direction):
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
    _finish_curves(axes, results, shown, everything, target,
                   f"{results.get('recipe', 'tuning')}: best "
                   f"{results.get('objective', 'score')} so far ({direction})")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")
    return _save(figure, path)


def plot_best_so_far_bands(results, path, budgets=(), target=None, title=None):
    """Best score so far against trials: per method a median line and a band over seeds.

    The band spans the lowest to the highest seed at each trial count (a
    search that stopped early carries its last value); dotted vertical lines
    mark ``budgets`` and a dashed line the ``target``. For many methods and
    seeds, where `plot_best_so_far`'s thin per-seed lines would be a tangle.

    Args:
      results: a results dict.
      path: where to write the PNG.
      budgets: trial counts to mark.
      target: the score counted as reaching the best, or None.
      title: the plot's title (default: the recipe and objective).

    Returns:
      ``path``.
    """
    _require_matplotlib()

    direction = results.get("direction", "max")
    check_direction(direction)
    figure = _new_figure(7, 4.5)
    axes = figure.add_subplot()
    shown, everything = [], []
    for method, colour, curves in _curves_per_method(results, direction):
        length = max(len(curve) for curve in curves)
        padded = np.array([_nan_for_none([curve[min(step, len(curve) - 1)]
                                          for step in range(length)]) for curve in curves])
        trials = np.arange(1, length + 1)
        with np.errstate(all="ignore"):
            low, high = np.nanmin(padded, axis=0), np.nanmax(padded, axis=0)
        median = _median_curve(curves, direction)
        axes.fill_between(trials, low, high, color=colour, alpha=0.15, linewidth=0)
        axes.plot(trials, median, color=colour, linewidth=2,
                  marker="o" if length == 1 else None, label=f"{method} ({len(curves)})")
        everything += [v for v in padded.ravel() if v == v]
        shown += [v for v in (median[1:] or median) if v == v]
    for budget in budgets:
        axes.axvline(budget, color="0.5", linestyle=":", linewidth=1)
    if target is not None:
        axes.axhline(target, color="0.3", linestyle="--", linewidth=1,
                     label=f"target {target:.4f}")
    _finish_curves(axes, results, shown, everything, target, title or
                   f"{results.get('recipe', 'tuning')}: best "
                   f"{results.get('objective', 'score')} so far")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="x-small", loc="lower right",
                    title="median over (n) seeds; band: min to max", title_fontsize="x-small")
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
    for method in methods_in_order(results["runs"]):
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
    check_direction(direction)
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
