"""The report of a tuning session, one job per module.

- `records.py`: trial and run records, and the scores read from them;
- `summary.py`: the per-method comparison (best score, trials to target);
- `budgets.py`: the same at fixed trial budgets, and Welch's t over seeds;
- `finding.py`: a comparison's finding in one sentence;
- `tables.py`: the live trial line, the trial table, the comparison table;
- `plots.py`: best score so far, and the search landscape (matplotlib);
- `results_file.py`: results.json, written atomically.

The names below are re-exported for convenience. Nothing here imports
TensorFlow or Keras.
"""

from fixnorm_experiments.report.budgets import compare_at_budgets, welch_t
from fixnorm_experiments.report.finding import finding
from fixnorm_experiments.report.plots import (plot_best_so_far, plot_best_so_far_bands,
                                              plot_landscape, zoom_limits)
from fixnorm_experiments.report.records import (
    COMPLETED, DIRECTIONS, best_so_far, best_trial, methods_in_order, run_scores, sorted_trials,
    trial_score, trials_to_reach)
from fixnorm_experiments.report.results_file import read_results, write_results
from fixnorm_experiments.report.summary import best_overall, summarize, target_score
from fixnorm_experiments.report.tables import (
    format_summary_table, format_trial_table, format_value, format_values, target_line,
    trial_line, value_names)

__all__ = [
    "COMPLETED", "DIRECTIONS", "best_so_far", "best_trial", "methods_in_order", "run_scores",
    "sorted_trials", "trial_score", "trials_to_reach", "best_overall", "summarize",
    "target_score", "format_summary_table", "format_trial_table", "format_value",
    "format_values", "target_line", "trial_line", "value_names", "plot_best_so_far",
    "plot_landscape", "zoom_limits", "read_results", "write_results", "compare_at_budgets",
    "welch_t", "plot_best_so_far_bands", "finding",
]
