"""tf_fixnorm: train normalized Keras networks without weight decay by fixing weight norms.

- `analyze(model)`: which kernels are scale-invariant, which is the classifier.
- `FixNorm(inner_optimizer, model, alpha)`: the optimizer wrapper.
- `FixedNorm(norm)`: a per-layer constraint holding a weight at a norm.
- `NormMonitor()`: weight norms and effective learning rates each epoch.
"""

from tf_fixnorm.analysis import CLASSIFIER, OTHER, ROLES, SCALE_INVARIANT, Analysis, analyze
from tf_fixnorm.callbacks import NormMonitor
from tf_fixnorm.constraints import FixedNorm
from tf_fixnorm.optimizer import FixNorm

__all__ = ["analyze", "Analysis", "FixNorm", "FixedNorm", "NormMonitor", "ROLES",
           "SCALE_INVARIANT", "CLASSIFIER", "OTHER"]
__version__ = "0.1.0"
