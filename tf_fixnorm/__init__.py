"""tf_fixnorm: train normalized Keras networks without weight decay by fixing weight norms."""

from tf_fixnorm.analysis import CLASSIFIER, OTHER, ROLES, SCALE_INVARIANT, Analysis, analyze

__all__ = ["analyze", "Analysis", "ROLES", "SCALE_INVARIANT", "CLASSIFIER", "OTHER"]
__version__ = "0.1.0"
