"""FixNormTuneSampler driven through Optuna on synthetic objectives (no training)."""

import collections
import math
import os
import subprocess
import sys
import textwrap
import time

import optuna
import pytest

from tests.test_tuning_oracle import peaked
from tests.test_tuning_oracle import search as oracle_search
from tests.test_tuning_oracle import sequence as oracle_sequence
from tf_fixnorm.tuning import FixNormTuneSampler
from tf_fixnorm.tuning.sampler import ATTR

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
optuna.logging.set_verbosity(optuna.logging.WARNING)


def objective_of(f, calls=None):
    calls = collections.Counter() if calls is None else calls

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-3, 10.0, log=True)
        alpha = trial.suggest_float("alpha", 2.0 ** -6, 2.0 ** 8, log=True)
        calls[(lr, alpha)] += 1
        score = f(lr, alpha)
        return float("nan") if score is None else score  # nan: Optuna fails the trial

    return objective, calls


def points(study):
    """(stage, lr, alpha) of the trials the search proposed, in trial order."""
    return [(t.system_attrs[ATTR]["stage"], t.params["lr"], t.params["alpha"])
            for t in study.trials if "stage" in t.system_attrs.get(ATTR, {})]


def run(f, n_trials=100, direction="maximize", storage=None, name=None, **sampler_kw):
    study = optuna.create_study(direction=direction, storage=storage, study_name=name,
                                load_if_exists=True, sampler=FixNormTuneSampler(**sampler_kw))
    objective, calls = objective_of(f)
    study.optimize(objective, n_trials=n_trials)
    return study, calls


@pytest.mark.parametrize("lr_opt, alpha_opt", [(0.4, 4.0), (0.05, 0.5), (2.0, 16.0)])
def test_same_points_as_the_keras_tuner_oracle(tmp_path, lr_opt, alpha_opt):
    """One search, two front ends: the sampler tries what the oracle tries."""
    f = peaked(lr_opt, alpha_opt)
    oracle, _ = oracle_search(tmp_path, f, lr_start=0.1)
    study, calls = run(f, lr_start=0.1)
    assert points(study) == oracle_sequence(oracle)
    assert max(calls.values()) == 1, "a point was evaluated twice"
    lr, alpha = study.best_params["lr"], study.best_params["alpha"]
    assert abs(math.log2(lr / lr_opt)) <= 0.5 + 1e-6 and alpha == alpha_opt


def test_stops_the_study_when_the_search_is_over():
    """n_trials beyond the budget costs nothing: the sampler stops the study."""
    study, calls = run(peaked(0.7, 2.0), n_trials=1000)
    assert 1 < len(study.trials) == sum(calls.values()) <= 11
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert study.sampler.is_finished(study)


def test_deterministic_and_direction_honoured():
    f = peaked(0.7, 2.0)
    first, _ = run(f)
    second, _ = run(f, seed=123)
    minimized, _ = run(lambda lr, alpha: -f(lr, alpha), direction="minimize")
    assert points(first) == points(second) == points(minimized)


def test_failed_trials_bound_the_learning_rate():
    f = peaked(0.8, 1.0)
    study, _ = run(lambda lr, alpha: None if lr > 1.0 else f(lr, alpha))
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed and all(t.params["lr"] > 1.0 for t in failed)
    assert 0.5 <= study.best_params["lr"] <= 1.0


@pytest.mark.parametrize("backend", ["sqlite", "journal"])
def test_a_study_loaded_again_goes_on_with_the_same_points(tmp_path, backend):
    f = peaked(0.4, 4.0)
    reference, _ = run(f)
    if backend == "sqlite":
        storage = f"sqlite:///{tmp_path / 'study.db'}"
    else:
        storage = optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(tmp_path / "journal.log")))
    first, _ = run(f, n_trials=4, storage=storage, name="s")
    assert len(first.trials) == 4
    # A new process would build a new sampler and load the study by name.
    resumed, calls = run(f, storage=storage, name="s")
    assert points(resumed) == points(reference)
    assert sum(calls.values()) == len(reference.trials) - 4, "a finished trial ran again"


def test_ask_and_tell_until_finished():
    f = peaked(0.2, 8.0)
    study = optuna.create_study(direction="maximize", sampler=FixNormTuneSampler())
    while not study.sampler.is_finished(study):
        trial = study.ask()
        lr = trial.suggest_float("lr", 1e-3, 10.0, log=True)
        alpha = trial.suggest_float("alpha", 2.0 ** -6, 2.0 ** 8, log=True)
        study.tell(trial, f(lr, alpha))
    reference, _ = run(f)
    assert points(study) == points(reference)


def test_parallel_trials_get_distinct_points_then_wait(tmp_path):
    """Running trials are taken points; a trial with nothing to take waits for them."""
    study = optuna.create_study(direction="maximize",
                                sampler=FixNormTuneSampler(lr_start=0.1, wait_interval=0.01))
    asked = [study.ask() for _ in range(7)]
    lrs = [t.suggest_float("lr", 1e-3, 10.0, log=True) for t in asked]
    assert lrs[:3] == [0.1, 0.4, 0.025]  # the start, then both sides of the bracket
    assert len(set(lrs)) == 7  # stage 1's whole budget handed out before any result
    # An eighth trial must wait: stage 2 needs stage 1's results. Tell them
    # from another thread while it waits.
    import threading

    f = peaked(0.3, 2.0)
    teller = threading.Timer(0.3, lambda: [study.tell(t, f(lr, 1.0)) for t, lr in
                                          zip(asked, lrs)])
    teller.start()
    eighth = study.ask()
    teller.join()
    assert eighth.suggest_float("lr", 1e-3, 10.0, log=True) == study.sampler.best_lr(study)[0]
    assert eighth.suggest_float("alpha", 2.0 ** -6, 2.0 ** 8, log=True) != 1.0


def test_a_trial_decides_after_lower_numbered_trials_hold_their_points():
    """Trials decide in number order, so two that wake on the same result never
    take the same point: a trial created earlier (by another process, say) and
    still waiting decides first."""
    import threading

    study = optuna.create_study(sampler=FixNormTuneSampler(lr_start=0.1, wait_interval=0.01))
    storage = study._storage
    earlier = storage.create_new_trial(study._study_id)
    storage.set_trial_system_attr(earlier, ATTR, {"waiting": True, "at": time.time()})
    claim = threading.Timer(0.3, lambda: storage.set_trial_system_attr(
        earlier, ATTR, {"stage": "lr", "lr": 0.1, "alpha": 1.0}))
    claim.start()
    later = study.ask()
    claim.join()
    assert later.suggest_float("lr", 1e-3, 10.0, log=True) == 0.4  # not the earlier's 0.1


def test_a_waiting_trial_whose_process_died_does_not_block_the_others():
    """A waiting trial refreshes its time; one silent past `stale_after` is dead."""
    study = optuna.create_study(sampler=FixNormTuneSampler(lr_start=0.1, wait_interval=0.01))
    storage = study._storage
    dead = storage.create_new_trial(study._study_id)
    storage.set_trial_system_attr(dead, ATTR, {"waiting": True, "at": time.time() - 3600})
    started = time.monotonic()
    trial = study.ask()
    assert time.monotonic() - started < 5
    assert trial.suggest_float("lr", 1e-3, 10.0, log=True) == 0.1


def test_a_trial_interrupted_while_waiting_is_failed_not_left_running(monkeypatch):
    from tf_fixnorm.tuning import sampler as sampler_module

    study = optuna.create_study(sampler=FixNormTuneSampler(lr_start=0.1, wait_interval=0.01))
    for trial in [study.ask() for _ in range(7)]:  # stage 1's budget, no result yet
        trial.suggest_float("lr", 1e-3, 10.0, log=True)

    def interrupted(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(sampler_module.time, "sleep", interrupted)
    with pytest.raises(KeyboardInterrupt):
        study.ask()  # must wait: stage 2 needs stage 1's results
    assert study.trials[-1].state == optuna.trial.TrialState.FAIL


def test_an_enqueued_trial_is_the_users_own():
    """A trial the user enqueues with lr only is not part of the search; its alpha
    comes from the independent sampler."""
    study = optuna.create_study(sampler=FixNormTuneSampler(seed=0))
    study.enqueue_trial({"lr": 0.37})
    trial = study.ask()
    assert trial.suggest_float("lr", 1e-3, 10.0, log=True) == 0.37
    assert 2.0 ** -6 <= trial.suggest_float("alpha", 2.0 ** -6, 2.0 ** 8, log=True) <= 2.0 ** 8
    study.tell(trial, 0.5)
    assert points(study) == []
    nxt = study.ask()
    assert nxt.suggest_float("lr", 1e-3, 10.0, log=True) == 0.1  # the search's start


def test_two_processes_on_one_storage_share_the_search(tmp_path):
    """Two processes, one journal file: distinct points, the search ends once."""
    journal = tmp_path / "journal.log"
    script = textwrap.dedent(f"""
        import math, os, time, optuna
        from tf_fixnorm.tuning import FixNormTuneSampler
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend({str(journal)!r}))
        study = optuna.create_study(study_name="s", storage=storage, direction="maximize",
                                    load_if_exists=True,
                                    sampler=FixNormTuneSampler(wait_interval=0.05))
        def objective(trial):
            lr = trial.suggest_float("lr", 1e-3, 10.0, log=True)
            alpha = trial.suggest_float("alpha", 2.0 ** -6, 2.0 ** 8, log=True)
            trial.set_user_attr("pid", os.getpid())
            time.sleep(0.4)
            return 1 - 0.01 * (math.log2(lr / 0.4) ** 2 + math.log2(alpha / 4.0) ** 2)
        study.optimize(objective, n_trials=100)
    """)
    env = dict(os.environ, PYTHONPATH=ROOT, KERAS_BACKEND="jax")  # no TF import needed
    workers = [subprocess.Popen([sys.executable, "-c", script], env=env, cwd=str(tmp_path),
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        errors = [w.communicate(timeout=180)[1] for w in workers]
    finally:
        for w in workers:
            w.kill()
    assert [w.returncode for w in workers] == [0, 0], errors
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal)))
    study = optuna.load_study(study_name="s", storage=storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    keys = [(t.params["lr"], t.params["alpha"]) for t in done]
    assert len(keys) == len(set(keys)), "two processes trained the same point"
    assert {t.user_attrs["pid"] for t in done} == {w.pid for w in workers}
    assert len(done) <= 11
    # Trials beyond the search are pruned placeholders that never ran.
    assert all(t.state == optuna.trial.TrialState.PRUNED and not t.params
               for t in study.trials if t not in done)
    best = study.best_params
    assert abs(math.log2(best["lr"] / 0.4)) <= 0.5 + 1e-6 and best["alpha"] == 4.0


def test_other_parameters_come_from_the_independent_sampler():
    study = optuna.create_study(direction="maximize", sampler=FixNormTuneSampler(seed=0))

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-3, 10.0, log=True)
        trial.suggest_float("alpha", 2.0 ** -6, 2.0 ** 8, log=True)
        width = trial.suggest_int("width", 4, 64)
        return -abs(math.log(lr / 0.3)) - width * 0.0

    study.optimize(objective, n_trials=20)
    widths = {t.params["width"] for t in study.trials}
    assert len(widths) > 1 and all(4 <= w <= 64 for w in widths)


def test_a_range_that_misses_the_search_says_what_to_suggest():
    study = optuna.create_study(sampler=FixNormTuneSampler(lr_start=0.1))
    trial = study.ask()
    with pytest.raises(ValueError, match=r"low <= 0.001 and high >= 10"):
        trial.suggest_float("lr", 0.2, 1.0, log=True)  # the start, 0.1, is outside


def test_resuming_with_other_start_points_is_refused(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    run(peaked(0.4, 4.0), n_trials=3, storage=storage, name="s", lr_start=0.1)
    with pytest.raises(ValueError, match="off the grid of this sampler"):
        run(peaked(0.4, 4.0), storage=storage, name="s", lr_start=0.3)


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="outside the range"):
        FixNormTuneSampler(lr_start=100.0)
    with pytest.raises(ValueError, match="must differ"):
        FixNormTuneSampler(lr_name="x", alpha_name="x")
