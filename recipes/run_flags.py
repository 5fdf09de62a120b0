"""The flag checks every training binary shares (no TensorFlow: bad input fails fast)."""

import os


class UsageError(ValueError):
    """Bad input: reported as one line."""


def check_run(flag_values, binary, positive=(), counts=()):
    """``--recipe`` and ``--model_dir`` given, numbers in range, no finished run overwritten.

    Args:
      flag_values: the parsed absl FLAGS.
      binary: the module to name in the hint, e.g. ``"recipes.train"``.
      positive: flags that must be > 0 when given.
      counts: flags that must be >= 1 when given.

    Raises:
      UsageError: on the first bad flag, saying what to do.
    """
    if flag_values.recipe is None:
        raise UsageError(f"--recipe is required (python -m {binary} --list shows them)")
    if not flag_values.model_dir:
        raise UsageError("--model_dir is required")
    for name in positive:
        value = getattr(flag_values, name)
        if value is not None and not value > 0:
            raise UsageError(f"--{name} must be > 0, got {value}")
    for name in counts:
        value = getattr(flag_values, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name} must be >= 1, got {value}")
    if os.path.exists(os.path.join(flag_values.model_dir, "metrics.json")):
        raise UsageError(f"{flag_values.model_dir} already holds a finished run "
                         "(metrics.json): choose another --model_dir")
