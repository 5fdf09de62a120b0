"""The norm math, called without a model (on whichever Keras backend is set)."""

import keras
import numpy as np
import pytest
from keras import ops

from tf_fixnorm import FixedNorm, projection

rng = np.random.default_rng(0)


def numpy(x):
    return ops.convert_to_numpy(x)


def constant(x, dtype="float32"):
    return ops.convert_to_tensor(np.asarray(x), dtype)


def project(kernels, target, measure):
    """A held group after FixNorm's step: each kernel times its factor."""
    kernels = [constant(k) for k in kernels]
    return [numpy(projection.rescale(k, s))
            for k, s in zip(kernels, projection.group_scales(kernels, target, measure))]


def test_rescale_to_norm_whole_tensor_and_direction_kept():
    x = rng.standard_normal((3, 3, 4, 5)).astype("float32")
    y = numpy(projection.rescale_to_norm(constant(x), 2.5))
    assert np.linalg.norm(y) == pytest.approx(2.5, rel=1e-6)
    np.testing.assert_allclose(y / np.linalg.norm(y), x / np.linalg.norm(x), rtol=1e-5, atol=1e-7)


def test_per_class_rows():
    w = rng.standard_normal((7, 3)).astype("float32")
    y = numpy(projection.rescale_to_norm(constant(w), 0.5, axis=projection.class_axes(2)))
    np.testing.assert_allclose(np.linalg.norm(y, axis=0), 0.5, rtol=1e-6)
    s = numpy(projection.classifier_scale(constant(w), 0.5, "per_class"))
    np.testing.assert_allclose(s.ravel(), 0.5 / np.linalg.norm(w, axis=0), rtol=1e-6)


def test_zero_norm_is_left_alone_not_nan():
    z = ops.zeros((4, 4))
    assert np.all(numpy(projection.rescale_to_norm(z, 3.0)) == 0)
    assert float(projection.safe_scale(0.0, 3.0)) == 1.0
    assert float(projection.safe_scale(2.0, 0.0)) == 1.0  # no target: no change
    mixed = constant([[0.0, 3.0], [0.0, 4.0]])  # a zero class and a live one
    out = numpy(projection.rescale_to_norm(mixed, 1.0, axis=[0]))
    np.testing.assert_allclose(out, [[0.0, 0.6], [0.0, 0.8]], rtol=1e-6)


def test_joint_projection_keeps_ratios_and_hits_target():
    ks = [rng.standard_normal(s).astype("float32") for s in [(3, 3, 2, 4), (4, 8), (5,)]]
    out = project(ks, 6.0, "joint")
    total = np.sqrt(sum(np.sum(o ** 2) for o in out))
    assert total == pytest.approx(6.0, rel=1e-6)
    ratios = [np.linalg.norm(o) / np.linalg.norm(k) for o, k in zip(out, ks)]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-6)
    assert projection.joint_norm(out) == pytest.approx(6.0, rel=1e-6)


def test_each_projection_per_kernel_targets_or_one_shared():
    ks = [rng.standard_normal((4, 4)).astype("float32") * s for s in (0.1, 10.0)]
    out = project(ks, [1.0, 2.0], "each")
    assert [float(np.linalg.norm(o)) for o in out] == pytest.approx([1.0, 2.0], rel=1e-6)
    out = project(ks, 0.5, "each")  # alpha, frobenius
    assert [float(np.linalg.norm(o)) for o in out] == pytest.approx([0.5, 0.5], rel=1e-6)


def test_per_class_projection_and_the_classifier_norm():
    ks = [rng.standard_normal((3, 3, 4, 6)).astype("float32"),
          rng.standard_normal((6, 5)).astype("float32")]
    out = project(ks, 2.0, "per_class")
    np.testing.assert_allclose(np.linalg.norm(out[0].reshape(-1, 6), axis=0), 2.0, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out[1], axis=0), 2.0, rtol=1e-6)
    # The classifier's norm is alpha once held, for one kernel or several, either measure.
    assert projection.classifier_norm(out, "per_class") == pytest.approx(2.0, rel=1e-6)
    held = project(ks, 2.0, "each")
    assert projection.classifier_norm(held, "frobenius") == pytest.approx(2.0, rel=1e-6)
    # Before holding: the root mean square of what alpha measures.
    norms = [np.linalg.norm(k) for k in ks]
    assert projection.classifier_norm(ks) == pytest.approx(np.sqrt(np.mean(np.square(norms))))
    assert np.isnan(projection.classifier_norm([]))


def test_float16_weights_keep_dtype():
    x = constant(rng.standard_normal((8, 8)), "float16")
    y = projection.rescale_to_norm(x, 1.0)
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    assert float(projection.norm(y)) == pytest.approx(1.0, rel=2e-3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="measure must be one of"):
        projection.group_scales([ops.ones((2, 2))], 1.0, "layer")
    with pytest.raises(ValueError, match="alpha_measure must be one of"):
        projection.classifier_scale(ops.ones((2, 2)), 1.0, "rows")


def test_fixed_norm_constraint_in_training_and_serialization(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(5, kernel_constraint=FixedNorm(3.0), name="d"),
        keras.layers.Dense(2, kernel_constraint=FixedNorm(1.0, axis=0), name="out"),
    ])
    model.compile(keras.optimizers.Adam(0.1), "mse")
    x = rng.standard_normal((32, 6)).astype("float32")
    model.fit(x, rng.standard_normal((32, 2)), epochs=2, verbose=0)
    assert np.linalg.norm(model.get_layer("d").kernel.numpy()) == pytest.approx(3.0, rel=1e-5)
    np.testing.assert_allclose(np.linalg.norm(model.get_layer("out").kernel.numpy(), axis=0),
                               1.0, rtol=1e-5)
    path = str(tmp_path / "c.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    constraint = loaded.get_layer("out").kernel.constraint
    assert isinstance(constraint, FixedNorm)
    assert constraint.get_config() == {"norm": 1.0, "axis": 0}


@pytest.mark.parametrize("bad", [0.0, -2.0, float("nan")])
def test_fixed_norm_rejects_bad_norm(bad):
    with pytest.raises(ValueError, match="positive finite norm"):
        FixedNorm(bad)
