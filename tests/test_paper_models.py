"""The paper's models (fixnorm_experiments.models): Table 2 parameter counts and variable roles.

Parameter counts are built at 1000 classes and 224x224 (no forward pass) and
compared, as trainable parameters, with Table 2 (docs/method.md) to
within 1%: the paper's frameworks count learnable parameters, not BN's moving
statistics. The reference builds from keras.applications are matched exactly.

Roles are derived here from the structure of each built model, never from
`analyze`: a kernel whose layer's only consumer is a normalization layer is
scale-invariant; squeeze-excitation kernels (layers named ``*_se_*``: a bias
and a non-homogeneous activation before the gate) are "other"; the ``Dense``
named "classifier" that produces the model output is the classifier;
biases, gammas and betas are "other". Every kernel must fall under exactly
one of these rules.
"""

import numpy as np
import pytest
import keras
from keras import layers

import tf_fixnorm
from fixnorm_experiments.models import MODELS, PAPER_PARAMS, build
from fixnorm_experiments.models.blocks import group_count

NORMS = (layers.BatchNormalization, layers.GroupNormalization)
KERNEL_NAMES = ("kernel", "depthwise_kernel")
SMALL = (64, 64, 3)


def trainable_params(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def consumers(layer):
    return [node.operation for node in layer._outbound_nodes]


def derived_roles(model):
    """path -> role from the model's structure and layer names (see module doc)."""
    expected = {}
    output_layers = {t._keras_history[0].name for t in model.outputs}
    for layer in model.layers:
        for v in layer.trainable_variables:
            short = v.path.rsplit("/", 1)[-1]
            if short not in KERNEL_NAMES:
                role = tf_fixnorm.OTHER
            elif layer.name == "classifier":
                assert isinstance(layer, layers.Dense) and layer.name in output_layers
                assert layer.activation in (None, keras.activations.linear)
                role = tf_fixnorm.CLASSIFIER
            elif "_se_" in layer.name:
                assert isinstance(layer, layers.Conv2D) and layer.use_bias, layer.name
                role = tf_fixnorm.OTHER
            else:
                after = consumers(layer)
                assert len(after) == 1 and isinstance(after[0], NORMS), \
                    f"{layer.name} feeds {[c.name for c in after]}, not one norm layer"
                assert not layer.use_bias, f"{layer.name} has a bias before its norm"
                role = tf_fixnorm.SCALE_INVARIANT
            expected[v.path] = role
    return expected


@pytest.mark.parametrize("name", sorted(MODELS))
def test_params_match_table2(name):
    model = build(name, num_classes=1000, input_shape=(224, 224, 3), norm="batch")
    got = trainable_params(model)
    want = PAPER_PARAMS[name] * 1e6
    assert abs(got / want - 1) < 0.01, f"{name}: {got:,} trainable vs Table 2 {want:,.0f}"
    # GroupNorm changes no trainable parameter count (it only drops BN's moving stats).
    assert trainable_params(build(name, 1000, (224, 224, 3), "group")) == got


def test_reference_builds_match_keras_applications():
    mnv2 = build("mobilenet_v2", 1000, (224, 224, 3), "batch")
    ref = keras.applications.MobileNetV2(weights=None, alpha=1.0, classifier_activation=None)
    assert mnv2.count_params() == ref.count_params() == 3_538_984
    for name, app in (("efficientnet_b0", keras.applications.EfficientNetB0),
                      ("efficientnet_b1", keras.applications.EfficientNetB1)):
        ours = build(name, 1000, (224, 224, 3), "batch")
        ref = app(weights=None, classifier_activation=None)
        # keras.applications adds an input Normalization layer: 7 non-trainable values.
        assert ours.count_params() == ref.count_params() - 7, name


@pytest.mark.parametrize("name,norm", [(n, "batch") for n in sorted(MODELS)]
                         + [("resnet50_d", "group"), ("resnet50_d_se", "group"),
                            ("efficientnet_b0", "group"), ("mobilenet_v2_x1.12_tricks", "group")])
def test_graph_roles(name, norm):
    model = build(name, num_classes=10, input_shape=SMALL, norm=norm)
    expected = derived_roles(model)
    roles = tf_fixnorm.analyze(model, method="graph").roles
    assert set(roles) == set(expected)
    wrong = {p: (roles[p], expected[p]) for p in expected if roles[p] != expected[p]}
    assert not wrong, wrong
    assert roles["classifier/kernel"] == tf_fixnorm.CLASSIFIER
    se = [p for p in roles if "_se_" in p and p.endswith("/kernel")]
    assert bool(se) == ("tricks" in name or "efficientnet" in name or name.endswith("_se"))
    assert all(roles[p] == tf_fixnorm.OTHER for p in se)
    assert sum(r == tf_fixnorm.SCALE_INVARIANT for r in roles.values()) > 40


def test_resnet_options_keep_roles():
    model = build("resnet50_d_se", 10, SMALL, "group", zero_init_last_gamma=True,
                  drop_connect_rate=0.1, dropout_rate=0.2)
    assert float(np.abs(model.get_layer("stage1_block1_norm3").gamma.numpy()).max()) == 0.0
    roles = tf_fixnorm.analyze(model, method="graph").roles
    assert roles == derived_roles(model)


def test_group_counts():
    model = build("efficientnet_b0", 10, SMALL, "group")
    for layer in model.layers:
        if isinstance(layer, layers.GroupNormalization):
            channels = layer.input.shape[-1]
            assert layer.groups == group_count(channels)
            assert channels % layer.groups == 0
            assert layer.groups == 32 or channels % 32 != 0
    assert [group_count(c) for c in (24, 40, 144, 1152, 16)] == [24, 20, 24, 32, 16]


def test_sample_agrees_with_graph():
    model = build("resnet50_d_se", 10, SMALL, "batch")
    x = np.random.default_rng(0).standard_normal((4,) + SMALL).astype("float32")
    sample = tf_fixnorm.analyze(model, sample=x, method="sample").roles
    graph = tf_fixnorm.analyze(model, method="graph").roles
    assert sample == graph


def test_unknown_name_and_bad_args():
    with pytest.raises(ValueError, match="unknown model 'resnet51'.*resnet50_d"):
        build("resnet51")
    with pytest.raises(ValueError, match="unknown norm"):
        build("resnet50_d", 10, SMALL, "layer")
    with pytest.raises(ValueError, match="num_classes"):
        build("efficientnet_b0", 0, SMALL)


def test_small_resnet_export_still_works():
    from fixnorm_experiments.models import small_resnet
    assert small_resnet((16, 16, 3), 4).get_layer("classifier").units == 4
