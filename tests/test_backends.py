"""FixNorm beyond TensorFlow: JAX's data parallelism, a model moved between backends,
and the library importing no TensorFlow on the other backends."""

import importlib.util
import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from tf_fixnorm import FixNorm
from tests import helpers
from tests.binaries import ROOT, clean_env
from tests.helpers import CLASSIFIER, compile_model, conv_bn_model, data, var

ALPHA = 1.5


@pytest.mark.backends("jax")
def test_data_parallel_over_two_devices_holds_norms_and_keeps_replicas_identical():
    """Keras' distribution API on JAX (two CPU devices, see conftest)."""
    import jax

    devices = jax.devices("cpu")
    assert len(devices) == 2, "conftest asks XLA for two host devices"
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    try:
        keras.utils.set_random_seed(11)
        model = conv_bn_model()
        target = helpers.invariant_norm(model)
        compile_model(model, FixNorm(keras.optimizers.SGD(0.5, momentum=0.9), model,
                                     alpha=ALPHA))
        model.fit(*data(), batch_size=16, epochs=2, verbose=0)
    finally:
        keras.distribution.set_distribution(None)
    assert helpers.invariant_norm(model) == pytest.approx(target, rel=1e-5)
    assert float(np.linalg.norm(var(model, CLASSIFIER[0]).numpy())) == pytest.approx(ALPHA,
                                                                                     rel=1e-5)
    for v in model.trainable_variables + model.optimizer.variables:
        shards = [np.asarray(shard.data) for shard in v.value.addressable_shards]
        assert len(shards) == 2, v.path
        np.testing.assert_array_equal(shards[0], shards[1], err_msg=v.path)


# A model trained under one backend, saved, and resumed under the next.
RESUME = textwrap.dedent("""
    import json, sys
    import keras, numpy as np
    import tf_fixnorm
    from tests import helpers
    path, out, first = sys.argv[1], sys.argv[2], sys.argv[3] == "first"
    x, y = helpers.data()
    if first:
        keras.utils.set_random_seed(12)
        model = helpers.conv_bn_model()
        target = helpers.invariant_norm(model)
        helpers.compile_model(model, tf_fixnorm.FixNorm(
            keras.optimizers.SGD(0.5, momentum=0.9), model, alpha=1.5, scope="per_kernel"))
    else:
        model = keras.saving.load_model(path)
        target = float(np.sqrt(np.sum(np.square(model.optimizer.target_norms.numpy()))))
    restored = model.optimizer.target_norms.numpy().tolist() if not first else None
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    model.save(out)
    print(json.dumps({"backend": keras.backend.backend(), "target": target,
                      "targets": model.optimizer.target_norms.numpy().tolist(),
                      "restored": restored, "held": helpers.invariant_norm(model),
                      "classifier": float(np.linalg.norm(helpers.var(model, "fc/kernel").numpy())),
                      "iterations": int(model.optimizer.iterations),
                      "type": type(model.optimizer).__name__}))
""")


def installed(*packages):
    return all(importlib.util.find_spec(p) is not None for p in packages)


@pytest.mark.backends("tensorflow")  # it starts one process per backend itself
@pytest.mark.skipif(not installed("jax", "torch"), reason="needs JAX and PyTorch (make installs them)")
def test_a_model_saved_under_one_backend_resumes_under_another(tmp_path):
    results, previous = [], None
    for number, backend in enumerate(("tensorflow", "jax", "torch")):
        out = str(tmp_path / f"{backend}.keras")
        run = subprocess.run([sys.executable, "-c", RESUME, str(previous), out,
                              "first" if previous is None else "next"], cwd=ROOT,
                             env=clean_env(KERAS_BACKEND=backend), capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        results.append(json.loads(run.stdout.strip().splitlines()[-1]))
        previous = out
    first, *resumed = results
    assert [r["backend"] for r in results] == ["tensorflow", "jax", "torch"]
    for result in resumed:
        assert result["type"] == "FixNorm"
        assert result["restored"] == pytest.approx(first["targets"], rel=1e-6)
        assert result["targets"] == pytest.approx(first["targets"], rel=1e-6)
    for number, result in enumerate(results):
        assert result["held"] == pytest.approx(first["target"], rel=1e-5), result["backend"]
        assert result["classifier"] == pytest.approx(ALPHA, rel=1e-5), result["backend"]
        assert result["iterations"] == 4 * (number + 1)  # the step count carried over


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_library_imports_no_tensorflow_on_other_backends(backend):
    if not installed(backend):
        pytest.skip(f"{backend} is not installed (make installs it)")
    code = textwrap.dedent("""
        import sys
        import tf_fixnorm
        from tf_fixnorm.tuning import search
        print(tf_fixnorm.FixNorm.__name__, "tensorflow" in sys.modules)
    """)
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                         env=clean_env(KERAS_BACKEND=backend), capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["FixNorm", "False"]
