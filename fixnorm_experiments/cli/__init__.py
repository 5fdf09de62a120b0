"""The binaries: thin mains that parse their flags into a frozen config and run it.

- `train.py`: ``fixnorm-train``, every recipe of Tables 1 to 5;
- `tune.py`: ``fixnorm-tune``, FixNorm-tune against BO+WD, random search and
  the reference setting;
- `analyze.py`: ``fixnorm-analyze``, the role table of a saved model;
- `demo.py`: ``python -m fixnorm_experiments.cli.demo``, the end-to-end example;
- `scripts.py`: the console scripts' entry points;
- `common.py`: what the mains share (their own flags, --help, error lines).

``--help`` and ``--list`` answer without importing TensorFlow.
"""

import os

# TensorFlow's C++ logging (read when it is first imported, by any binary).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
