"""FixNormTuneOracle driven through keras-tuner on synthetic objectives (no training)."""

import collections
import math

import keras_tuner
import pytest
from keras_tuner.engine import trial as trial_module

from tf_fixnorm.tuning.oracle import ALPHA_STAGE, LR_STAGE, FixNormTuneOracle


def peaked(lr_opt, alpha_opt):
    return lambda lr, alpha: 1.0 - 0.01 * (math.log2(lr / lr_opt) ** 2
                                            + math.log2(alpha / alpha_opt) ** 2)


class Killed(BaseException):
    """Stands for the process dying: keras-tuner does not catch it."""


class SyntheticTuner(keras_tuner.Tuner):
    """Scores a trial with `objective(lr, alpha)`; counts every evaluation."""

    def __init__(self, oracle, objective, calls, die_at=None, **kwargs):
        super().__init__(oracle, hypermodel=None, **kwargs)
        self.objective, self.calls, self.die_at = objective, calls, die_at

    def run_trial(self, trial, *args, **kwargs):
        hp = trial.hyperparameters.values
        key = (hp["lr"], hp["alpha"])
        self.calls[key] += 1
        if self.die_at is not None and sum(self.calls.values()) == self.die_at:
            raise Killed()
        score = self.objective(*key)
        if score is None:
            raise keras_tuner.errors.FailedTrialError("diverged")
        return {"val_accuracy": score}


def search(tmp_path, objective, name="p", die_at=None, calls=None, direction="max", **oracle_kw):
    calls = collections.Counter() if calls is None else calls
    oracle = FixNormTuneOracle(objective=keras_tuner.Objective("val_accuracy", direction),
                               **oracle_kw)
    tuner = SyntheticTuner(oracle, objective, calls, die_at=die_at, directory=str(tmp_path),
                           project_name=name)
    tuner.search(verbose=0)
    return oracle, calls


def sequence(oracle):
    return [(oracle.stages[t], oracle.trials[t].hyperparameters.values["lr"],
             oracle.trials[t].hyperparameters.values["alpha"]) for t in oracle.start_order]


def best_values(oracle):
    best = oracle.get_best_trials(1)[0].hyperparameters.values
    return best["lr"], best["alpha"]


@pytest.mark.parametrize("lr_opt, alpha_opt", [(0.4, 4.0), (0.05, 0.5), (2.0, 16.0)])
def test_two_stages_land_near_a_known_optimum_within_the_budget(tmp_path, lr_opt, alpha_opt):
    oracle, calls = search(tmp_path, peaked(lr_opt, alpha_opt), lr_start=0.1)
    lr, alpha = best_values(oracle)
    assert abs(math.log2(lr / lr_opt)) <= 0.5 + 1e-6
    assert alpha == alpha_opt
    assert len(oracle.trials) <= oracle.max_trials == 11
    assert max(calls.values()) == 1, "a point was trained twice"
    stages = [oracle.stages[t] for t in oracle.start_order]
    # All of stage 1, then stage 2 at stage 1's best lr.
    assert stages == sorted(stages, key=[LR_STAGE, ALPHA_STAGE].index)
    stage1 = [v for s, v, _ in sequence(oracle) if s == LR_STAGE]
    best_lr_stage1 = max(stage1, key=lambda v: peaked(lr_opt, alpha_opt)(v, 1.0))
    assert {v for s, v, _ in sequence(oracle) if s == ALPHA_STAGE} == {best_lr_stage1}
    assert all(a == 1.0 for s, _, a in sequence(oracle) if s == LR_STAGE)
    assert oracle.stage() is None


def test_alpha_stays_on_powers_of_two(tmp_path):
    oracle, _ = search(tmp_path, peaked(0.3, 0.3))
    for _, _, alpha in sequence(oracle):
        assert math.log2(alpha).is_integer()


def test_deterministic_whatever_the_seed(tmp_path):
    first, _ = search(tmp_path, peaked(0.7, 2.0), name="a", seed=1)
    second, _ = search(tmp_path, peaked(0.7, 2.0), name="b", seed=1)
    third, _ = search(tmp_path, peaked(0.7, 2.0), name="c", seed=99)
    assert sequence(first) == sequence(second) == sequence(third)


def test_minimized_objective_finds_the_same_optimum(tmp_path):
    f = peaked(0.4, 4.0)
    oracle, _ = search(tmp_path, lambda lr, alpha: -f(lr, alpha), direction="min")
    lr, alpha = best_values(oracle)
    assert abs(math.log2(lr / 0.4)) <= 0.5 and alpha == 4.0


def test_flat_objective_keeps_the_start_and_ends_within_the_budget(tmp_path):
    oracle, calls = search(tmp_path, lambda lr, alpha: 0.5, lr_start=0.2, alpha_start=2.0)
    assert len(oracle.trials) <= oracle.max_trials and max(calls.values()) == 1
    assert sequence(oracle)[0] == (LR_STAGE, 0.2, 2.0)
    assert best_values(oracle) == (0.2, 2.0)  # ties go to the start
    assert oracle.stage() is None
    assert all(t.status == "COMPLETED" for t in oracle.trials.values())


def test_noisy_objective_stays_near_the_optimum(tmp_path):
    import random

    rng = random.Random(0)
    f = peaked(0.4, 4.0)
    oracle, _ = search(tmp_path, lambda lr, alpha: f(lr, alpha) + rng.gauss(0, 0.003))
    lr, alpha = best_values(oracle)
    assert abs(math.log2(lr / 0.4)) <= 1.0 and abs(math.log2(alpha / 4.0)) <= 1.0


def test_failed_trials_bound_the_learning_rate(tmp_path):
    f = peaked(0.8, 1.0)
    oracle, calls = search(tmp_path, lambda lr, alpha: None if lr > 1.0 else f(lr, alpha),
                           lr_start=0.1)
    failed = [t for t in oracle.trials.values() if t.status == trial_module.TrialStatus.FAILED]
    assert failed and all(t.hyperparameters.values["lr"] > 1.0 for t in failed)
    lr, _ = best_values(oracle)
    assert 0.5 <= lr <= 1.0


def test_every_stage_one_trial_failing_stops_the_search(tmp_path):
    oracle = FixNormTuneOracle(objective="val_accuracy", max_consecutive_failed_trials=99)
    tuner = SyntheticTuner(oracle, lambda lr, alpha: None, collections.Counter(),
                           directory=str(tmp_path), project_name="p")
    tuner.search(verbose=0)
    assert oracle.trials and all(t.status == "FAILED" for t in oracle.trials.values())
    assert oracle.best_lr() == (None, None) and oracle.stage() is None


def test_killed_search_resumes_without_losing_or_rerunning_a_trial(tmp_path):
    f = peaked(0.4, 4.0)
    reference, _ = search(tmp_path, f, name="whole")
    calls = collections.Counter()
    with pytest.raises(Killed):
        search(tmp_path, f, name="killed", die_at=6, calls=calls)
    # A new tuner on the same directory (overwrite=False) picks up the project.
    resumed, calls = search(tmp_path, f, name="killed", calls=calls)
    assert sequence(resumed) == sequence(reference)
    interrupted = [k for k, n in calls.items() if n > 1]
    assert len(interrupted) == 1, "only the trial running at the kill runs again"
    assert calls[interrupted[0]] == 2
    assert sum(calls.values()) == len(reference.trials) + 1


def test_parallel_requests_get_distinct_points_then_wait(tmp_path):
    oracle = FixNormTuneOracle(objective="val_accuracy", lr_start=0.1, lr_trials=7)
    oracle._set_project_dir(str(tmp_path), "p")
    first = oracle.create_trial("w0")
    second = oracle.create_trial("w1")
    third = oracle.create_trial("w2")
    lrs = [t.hyperparameters.values["lr"] for t in (first, second, third)]
    assert lrs[0] == 0.1 and len(set(lrs)) == 3  # start and both sides of the bracket
    assert sorted(lrs) == [0.025, 0.1, 0.4]
    # Seven trials of stage 1 can all be handed out before any result.
    more = [oracle.create_trial(f"w{i}") for i in range(3, 9)]
    running = [t for t in more if t.status == trial_module.TrialStatus.RUNNING]
    assert len(running) == 4
    assert [t.status for t in more[4:]] == [trial_module.TrialStatus.IDLE] * 2
    # Results free the stage: once stage 1 is done, stage 2 starts.
    f = peaked(0.3, 2.0)
    for tuner_id, trial in [("w0", first), ("w1", second), ("w2", third)] + [
            (f"w{i + 3}", t) for i, t in enumerate(more[:4])]:
        values = trial.hyperparameters.values
        oracle.update_trial(trial.trial_id, {"val_accuracy": f(values["lr"], values["alpha"])})
        trial.status = trial_module.TrialStatus.COMPLETED
        oracle.end_trial(trial)
    nxt = oracle.create_trial("w0")
    assert nxt.status == trial_module.TrialStatus.RUNNING
    assert oracle.stages[nxt.trial_id] == ALPHA_STAGE


def test_bad_ranges_say_what_is_wrong():
    with pytest.raises(ValueError, match="outside the range"):
        FixNormTuneOracle(objective="val_accuracy", lr_start=100.0)


def test_works_with_a_stock_keras_tuner_and_a_function_hypermodel(tmp_path):
    """The README's example: keras_tuner.Tuner, a build function, model.fit."""
    import keras

    from tf_fixnorm import FixNorm
    from fixnorm_experiments.data import load_digits
    from fixnorm_experiments.models import small_resnet

    (x, y), (x_val, y_val) = load_digits()
    seen = []

    def build(hp):
        model = small_resnet((8, 8, 1), 10, width=4, blocks=(1,))
        sgd = keras.optimizers.SGD(hp.Float("lr", 1e-3, 10, sampling="log"), momentum=0.9)
        alpha = hp.Float("alpha", 2 ** -6, 2 ** 8)
        seen.append((hp.get("lr"), alpha))
        model.compile(optimizer=FixNorm(sgd, model, alpha=alpha),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        return model

    oracle = FixNormTuneOracle(objective="val_accuracy", lr_start=0.1, max_trials=3)
    tuner = keras_tuner.Tuner(oracle=oracle, hypermodel=build, directory=str(tmp_path),
                              project_name="mine")
    tuner.search(x[:256], y[:256], epochs=1, batch_size=64, validation_data=(x_val, y_val),
                 verbose=0)
    assert len(oracle.trials) == 3
    assert all(t.status == "COMPLETED" for t in oracle.trials.values())
    # The oracle's points reached the optimizer: stage 1's bracket at alpha 1,
    # the start, then x4 upward, then x4 onward or downward.
    lrs = [lr for lr, _ in seen[-3:]]
    assert lrs[:2] == [0.1, 0.4] and lrs[2] in (0.025, 1.6)
    assert {alpha for _, alpha in seen[-3:]} == {1.0}
