"""tf_fixnorm.training: schedules and worker directories."""

import pytest


def test_lr_schedules_warm_up_then_decay():
    from tf_fixnorm import training

    cosine = training.lr_schedule(0.8, steps_per_epoch=10, epochs=10, warmup_epochs=2)
    assert float(cosine(0)) == 0.0
    assert float(cosine(10)) == pytest.approx(0.4, rel=1e-5)  # halfway through warm-up
    assert float(cosine(20)) == pytest.approx(0.8, rel=1e-5)  # peak
    assert float(cosine(100)) == pytest.approx(0.0, abs=1e-6)
    step = training.lr_schedule(0.9, steps_per_epoch=10, epochs=9, warmup_epochs=1, kind="step")
    assert float(step(4)) == pytest.approx(0.45, rel=1e-5)  # warm-up: 0.9 * 5 / 10
    assert [float(step(s)) for s in (29, 30, 60, 80)] == pytest.approx(
        [0.9, 0.09, 0.009, 0.0009], rel=1e-5)  # x0.1 at 1/3, 2/3, 8/9 of 90 steps
    with pytest.raises(ValueError, match="'cosine' or 'step'"):
        training.lr_schedule(0.1, 10, 1, kind="linear")


def test_worker_model_dir(monkeypatch):
    import json

    from tf_fixnorm import training

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert training.worker_model_dir("/m") == "/m"
    cluster = {"worker": ["a:1", "b:2"]}
    for index, expected in ((0, "/m"), (1, "/m/worker_1")):
        monkeypatch.setenv("TF_CONFIG", json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        assert training.worker_model_dir("/m") == expected


SYNC_BN_SCRIPT = r"""
import sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from tf_fixnorm import training

class Block(keras.layers.Layer):  # BN nested in a custom layer, as in keras-hub
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.norm = keras.layers.BatchNormalization(momentum=0.0, epsilon=0.0)
    def call(self, x, training=None):
        return self.norm(x, training=training)

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
for sync in (False, True):
    with strategy.scope():
        inputs = keras.Input((1,))
        block = Block()
        model = keras.Model(inputs, keras.layers.Dense(1)(block(inputs)))
        changed = training.synchronize_batch_norm(model) if sync else 0
        model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    # One global batch: replica 0 sees the two 0s, replica 1 the two 2s.
    x = np.array([[0.0], [0.0], [2.0], [2.0]], "float32")
    model.fit(tf.data.Dataset.from_tensor_slices((x, x)).batch(4), epochs=1, verbose=0)
    print("RESULT", sync, changed, float(block.norm.moving_mean.numpy()[0]),
          float(block.norm.moving_variance.numpy()[0]))
"""


def test_synchronized_batch_norm_uses_the_whole_global_batch():
    import subprocess
    import sys

    from tests.binaries import ROOT, clean_env

    result = subprocess.run([sys.executable, "-c", SYNC_BN_SCRIPT], cwd=ROOT, env=clean_env(),
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split()[1:] for line in result.stdout.splitlines()
            if line.startswith("RESULT")]
    (_, _, mean_off, var_off), (_, changed, mean_on, var_on) = rows
    assert int(changed) == 1
    # The statistics of [0, 0, 2, 2]: mean 1, variance 1.
    assert (float(mean_on), float(var_on)) == pytest.approx((1.0, 1.0))
    # Unsynchronized, the two replicas' batches each have variance 0.
    assert float(var_off) == pytest.approx(0.0)
