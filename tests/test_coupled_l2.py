"""SGDCoupledL2: grad += lambda * w before momentum."""

import keras
import numpy as np
import pytest

from fixnorm_experiments.train.coupled_l2 import SGDCoupledL2


def test_two_steps_match_the_formula_with_momentum():
    w0 = np.array([1.0, -2.0, 3.0], "float32")
    g = np.array([0.5, 0.5, -1.0], "float32")
    v = keras.Variable(w0)
    opt = SGDCoupledL2(0.1, momentum=0.9, l2=0.01)
    opt.apply([g], [v])
    m1 = -0.1 * (g + 0.01 * w0)
    w1 = w0 + m1
    np.testing.assert_allclose(v.numpy(), w1, rtol=1e-6)
    opt.apply([g], [v])
    m2 = 0.9 * m1 - 0.1 * (g + 0.01 * w1)
    np.testing.assert_allclose(v.numpy(), w1 + m2, rtol=1e-6)


def test_l2_zero_is_plain_sgd_and_config_round_trips():
    a, b = keras.Variable([1.0, 2.0]), keras.Variable([1.0, 2.0])
    SGDCoupledL2(0.1, momentum=0.9).apply([np.ones(2, "float32")], [a])
    keras.optimizers.SGD(0.1, momentum=0.9).apply([np.ones(2, "float32")], [b])
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    opt = SGDCoupledL2(0.2, momentum=0.9, nesterov=True, l2=1e-4)
    clone = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(clone, SGDCoupledL2) and clone.get_config() == opt.get_config()


def test_refuses_decoupled_decay_and_negative_l2():
    with pytest.raises(ValueError, match="pass l2= instead"):
        SGDCoupledL2(0.1, weight_decay=1e-4)
    with pytest.raises(ValueError, match="l2 must be >= 0"):
        SGDCoupledL2(0.1, l2=-1.0)

