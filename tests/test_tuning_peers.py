"""The peers of `--compare` that wrap Optuna's samplers, on synthetic objectives (no training)."""

import collections
import math

import keras_tuner
import pytest

from fixnorm_experiments.tuning.methods import METHODS, SEARCHED, Ranges
from fixnorm_experiments.tuning.optuna_oracle import OptunaOracle
from fixnorm_experiments.tuning.tuner import make_oracle
from tests.test_tuning_oracle import Killed


def bowl(lr, weight_decay):
    return 1.0 - 0.01 * (math.log10(lr / 0.3) ** 2 + math.log10(weight_decay / 1e-4) ** 2)


class Tuner(keras_tuner.Tuner):
    def __init__(self, oracle, calls, die_at=None, **kwargs):
        super().__init__(oracle, hypermodel=None, **kwargs)
        self.calls, self.die_at = calls, die_at

    def run_trial(self, trial, *args, **kwargs):
        values = trial.hyperparameters.values
        key = (values["lr"], values["weight_decay"])
        self.calls[key] += 1
        if self.die_at is not None and sum(self.calls.values()) == self.die_at:
            raise Killed()
        return {"val_accuracy": bowl(*key)}


def search(tmp_path, sampler, name, die_at=None, calls=None, direction="max", trials=14):
    calls = collections.Counter() if calls is None else calls
    oracle = OptunaOracle(keras_tuner.Objective("val_accuracy", direction), sampler,
                          {"lr": (1e-3, 10.0), "weight_decay": (1e-6, 1e-2)},
                          max_trials=trials, seed=3)
    tuner = Tuner(oracle, calls, die_at=die_at, directory=str(tmp_path), project_name=name)
    tuner.search(verbose=0)
    points = [tuple(oracle.trials[t].hyperparameters.values[k] for k in ("lr", "weight_decay"))
              for t in oracle.start_order]
    return oracle, points, calls


@pytest.mark.parametrize("sampler", ["tpe", "gp"])
def test_optuna_peer_is_deterministic_and_resumes_exactly(tmp_path, sampler):
    _, reference, _ = search(tmp_path, sampler, "whole")
    _, again, _ = search(tmp_path, sampler, "again")
    assert again == reference and len(set(reference)) == len(reference) == 14
    for lr, weight_decay in reference:
        assert 1e-3 <= lr <= 10.0 and 1e-6 <= weight_decay <= 1e-2
    calls = collections.Counter()
    with pytest.raises(Killed):
        search(tmp_path, sampler, "killed", die_at=12, calls=calls)
    _, resumed, calls = search(tmp_path, sampler, "killed", calls=calls)
    assert resumed == reference
    assert sum(calls.values()) == 15, "only the trial running at the kill runs again"


def test_optuna_peer_learns_after_its_startup_trials(tmp_path):
    """Past Optuna's 10 random startup trials, TPE samples near the best so far."""
    oracle, points, _ = search(tmp_path, "tpe", "p", trials=24)
    best_random = max(bowl(*p) for p in points[:10])
    assert max(bowl(*p) for p in points[10:]) > best_random - 0.005
    minimized, _, _ = search(tmp_path, "tpe", "min", direction="min", trials=12)
    assert minimized.objective.direction == "min"


def test_every_method_has_an_oracle_and_its_knobs():
    objective = keras_tuner.Objective("val_accuracy", "max")
    for method in METHODS:
        oracle = make_oracle(method, Ranges(), objective, lr_start=0.2)
        assert oracle.max_trials == (1 if method == "reference" else 11)
        if method in ("fixnorm", "no_decay", "optuna_tpe", "optuna_gp"):  # declared up front
            assert set(SEARCHED[method]) <= {hp.name for hp in oracle.hyperparameters.space}
    no_decay = make_oracle("no_decay", Ranges(), objective, lr_start=0.2)
    assert no_decay.plan.lr.budget == 11 and no_decay.plan.alpha.budget == 1
    default = make_oracle("bo_wd_default", Ranges(), objective)
    ours = make_oracle("bo_wd", Ranges(), objective)
    # None: keras-tuner's own default, max(3 * knobs, 3) random points (6 here).
    assert ours.num_initial_points == 3 and default.num_initial_points is None
