"""Custom layers: opaque until declared with `register_layer_rule`, then seen through."""

import keras
import pytest
from keras import layers

import tf_fixnorm
from tf_fixnorm.analysis import graph


@pytest.fixture(autouse=True)
def no_declarations(monkeypatch):
    monkeypatch.setattr(graph, "_DECLARED", {})


class SquashPositive(layers.Layer):
    """max(x, 0): positively homogeneous, but the graph rules do not know it."""

    def call(self, x):
        return keras.ops.maximum(x, 0.0)


class NarrowSquash(SquashPositive):
    """A subclass: inherits its parent's declaration."""


class HalfPool(layers.Layer):
    """Max over pairs of rows: moves values, keeps a per-channel shift."""

    def call(self, x):
        return keras.ops.max(keras.ops.reshape(x, (-1, x.shape[1] // 2, 2, *x.shape[2:])),
                             axis=2)


def model_with(custom, conv_bias=False):
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same", use_bias=conv_bias, name="conv")(inputs)
    x = custom(name="custom")(x)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.GlobalAveragePooling2D()(layers.ReLU()(x))
    return keras.Model(inputs, layers.Dense(3, name="logits")(x))


def role(model, method="graph"):
    entry = next(e for e in tf_fixnorm.analyze(model, method=method).entries
                 if e.path == "conv/kernel")
    return entry.role, entry.reason


def test_an_undeclared_layer_blocks_the_decision_and_says_how_to_declare_it():
    model = model_with(SquashPositive)
    found, reason = role(model)
    assert found == "other"  # never wrongly invariant
    assert "'custom': SquashPositive is opaque" in reason
    assert "tf_fixnorm.register_layer_rule(SquashPositive, 'homogeneous' or 'preserving')" \
        in reason
    assert "register_layer_rule(SquashPositive" in str(tf_fixnorm.analyze(model, method="graph"))


def test_a_declared_homogeneous_layer_is_seen_through_and_agrees_with_the_probe():
    tf_fixnorm.register_layer_rule(SquashPositive, "homogeneous")
    model = model_with(SquashPositive)
    assert role(model)[0] == "scale_invariant"
    assert role(model, method="sample")[0] == "scale_invariant"
    # A subclass inherits the rule.
    assert role(model_with(NarrowSquash))[0] == "scale_invariant"
    # After a bias, max(c*u + b, 0) is not homogeneous: the rule still says no.
    found, reason = role(model_with(SquashPositive, conv_bias=True))
    assert found == "other" and "after a bias is not positively homogeneous" in reason


def test_a_declared_preserving_layer_keeps_the_bias_shift_for_the_normalization():
    tf_fixnorm.register_layer_rule(HalfPool, "preserving")
    model = model_with(HalfPool, conv_bias=True)
    assert role(model)[0] == "scale_invariant"
    assert role(model, method="sample")[0] == "scale_invariant"


def test_opaque_overrides_a_known_base_class():
    class OddReLU(layers.ReLU):
        def call(self, x):
            return keras.ops.relu(x) + 1.0  # not homogeneous, though a ReLU subclass

    assert role(model_with(OddReLU))[0] == "scale_invariant"  # the ReLU rule, wrongly
    tf_fixnorm.register_layer_rule(OddReLU, "opaque")
    found, reason = role(model_with(OddReLU))
    assert found == "other" and "OddReLU is opaque" in reason


@pytest.mark.parametrize("layer_class, rule, error", [
    (int, "homogeneous", TypeError),
    (SquashPositive, "linear", ValueError),
])
def test_bad_declarations(layer_class, rule, error):
    with pytest.raises(error):
        tf_fixnorm.register_layer_rule(layer_class, rule)
