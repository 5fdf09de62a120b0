"""NormMonitor: norms and effective learning rates in History and TensorBoard."""

import keras
import numpy as np
import pytest

from tf_fixnorm import FixNorm, NormMonitor
from tests import helpers
from tests.helpers import INVARIANT, compile_model, conv_bn_model, data, var


def test_monitor_under_fixnorm_records_held_norms_and_elr(tmp_path):
    keras.utils.set_random_seed(0)
    model = conv_bn_model()
    target = helpers.invariant_norm(model)
    schedule = keras.optimizers.schedules.CosineDecay(0.4, decay_steps=8)
    opt = FixNorm(keras.optimizers.SGD(schedule, momentum=0.9), model, alpha=2.0)
    compile_model(model, opt)
    monitor = NormMonitor(per_layer=True)
    history = model.fit(*data(), batch_size=16, epochs=2, verbose=0, callbacks=[
        monitor, keras.callbacks.TensorBoard(str(tmp_path / "tb"))])
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
    written = helpers.read_scalars(tmp_path / "tb" / "train")
    assert written["epoch_norm/scale_invariant"] == pytest.approx([target] * 2, rel=1e-5)


def test_monitor_under_weight_decay_shows_norms_shrinking(tmp_path):
    """Without FixNorm (plain SGD + decay) it analyses the model itself."""
    keras.utils.set_random_seed(1)
    model = conv_bn_model()
    start = helpers.invariant_norm(model)
    compile_model(model, keras.optimizers.SGD(0.2, momentum=0.9, weight_decay=0.05))
    history = model.fit(*data(), batch_size=16, epochs=3, verbose=0,
                        callbacks=[NormMonitor(log_dir=str(tmp_path / "norms"))])
    norms = history.history["norm/scale_invariant"]
    elrs = history.history["elr/scale_invariant"]
    assert norms[0] < start and norms[-1] < norms[0]
    assert elrs[-1] > elrs[0]  # decay raises the effective learning rate
    written = helpers.read_scalars(tmp_path / "norms")
    assert written["norm/scale_invariant"] == pytest.approx(norms, rel=1e-6)
