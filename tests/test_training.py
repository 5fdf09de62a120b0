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
