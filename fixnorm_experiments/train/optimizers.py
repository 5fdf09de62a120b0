"""The two flavours' optimizers: FixNorm(SGD momentum), or SGD momentum with coupled L2."""

import keras

from fixnorm_experiments.recipes import FLAVOURS
from fixnorm_experiments.train.coupled_l2 import SGDCoupledL2
from tf_fixnorm import FixNorm

MOMENTUM = 0.9


def make_optimizer(flavour, model, schedule, alpha=None, weight_decay=None, scope="global",
                   alpha_measure="frobenius", other_kernels="free", **analysis):
    """FixNorm(SGD momentum) for "fixnorm"; SGD momentum + coupled L2 for "reference".

    `analysis` (overrides=, classifier_outputs=, sample=) goes to FixNorm;
    the reference flavour ignores it and FixNorm's options.
    """
    if flavour == "fixnorm":
        return FixNorm(keras.optimizers.SGD(schedule, momentum=MOMENTUM), model, alpha=alpha,
                       scope=scope, alpha_measure=alpha_measure, other_kernels=other_kernels,
                       **analysis)
    if flavour == "reference":
        return SGDCoupledL2(schedule, momentum=MOMENTUM, l2=weight_decay)
    raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
