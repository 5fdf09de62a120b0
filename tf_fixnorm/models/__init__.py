"""Reference models used by the recipes, tests and benchmarks."""

from tf_fixnorm.models.small import NORM_KINDS, small_resnet

__all__ = ["NORM_KINDS", "small_resnet"]
