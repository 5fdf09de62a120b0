"""The console scripts' entry points (setup.py): ``fixnorm-train``, ``fixnorm-tune``,
``fixnorm-analyze``.

Each imports its binary only when called, and turns a missing optional
dependency (a core-only install) into one line saying which extra to
install.
"""

import importlib
import sys

# What each binary needs beyond the core, and the extra that installs it.
_EXTRA = {"absl": "experiments", "matplotlib": "experiments", "sklearn": "experiments",
          "keras_tuner": "experiments", "tensorflow_datasets": "experiments"}


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
