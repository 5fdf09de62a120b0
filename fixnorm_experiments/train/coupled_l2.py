"""SGD with classic coupled L2 weight decay, for the reference baselines.

docs/method.md, "Coupled L2": the paper's lambda (1e-4 for ResNet50-D) is coupled L2,
`grad += lambda * w` before momentum, as in the frameworks its numbers come
from. Keras' own `weight_decay=` is decoupled (`w -= lr * lambda * w`) and
about 10x weaker under momentum 0.9, so it is refused here.
"""

import keras
from keras import ops

from tf_fixnorm.projection import to_float


@keras.saving.register_keras_serializable(package="fixnorm_experiments")
class SGDCoupledL2(keras.optimizers.SGD):
    """SGD (momentum, Nesterov) whose gradient gets `l2 * w` added first.

    Every trainable variable is decayed, biases and normalization parameters
    included, as `torch.optim.SGD(weight_decay=...)` does.

    Args:
        learning_rate: float or schedule.
        momentum: float >= 0.
        nesterov: bool.
        l2: the coupled weight decay lambda (>= 0), or a float scalar
            `keras.Variable` holding it (a tuner sets it without tracing the
            step again).
        name: optimizer name.
        **kwargs: other base optimizer arguments (clipnorm, use_ema, ...);
            not `weight_decay`.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, l2=0.0,
                 name="sgd_coupled_l2", **kwargs):
        if kwargs.get("weight_decay"):
            raise ValueError("weight_decay is Keras' decoupled decay; the paper's lambda is "
                             "coupled L2: pass l2= instead")
        kwargs.pop("weight_decay", None)
        if not isinstance(l2, keras.Variable):
            l2 = float(l2)
        if not to_float(l2) >= 0:
            raise ValueError(f"l2 must be >= 0, got {to_float(l2)}")
        super().__init__(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov,
                         name=name, **kwargs)
        self.l2 = l2

    def update_step(self, gradient, variable, learning_rate):
        if isinstance(self.l2, keras.Variable) or self.l2:
            gradient = ops.add(ops.cast(gradient, variable.dtype),
                               ops.multiply(ops.cast(self.l2, variable.dtype), variable))
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["l2"] = to_float(self.l2)
        if isinstance(self.l2, keras.Variable):  # tracked, so saved with the slots
            config["l2_variable"] = True
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if config.pop("l2_variable", False):
            config["l2"] = keras.Variable(config["l2"], dtype="float32", trainable=False,
                                          name="l2")
        return super().from_config(config, custom_objects=custom_objects)
