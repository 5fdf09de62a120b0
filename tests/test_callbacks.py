"""NormMonitor: norms and effective learning rates in History and TensorBoard."""

import keras
import numpy as np
import pytest

from tf_fixnorm import FixNorm, NormMonitor
from tests import helpers
from tests.conftest import BACKEND
from tests.helpers import INVARIANT, compile_model, conv_bn_model, data, var


def test_monitor_under_fixnorm_records_held_norms_and_elr(tmp_path):
    keras.utils.set_random_seed(0)
    model = conv_bn_model()
    target = helpers.invariant_norm(model)
    schedule = keras.optimizers.schedules.CosineDecay(0.4, decay_steps=8)
    opt = FixNorm(keras.optimizers.SGD(schedule, momentum=0.9), model, alpha=2.0)
    compile_model(model, opt)
    monitor = NormMonitor(per_layer=True)
    board = [keras.callbacks.TensorBoard(str(tmp_path / "tb"))] if BACKEND == "tensorflow" else []
    history = model.fit(*data(), batch_size=16, epochs=2, verbose=0,
                        callbacks=[monitor, *board])
    h = history.history
    assert h["norm/scale_invariant"] == pytest.approx([target] * 2, rel=1e-5)
    assert h["norm/classifier"] == pytest.approx([2.0] * 2, rel=1e-5)
    # ELR = lr / mean |w_i|^2: with the norms held it follows the schedule alone.
    mean_sq = target ** 2 / len(INVARIANT)
    lrs = [float(schedule(4)), float(schedule(8))]
    assert h["elr/scale_invariant"] == pytest.approx([lr / mean_sq for lr in lrs], rel=1e-5)
    for path in INVARIANT:
        norm = float(np.linalg.norm(var(model, path).numpy()))
        assert h[f"norm/{path}"][-1] == pytest.approx(norm, rel=1e-5)
        assert h[f"elr/{path}"][-1] == pytest.approx(lrs[-1] / norm ** 2, rel=1e-5)
    if not board:
        return  # writing and reading TensorBoard files needs TensorFlow
    written = helpers.read_scalars(tmp_path / "tb" / "train")
    assert written["epoch_norm/scale_invariant"] == pytest.approx([target] * 2, rel=1e-5)


def test_monitor_under_weight_decay_shows_norms_shrinking(tmp_path):
    """Without FixNorm (plain SGD + decay) it analyses the model itself."""
    keras.utils.set_random_seed(1)
    model = conv_bn_model()
    start = helpers.invariant_norm(model)
    compile_model(model, keras.optimizers.SGD(0.2, momentum=0.9, weight_decay=0.05))
    log_dir = str(tmp_path / "norms") if BACKEND == "tensorflow" else None
    history = model.fit(*data(), batch_size=16, epochs=3, verbose=0,
                        callbacks=[NormMonitor(log_dir=log_dir)])
    norms = history.history["norm/scale_invariant"]
    elrs = history.history["elr/scale_invariant"]
    assert norms[0] < start and norms[-1] < norms[0]
    assert elrs[-1] > elrs[0]  # decay raises the effective learning rate
    if log_dir is None:
        return
    written = helpers.read_scalars(tmp_path / "norms")
    assert written["norm/scale_invariant"] == pytest.approx(norms, rel=1e-6)


def test_classifier_norm_is_the_same_in_the_monitor_and_fixnorms_report():
    """One definition (`projection.classifier_norm`): with two classifier kernels
    (a separable conv), both report alpha once held."""
    keras.utils.set_random_seed(2)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=False, name="conv")(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization(name="bn")(x))
    x = keras.layers.SeparableConv2D(3, 3, name="head")(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    opt = FixNorm(keras.optimizers.SGD(0.1), model, alpha=2.0,
                  overrides={"head": "classifier"})
    compile_model(model, opt)
    x, y = data(16, num_classes=3)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[NormMonitor()])
    assert sum(role == "classifier" for role in opt.roles.values()) == 2
    assert opt.norm_report()["classifier"] == pytest.approx(2.0, rel=1e-5)
    assert history.history["norm/classifier"] == pytest.approx([2.0], rel=1e-5)
