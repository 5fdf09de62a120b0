"""Other libraries' warnings go to a file, not between the tuner's lines.

keras-tuner's Bayesian optimization fits scikit-learn's Gaussian process
after nearly every trial, and scikit-learn warns (``ConvergenceWarning``)
each time; printed, they bury the trial lines. `to_file` sends every Python
warning raised inside it to a log file instead, and counts them by
category so that the summary can say how many went there.

TensorFlow's C++ side writes to the process's stderr while it loads, before
its logging reads TF_CPP_MIN_LOG_LEVEL (TF 2.21 prints its oneDNN notice
twice on import, whatever the level). The binaries catch those lines
(`cli.common.native_stderr_captured`, around the import) and `to_file`
writes them to the log.
"""

from __future__ import annotations

import collections
import contextlib
import warnings

NATIVE = "TensorFlow C++ log line"


@contextlib.contextmanager
def to_file(path, native_lines=()):
    """Inside, every warning is appended to ``path``; yields a Counter by category.

    Args:
      path: the log file (appended to).
      native_lines: lines caught earlier by `cli.common.native_stderr_captured`,
        written first and counted under `NATIVE`.
    """
    counts = collections.Counter()
    with open(path, "a", encoding="utf-8") as log, warnings.catch_warnings():
        for line in native_lines:
            log.write(line + "\n")
        if native_lines:
            counts[NATIVE] += len(native_lines)
            log.flush()
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
