"""The tuning benchmark's smoke mode: every part runs and reports (it measures nothing)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.timeout(600)  # several tuner processes, each importing TensorFlow
def test_smoke_runs_every_part_and_writes_the_summary(tmp_path):
    out = tmp_path / "bench"
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "tuning_benchmark.py"),
                             "--smoke", f"--out={out}"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    for heading in ("== noise", "== efficiency", "== quality", "== ablations"):
        assert heading in result.stdout
    with open(out / "summary.json", encoding="utf-8") as f:
        summary = json.load(f)
    methods = ["fixnorm", "bo_wd", "fixnorm_no_prior"]
    assert list(summary["quality"]) == [*methods, "reference"]
    assert set(summary["quality"]["fixnorm"]["values"]) == {"lr", "alpha"}
    assert set(summary["quality"]["fixnorm_no_prior"]["values"]) == {"lr", "alpha"}
    assert set(summary["quality"]["bo_wd"]["values"]) == {"lr", "weight_decay"}
    # The efficiency part: every method at the budget, FixNorm-tune without prior
    # knowledge starting at alpha 1 and a tenth of the reference lr, margins of one
    # and two seed-noise stds (one seed: no spread, so the 0.001 floor), each with
    # its table and finding, and a plot.
    efficiency = summary["efficiency"]
    assert list(efficiency["margins"]) == ["0.001", "0.002"]
    for margin in efficiency["margins"].values():
        assert [(r["method"], r["budget"]) for r in margin["rows"]] == [(m, 2) for m in methods]
        assert margin["finding"].startswith("Against the target ")
        assert margin["finding"] in result.stdout
    assert "--alpha_start=1 --lr_start=0.02" in result.stdout
    assert "absl::InitializeLog" not in result.stdout + result.stderr  # in warnings.log
    with open(out / "best_so_far_digits_bench.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert summary["quality"]["reference"]["values"] == {"lr": 0.2, "weight_decay": 5e-4}
    assert set(summary["ablations"]) == {"others_held"}
    for row in summary["quality"].values():
        assert all(0.0 <= t <= 1.0 for t in row["test"])


def test_unknown_part_is_one_error_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "tuning_benchmark.py"),
                             "--part=speed", f"--out={tmp_path}"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert [l for l in result.stderr.splitlines() if l.startswith("error:")] == [
        "error: unknown part 'speed'; choose all or from noise, efficiency, quality, ablations"]
