"""fixnorm_experiments.train: schedules, worker directories, synchronized BatchNorm."""

import pytest


def test_lr_schedules_warm_up_then_decay():
    from fixnorm_experiments.train import schedules

    # 10 epochs of 10 steps, 2 of them warm-up.
    cosine = schedules.build("cosine", 0.8, total_steps=100, warmup_steps=20)
    assert float(cosine(0)) == 0.0
    assert float(cosine(10)) == pytest.approx(0.4, rel=1e-5)  # halfway through warm-up
    assert float(cosine(20)) == pytest.approx(0.8, rel=1e-5)  # peak
    assert float(cosine(100)) == pytest.approx(0.0, abs=1e-6)
    step = schedules.build("step", 0.9, total_steps=90, warmup_steps=10)
    assert float(step(4)) == pytest.approx(0.45, rel=1e-5)  # warm-up: 0.9 * 5 / 10
    assert [float(step(s)) for s in (29, 30, 60, 80)] == pytest.approx(
        [0.9, 0.09, 0.009, 0.0009], rel=1e-5)  # x0.1 at 1/3, 2/3, 8/9 of 90 steps
    with pytest.raises(ValueError, match="'cosine', 'step', 'poly'"):
        schedules.build("linear", 0.1, 10)


def test_tasks_schedule_in_their_own_units():
    """Classification warms up for whole epochs and steps at 1/3, 2/3, 8/9;
    segmentation and detection warm up in iterations and step at 2/3, 8/9."""
    from fixnorm_experiments import recipes, tasks
    from fixnorm_experiments.tasks.base import Plan

    classification = tasks.make(recipes.get("resnet50_d_120"))
    schedule = classification.schedule(0.9, Plan(9, 10))  # 5 warm-up epochs = 50 steps
    assert float(schedule(24)) == pytest.approx(0.9 * 24 / 50, rel=1e-5)  # Keras cosine warm-up
    detection = tasks.make(recipes.get("coco_retinanet_90k"))
    schedule = detection.schedule(0.01, Plan(90, 1000, "iterations"))
    assert float(schedule(499)) == pytest.approx(0.01, rel=1e-5)  # 500 warm-up iterations
    assert [float(schedule(s)) for s in (59_999, 60_000, 80_000)] == pytest.approx(
        [0.01, 0.001, 0.0001], rel=1e-5)


def test_worker_model_dir(monkeypatch):
    import json

    from fixnorm_experiments.train.distribution import worker_model_dir

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert worker_model_dir("/m") == "/m"
    cluster = {"worker": ["a:1", "b:2"]}
    for index, expected in ((0, "/m"), (1, "/m/worker_1")):
        monkeypatch.setenv("TF_CONFIG", json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        assert worker_model_dir("/m") == expected


SYNC_BN_SCRIPT = r"""
import sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from fixnorm_experiments.train.distribution import synchronize_batch_norm

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
        changed = synchronize_batch_norm(model) if sync else 0
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


def _tiny_loop_run(backup_dir, loops):
    """A Dense model trained by the custom loop for ``loops`` loops of 2 steps;
    returns (first loop run, the model's weights)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from fixnorm_experiments.tasks.base import Plan
    from fixnorm_experiments.train.custom_loop import custom_loop_fit

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    x = np.arange(24, dtype="float32").reshape(8, 3) / 24
    ds = tf.data.Dataset.from_tensor_slices((x, x[:, :2])).batch(4).repeat()

    def replica_loss(x, y, y_pred):
        return tf.reduce_mean(tf.square(y - y_pred))

    first, _ = custom_loop_fit(model, replica_loss, ds, Plan(loops, 2),
                               tf.distribute.get_strategy(), backup_dir)
    return first, [w.numpy() for w in model.weights]


def test_the_custom_loop_resumes_from_the_newest_sound_checkpoint(tmp_path, capsys):
    import glob

    backup = str(tmp_path / "backup")
    assert _tiny_loop_run(backup, 3)[0] == 0
    # The newest checkpoint (loop 3) is damaged: resume from loop 2's, say so.
    (newest,) = glob.glob(f"{backup}/ckpt-3.data-*")
    with open(newest, "r+b") as f:
        f.truncate(5)
    capsys.readouterr()
    first, _ = _tiny_loop_run(backup, 4)
    out = capsys.readouterr().out
    assert first == 2
    assert f"the latest checkpoint is damaged: {backup}/ckpt-3 (" in out
    assert f"resuming from {backup}/ckpt-2" in out
    # Both kept checkpoints damaged: one error naming the newest, nothing rewritten.
    for path in glob.glob(f"{backup}/ckpt-*.index"):
        with open(path, "r+b") as f:
            f.truncate(3)
    before = {p: open(p, "rb").read() for p in glob.glob(f"{backup}/*")}
    with pytest.raises(ValueError, match=rf"^checkpoint {backup}/ckpt-4 \(.*no sound one "
                                         rf"before it: delete {backup} to train from the start"):
        _tiny_loop_run(backup, 5)
    assert {p: open(p, "rb").read() for p in glob.glob(f"{backup}/*")} == before
