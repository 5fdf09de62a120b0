"""Which trainable variables are scale-invariant, which is the classifier.

- `roles.py`: the three roles and `Analysis`, the printable table of them;
- `analyze.py`: `analyze(model)`, which decides each variable's role;
- `graph.py`: the graph rules (how a kernel's scale travels through a
  functional model, and which normalizations cancel it);
- `probe.py`: the sample probe (rescale a kernel on one batch, watch the
  outputs), for subclassed models and custom layers.
"""

from tf_fixnorm.analysis.analyze import METHODS, REGRESSION_OUTPUT, analyze
from tf_fixnorm.analysis.graph import LAYER_RULES, register_layer_rule
from tf_fixnorm.analysis.roles import (CLASSIFIER, OTHER, ROLES, SCALE_INVARIANT, Analysis,
                                       VariableRole)

__all__ = ["analyze", "Analysis", "VariableRole", "ROLES", "SCALE_INVARIANT", "CLASSIFIER",
           "OTHER", "METHODS", "REGRESSION_OUTPUT", "register_layer_rule", "LAYER_RULES"]
