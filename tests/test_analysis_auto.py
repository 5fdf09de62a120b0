"""analyze(method="auto"): the graph where it can see, the sample for the rest."""

import warnings

import keras
import pytest

import tf_fixnorm


class ConvBN(keras.layers.Layer):
    """A custom layer: its conv is invisible to the functional graph."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name="inner_conv")
        self.bn = keras.layers.BatchNormalization(name="inner_bn")

    def call(self, x, training=None):
        return keras.ops.relu(self.bn(self.conv(x), training=training))


def build():
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=False, name="visible_conv")(inp)
    x = keras.layers.BatchNormalization(name="visible_bn")(x)
    x = keras.layers.PReLU(name="prelu")(x)
    x = ConvBN(6, name="custom")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(3, name="head")(x))


def kernel_path(analysis, suffix):
    return next(p for p in analysis.roles if p.endswith(suffix))


def test_auto_measures_only_what_the_graph_cannot_see():
    keras.utils.set_random_seed(0)
    model = build()
    auto = tf_fixnorm.analyze(model)
    assert auto.method == "graph+sample"
    inner = kernel_path(auto, "inner_conv/kernel")
    assert auto.roles[inner] == "scale_invariant"
    assert auto.roles["visible_conv/kernel"] == "scale_invariant"
    assert auto.roles["head/kernel"] == "classifier"
    prelu = next(e for e in auto.entries if e.layer == "prelu")
    assert prelu.role == "other" and "not a kernel" in prelu.reason  # not sent to the probe

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph_only = tf_fixnorm.analyze(model, method="graph")
    assert graph_only.method == "graph"
    entry = next(e for e in graph_only.entries if e.path == inner)
    assert entry.role == "other" and "cannot see" in entry.reason
    # the visible part agrees with auto
    for path in ("visible_conv/kernel", "head/kernel"):
        assert graph_only.roles[path] == auto.roles[path]


def test_analysis_table_and_bad_arguments():
    model = build()
    table = str(tf_fixnorm.analyze(model))
    assert "visible_conv" in table and "scale_invariant" in table and "classifier" in table
    assert "(method: graph+sample)" in table
    with pytest.raises(ValueError, match="method must be one of"):
        tf_fixnorm.analyze(model, method="magic")
    with pytest.raises(ValueError, match="not built"):
        tf_fixnorm.analyze(keras.Sequential([keras.layers.Dense(2)]))
    with pytest.raises(ValueError, match="did you mean 'visible_conv'"):
        tf_fixnorm.analyze(model, overrides={"visible_cnv": "other"})
    with pytest.raises(ValueError, match="role must be one of"):
        tf_fixnorm.analyze(model, overrides={"visible_conv": "frozen"})
