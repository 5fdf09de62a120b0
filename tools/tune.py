"""Tune a recipe: FixNorm-tune, BO+WD, random search or the reference setting.

    python tools/tune.py --recipe=digits_tune --compare=fixnorm,bo_wd,random --seeds=0,1,2

The same program as the installed console script `fixnorm-tune`; the flags
and the work are in `tf_fixnorm.tuning.cli` (`--help` lists them).
"""

import os
import sys

# Run from a checkout without installing: put the repository root on the path.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tf_fixnorm.tuning.cli import run  # noqa: E402

if __name__ == "__main__":
    run()
