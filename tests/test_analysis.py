"""tf_fixnorm.analyze against the hand-derived roles of tests/zoo.py.

Every zoo case is analysed with method="graph" (functional ones) and
method="sample" (all), and the role dicts must be exactly equal to the zoo's
expectations; a mismatch prints one line per differing variable.
"""

import warnings

import numpy as np
import pytest
import keras

import tf_fixnorm

try:
    from . import zoo
except ImportError:
    import zoo


# ----------------------------------------------------------------- helpers

_BUILT = {}


def built(case):
    """(model, expected) for a zoo case, built once per session (analyze must
    not change a model, which test_sample_leaves_weights_unchanged checks on
    fresh copies)."""
    if case not in _BUILT:
        keras.utils.set_random_seed(0)
        _BUILT[case] = zoo.ALL_CASES[case]()
    return _BUILT[case]


def subclassed_sample(batch=8, seed=0):
    return np.random.default_rng(seed).standard_normal((batch,) + zoo.IMG).astype("float32")


def role_diff(got, expected):
    """Readable lines for every path whose role differs (or is missing)."""
    lines = []
    for path in sorted(set(got) | set(expected)):
        e = expected.get(path, "<not expected>")
        g = got.get(path, "<missing>")
        if e != g:
            lines.append(f"  {path:<45} expected {e:<16} got {g}")
    return lines


def assert_roles(got, expected, label):
    lines = role_diff(got, expected)
    if lines:
        pytest.fail(f"{label}: {len(lines)} of {len(expected)} roles differ\n" + "\n".join(lines),
                    pytrace=False)


def analyze_quiet(model, **kwargs):
    """analyze() with its UserWarnings swallowed (tested separately)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return tf_fixnorm.analyze(model, **kwargs)


# -------------------------------------------------------- the zoo itself


@pytest.mark.parametrize("case", list(zoo.ALL_CASES))
def test_zoo_covers_every_trainable_variable(case):
    model, expected = built(case)
    paths = [v.path for v in model.trainable_variables]
    assert len(paths) == len(set(paths)), "duplicate variable paths"
    assert set(expected) == set(paths)
    assert set(expected.values()) <= set(zoo.ROLES)
    assert list(expected.values()).count(zoo.CLS) == 1


@pytest.mark.parametrize("case", list(zoo.ALL_CASES))
def test_zoo_math_holds_numerically(case):
    """Our own check of the zoo: in float64 with norm eps ~0 and perturbed
    biases / norm parameters, scaling an expected-invariant kernel by 3 does
    not move the training-mode output; scaling any other kernel does."""
    expected, change = zoo.output_change_per_kernel(zoo.ALL_CASES[case])
    tolerance = getattr(zoo.ALL_CASES[case], "invariant_tolerance", 1e-8)
    bad = []
    for path, c in change.items():
        if expected[path] == zoo.INV and c > tolerance:
            bad.append(f"  {path}: expected invariant, output moved {c:.3g}")
        if expected[path] != zoo.INV and c < 1e-4:
            bad.append(f"  {path}: expected {expected[path]}, output moved only {c:.3g}")
    assert not bad, "\n".join(bad)


# ------------------------------------------------------ roles, per method


@pytest.mark.parametrize("case", list(zoo.GRAPH_CASES))
def test_graph_roles(case):
    model, expected = built(case)
    got = analyze_quiet(model, method="graph").roles
    assert_roles(got, expected, f"{case} method=graph")


@pytest.mark.parametrize("case", list(zoo.ALL_CASES))
def test_sample_roles(case):
    model, expected = built(case)
    sample = subclassed_sample() if case in zoo.SUBCLASSED_CASES else None
    got = analyze_quiet(model, method="sample", sample=sample).roles
    assert_roles(got, expected, f"{case} method=sample")


@pytest.mark.parametrize("case", ["a_conv_bn_relu", "c_pre_act_resnet", "n_subclassed"])
def test_auto_roles(case):
    model, expected = built(case)
    sample = subclassed_sample() if case in zoo.SUBCLASSED_CASES else None
    got = analyze_quiet(model, sample=sample).roles
    assert_roles(got, expected, f"{case} method=auto")


def test_sample_method_on_subclassed_model_needs_a_sample():
    model, _ = built("n_subclassed")
    with pytest.raises(ValueError):
        tf_fixnorm.analyze(model, method="sample")


def test_graph_method_refuses_subclassed_model():
    model, _ = built("n_subclassed")
    with pytest.raises(ValueError):
        tf_fixnorm.analyze(model, method="graph")


# --------------------------------------------------------------- overrides


@pytest.mark.parametrize("method", ["graph", "sample"])
def test_override_by_layer_name(method):
    model, expected = built("a_conv_bn_relu")
    got = analyze_quiet(model, method=method,
                        overrides={"a_conv2": zoo.OTH, "a_conv3": zoo.CLS}).roles
    want = dict(expected)
    want[zoo.find_layer(model, "a_conv2").kernel.path] = zoo.OTH
    want[zoo.find_layer(model, "a_conv3").kernel.path] = zoo.CLS
    assert_roles(got, want, f"overrides method={method}")


def test_override_in_nested_model_by_layer_name():
    model, expected = built("l_nested_functional")
    got = analyze_quiet(model, method="graph", overrides={"l_conv1": zoo.OTH}).roles
    want = dict(expected)
    want[zoo.find_layer(model, "l_conv1").kernel.path] = zoo.OTH
    assert_roles(got, want, "nested override")


def test_override_unknown_layer_raises():
    model, _ = built("a_conv_bn_relu")
    with pytest.raises(ValueError):
        tf_fixnorm.analyze(model, method="graph", overrides={"no_such_layer": zoo.OTH})


# ---------------------------------------------------------------- warnings


@pytest.mark.parametrize("method", ["graph", "sample"])
def test_no_normalization_warns(method):
    model, _ = built("k_no_norm")
    with pytest.warns(UserWarning, match=r"(?i)scale.invariant"):
        tf_fixnorm.analyze(model, method=method)


def test_normalized_model_does_not_warn():
    model, _ = built("a_conv_bn_relu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tf_fixnorm.analyze(model, method="graph")
    msgs = [str(w.message) for w in caught
            if issubclass(w.category, UserWarning) and "invariant" in str(w.message).lower()]
    assert not msgs, msgs


# -------------------------------------------------------------- printing


@pytest.mark.parametrize("method", ["graph", "sample"])
def test_str_lists_every_layer_and_role(method):
    model, expected = built("i_relu_between")
    analysis = analyze_quiet(model, method=method)
    text = str(analysis)
    for layer in zoo.leaf_layers(model):
        if layer.trainable_variables:
            assert layer.name in text, layer.name
    for role in set(expected.values()):
        assert role in text, role
    # each kernel's line names its layer and its role
    lines = text.splitlines()
    for name, role in [("i_conv_nobias", zoo.INV), ("i_conv_bias", zoo.OTH),
                       ("i_logits", zoo.CLS)]:
        assert any(name in ln.split() and role in ln and "kernel" in ln for ln in lines), (
            name, role, text)


# ---------------------------------------------- analyze changes no weights


def _snapshot(model):
    return [(v.path, np.array(v.numpy(), copy=True)) for v in model.variables]


@pytest.mark.parametrize("case", ["a_conv_bn_relu", "x1_activations_edge",
                                  "l2_nested_sequential", "e_efficientnet_b0", "n_subclassed"])
@pytest.mark.parametrize("method", ["sample", "auto"])
def test_analyze_leaves_weights_unchanged(case, method):
    keras.utils.set_random_seed(1)
    model, _ = zoo.ALL_CASES[case]()  # a fresh model, not the shared one
    sample = subclassed_sample() if case in zoo.SUBCLASSED_CASES else None
    before = _snapshot(model)
    analyze_quiet(model, method=method, sample=sample)
    after = _snapshot(model)
    assert [p for p, _ in before] == [p for p, _ in after]
    changed = [p for (p, a), (_, b) in zip(before, after) if not np.array_equal(a, b)]
    assert not changed, f"analyze(method={method!r}) changed {changed}"
