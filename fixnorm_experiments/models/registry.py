"""The paper's models by name (docs/method.md, "The paper's tables": Tables 1, 2 and 5).

``MODELS`` maps a name to a builder called as ``builder(num_classes=...,
input_shape=..., norm=..., **kwargs)``; ``build`` does that with a clear error
for an unknown name; ``PAPER_PARAMS`` is Table 2's parameter count (millions)
for each, which the tests check the builders against (trainable parameters,
within 1%).
"""

from __future__ import annotations

import functools

from fixnorm_experiments.models.efficientnet import efficientnet
from fixnorm_experiments.models.mobilenet_v2 import mobilenet_v2
from fixnorm_experiments.models.resnet_d import resnet50_d

MODELS = {
    "resnet50_d": functools.partial(resnet50_d, se=False),
    "resnet50_d_se": functools.partial(resnet50_d, se=True),
    "mobilenet_v2": functools.partial(mobilenet_v2, 1.0, tricks=False),
    "mobilenet_v2_x1.12_tricks": functools.partial(mobilenet_v2, 1.12, tricks=True),
    "mobilenet_v2_x1.54_tricks": functools.partial(mobilenet_v2, 1.54, tricks=True),
    "efficientnet_b0": functools.partial(efficientnet, "b0"),
    "efficientnet_b1": functools.partial(efficientnet, "b1"),
}

PAPER_PARAMS = {
    "resnet50_d": 25.6,
    "resnet50_d_se": 28.1,
    "mobilenet_v2": 3.5,
    "mobilenet_v2_x1.12_tricks": 4.7,
    "mobilenet_v2_x1.54_tricks": 8.0,
    "efficientnet_b0": 5.3,
    "efficientnet_b1": 7.8,
}


def build(name: str, num_classes: int = 1000, input_shape=(224, 224, 3), norm: str = "batch",
          **kwargs):
    """Build the model registered as ``name``.

    Extra keyword arguments (``bn_momentum``, ``drop_connect_rate``,
    ``dropout_rate``, ...) go to the builder.

    Raises:
      ValueError: ``name`` is not in ``MODELS`` (the message lists them), or
        the builder rejects an argument.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return MODELS[name](num_classes=num_classes, input_shape=input_shape, norm=norm, **kwargs)
