"""benchmarks/elr_plot.py: ELR series under FixNorm, coupled L2 and no decay (smoke run)."""

import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "elr_plot.py")
# A lambda strong enough that the decay beats the gradients' growth of the
# invariant norm within the smoke run's 44 steps (5e-4 needs hundreds).
STRONG_LAMBDA = 0.02
SMOKE_STEPS = 2 * 22  # 2 epochs of ceil(1347 / 64) batches
PEAK_LR, ALPHA = 0.2, 4.0  # the digits_tune recipe's


def run_script(*flags, timeout=120):
    environment = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, SCRIPT, *flags], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("elr")
    png, js = out / "elr.png", out / "elr.json"
    result = run_script("--smoke", f"--lambda={STRONG_LAMBDA}", f"--png={png}", f"--json={js}")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(js, encoding="utf-8") as handle:
        payload = json.load(handle)
    return result.stdout, png, payload


def ratios(series):
    return [e / lr for e, lr in zip(series["elr"], series["lr"])]


def test_every_step_is_recorded_with_the_cosine_lr_it_uses(smoke):
    _, _, payload = smoke
    for run in ("fixnorm", "coupled_l2", "no_decay"):
        s = payload["runs"][run]["series"]
        assert s["step"] == list(range(SMOKE_STEPS))
        expected = [PEAK_LR * 0.5 * (1 + math.cos(math.pi * k / SMOKE_STEPS))
                    for k in range(SMOKE_STEPS)]
        assert s["lr"] == pytest.approx(expected, rel=1e-5, abs=1e-9)


def test_elr_is_lr_over_the_mean_squared_invariant_norm(smoke):
    _, _, payload = smoke
    for run, result in payload["runs"].items():
        s, kernels = result["series"], result["invariant_kernels"]
        assert kernels > 3
        for lr, elr, norm in zip(s["lr"], s["elr"], s["norm_invariant"]):
            assert elr == pytest.approx(lr * kernels / norm ** 2, rel=1e-6)


def test_all_runs_start_from_the_same_weights(smoke):
    _, _, payload = smoke
    starts = [r["series"]["norm_invariant"][0] for r in payload["runs"].values()]
    classifier = [r["series"]["norm_classifier"][0] for r in payload["runs"].values()]
    assert max(starts) - min(starts) < 1e-6 * starts[0]
    assert max(classifier) - min(classifier) < 1e-6 * classifier[0]


def test_fixnorm_elr_follows_the_lr_schedule_alone(smoke):
    _, _, payload = smoke
    s = payload["runs"]["fixnorm"]["series"]
    r = ratios(s)
    assert max(abs(x / r[0] - 1) for x in r) < 1e-4
    # The classifier is rescaled to alpha after every step (not before the first).
    assert s["norm_classifier"][1:] == pytest.approx([ALPHA] * (SMOKE_STEPS - 1), rel=1e-5)
    assert payload["summary"]["fixnorm"]["drift"] == pytest.approx(1.0, abs=1e-4)


def test_coupled_l2_shrinks_the_invariant_norm_and_raises_elr_over_lr(smoke):
    _, _, payload = smoke
    decayed = payload["runs"]["coupled_l2"]["series"]
    free = payload["runs"]["no_decay"]["series"]
    assert decayed["norm_invariant"][-1] < 0.9 * decayed["norm_invariant"][0]
    r = ratios(decayed)
    assert r[-1] > 1.2 * r[0]
    # Without decay the orthogonal gradient steps only grow the norm: ELR/lr falls.
    assert free["norm_invariant"][-1] > 1.1 * free["norm_invariant"][0]
    assert ratios(free)[-1] < 0.9 * ratios(free)[0]
    # Same weights, same batches: at every step the decayed norm is below the free one.
    assert all(d < f for d, f in zip(decayed["norm_invariant"][1:], free["norm_invariant"][1:]))
    assert payload["summary"]["coupled_l2"]["drift"] > 1.2 > 0.9 > (
        payload["summary"]["no_decay"]["drift"])


def test_table_and_png(smoke):
    stdout, png, payload = smoke
    rows = [line for line in stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == 4 and rows[0].startswith("| run |")
    assert [row.split("|")[1].strip() for row in rows[1:]] == [
        "FixNorm", "SGD + coupled L2", "SGD, no decay"]
    assert f"{payload['summary']['fixnorm']['drift']:.4f}" == "1.0000"
    for line in ("machine: ", "date: ", "command: "):
        assert any(text.startswith(line) for text in stdout.splitlines())
    with open(png, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(png) < 150 * 1024


def test_bad_flags_fail_before_any_training():
    result = run_script("--lambda=-1")
    assert result.returncode != 0 and "--lambda must be > 0" in result.stderr
    result = run_script("--epochs=0")
    assert result.returncode != 0
