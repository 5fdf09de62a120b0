"""Other libraries' warnings go to a file, not between the tuner's lines.

keras-tuner's Bayesian optimization fits scikit-learn's Gaussian process
after nearly every trial, and scikit-learn warns (``ConvergenceWarning``)
each time; printed, they bury the trial lines. `to_file` sends every Python
warning raised inside it to a log file instead, and counts them by
category so that the summary can say how many went there.
"""

from __future__ import annotations

import collections
import contextlib
import warnings


@contextlib.contextmanager
def to_file(path):
    """Inside, every warning is appended to ``path``; yields a Counter by category."""
    counts = collections.Counter()
    with open(path, "a", encoding="utf-8") as log, warnings.catch_warnings():
        # Count each one, not only the first per place; but what Python hides
        # by default (deprecations: hundreds per run from inside Keras) stays hidden.
        warnings.simplefilter("always")
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning,
                         ResourceWarning):
            warnings.filterwarnings("ignore", category=category)

        def show(message, category, filename, lineno, file=None, line=None):
            counts[category.__name__] += 1
            log.write(warnings.formatwarning(message, category, filename, lineno, line))
            log.flush()

        warnings.showwarning = show  # restored by catch_warnings on the way out
        yield counts


def summary_line(counts, path):
    """One line saying how many warnings went to ``path``; "" for none."""
    total = sum(counts.values())
    if not total:
        return ""
    kinds = ", ".join(f"{name} x{n}" for name, n in counts.most_common())
    return f"{total} warning(s) from other libraries ({kinds}) went to {path}"
