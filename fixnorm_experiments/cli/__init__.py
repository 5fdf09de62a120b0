"""The binaries: thin mains that parse their flags into a frozen config and run it.

- `train.py`: ``fixnorm-train``, every recipe of Tables 1 to 5;
- `tune.py`: ``fixnorm-tune``, FixNorm-tune against BO+WD, random search and
  the reference setting;
- `analyze.py`: ``fixnorm-analyze``, the role table of a saved model;
- `demo.py`: ``python -m fixnorm_experiments.cli.demo``, the end-to-end example.

The functions below are the console scripts' entry points. They import
their binary only when called, and turn a missing optional dependency into
one line saying which extra to install. ``--help`` and ``--list`` answer
without importing TensorFlow.
"""

import importlib
import os
import sys

# TensorFlow's C++ logging (read when it is first imported, by any binary).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# What each binary needs beyond the core, and the extra that installs it.
_EXTRA = {"absl": "experiments", "matplotlib": "experiments", "sklearn": "experiments",
          "keras_tuner": "tune"}


def _entry(binary, module):
    try:
        main = importlib.import_module(module).run
    except ModuleNotFoundError as error:
        top = (error.name or "").split(".")[0]
        if top not in _EXTRA:
            raise
        sys.exit(f"error: {binary} needs {top}, from the {_EXTRA[top]} extra: "
                 f"pip install 'tf_fixnorm[{_EXTRA[top]}]'")
    main()


def train():
    """``fixnorm-train``: see `fixnorm_experiments.cli.train`."""
    _entry("fixnorm-train", "fixnorm_experiments.cli.train")


def tune():
    """``fixnorm-tune``: see `fixnorm_experiments.cli.tune`."""
    _entry("fixnorm-tune", "fixnorm_experiments.cli.tune")


def analyze():
    """``fixnorm-analyze``: see `fixnorm_experiments.cli.analyze`."""
    _entry("fixnorm-analyze", "fixnorm_experiments.cli.analyze")
