"""Reference models used by the recipes, tests and benchmarks."""

from fixnorm_experiments.models.efficientnet import efficientnet, efficientnet_b0, efficientnet_b1
from fixnorm_experiments.models.mobilenet_v2 import mobilenet_v2
from fixnorm_experiments.models.registry import MODELS, PAPER_PARAMS, build
from fixnorm_experiments.models.resnet_d import resnet50_d, resnet50_d_se
from fixnorm_experiments.models.small import NORM_KINDS, small_resnet

__all__ = ["NORM_KINDS", "small_resnet", "resnet50_d", "resnet50_d_se", "mobilenet_v2",
           "efficientnet", "efficientnet_b0", "efficientnet_b1", "MODELS", "PAPER_PARAMS",
           "build"]
