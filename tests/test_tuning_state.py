"""A search killed at any instant resumes: `tf_fixnorm.tuning.state`.

Each test stops an oracle at one of the instants where keras-tuner's files
disagree (or are cut short) and checks what a fresh oracle on the same
directory does. The CI run that found this had a SIGKILL land in one of them.
"""

import json
import os
import shutil

import keras_tuner
import pytest
from keras_tuner.engine import trial as trial_module

from tf_fixnorm.tuning import state
from tf_fixnorm.tuning.oracle import FixNormTuneOracle

COMPLETED = trial_module.TrialStatus.COMPLETED


def fixnorm():
    return FixNormTuneOracle(objective="val_accuracy", lr_start=0.1, max_trials=6)


def random_search():
    hp = keras_tuner.HyperParameters()
    hp.Float("lr", 1e-3, 10.0, sampling="log")
    return state.RandomSearchOracle(objective="val_accuracy", max_trials=6, seed=0,
                                    hyperparameters=hp)


def bayesian():
    hp = keras_tuner.HyperParameters()
    hp.Float("lr", 1e-3, 10.0, sampling="log")
    return state.BayesianOptimizationOracle(objective="val_accuracy", max_trials=6, seed=0,
                                            num_initial_points=2, hyperparameters=hp)


ORACLES = {"fixnorm": fixnorm, "random": random_search, "bo": bayesian}


def opened(make, directory):
    oracle = make()
    oracle._set_project_dir(str(directory), "p")
    if os.path.exists(oracle._get_oracle_fname()):
        oracle.reload()
    return oracle


def finish(oracle, trial, score):
    oracle.update_trial(trial.trial_id, {"val_accuracy": score})
    trial.status = COMPLETED
    oracle.end_trial(trial)


def trial_file(directory, trial_id):
    return os.path.join(directory, "p", f"trial_{trial_id}", "trial.json")


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_a_trial_finished_just_before_the_kill_is_not_run_again(tmp_path, name):
    oracle = opened(ORACLES[name], tmp_path)
    first = oracle.create_trial("tuner0")
    finish(oracle, first, 0.5)
    # keras-tuner saved oracle.json inside end_trial, before it dropped the
    # trial from its running set: the file on disk still says "running".
    with open(os.path.join(tmp_path, "p", "oracle.json"), encoding="utf-8") as f:
        assert json.load(f)["ongoing_trials"] == {"tuner0": first.trial_id}
    resumed = opened(ORACLES[name], tmp_path)
    assert resumed.trials[first.trial_id].status == COMPLETED
    assert resumed.end_order == [first.trial_id]
    following = resumed.create_trial("tuner0")
    assert following.trial_id != first.trial_id
    assert resumed.trials[first.trial_id].score == 0.5


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_a_trial_the_oracle_never_recorded_is_dropped_and_its_number_reused(tmp_path, name):
    oracle = opened(ORACLES[name], tmp_path)
    first = oracle.create_trial("tuner0")
    finish(oracle, first, 0.5)
    oracle_file = os.path.join(tmp_path, "p", "oracle.json")
    shutil.copy(oracle_file, tmp_path / "saved.json")
    second = oracle.create_trial("tuner0")
    # Killed between writing the new trial's file and oracle.json.
    shutil.copy(tmp_path / "saved.json", oracle_file)
    assert os.path.exists(trial_file(tmp_path, second.trial_id))
    resumed = opened(ORACLES[name], tmp_path)
    assert list(resumed.trials) == [first.trial_id]
    again = resumed.create_trial("tuner0")
    assert again.trial_id == second.trial_id
    assert again.status == trial_module.TrialStatus.RUNNING
    assert resumed.start_order == [first.trial_id, second.trial_id]


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_a_trial_running_at_the_kill_is_run_again(tmp_path, name):
    oracle = opened(ORACLES[name], tmp_path)
    first = oracle.create_trial("tuner0")
    resumed = opened(ORACLES[name], tmp_path)
    again = resumed.create_trial("tuner0")
    assert again.trial_id == first.trial_id
    assert again.hyperparameters.values == first.hyperparameters.values


def test_state_files_are_whole_json_and_no_temporary_files_are_left(tmp_path):
    oracle = opened(fixnorm, tmp_path)
    for score in (0.5, 0.6, 0.4):
        finish(oracle, oracle.create_trial("tuner0"), score)
    names = sorted(os.path.relpath(os.path.join(root, f), tmp_path)
                   for root, _, files in os.walk(tmp_path) for f in files)
    assert names == [os.path.join("p", "oracle.json")] + [
        os.path.join("p", f"trial_{i}", "trial.json") for i in ("0", "1", "2")]
    for name in names:
        with open(tmp_path / name, encoding="utf-8") as f:
            json.load(f)


def test_a_state_file_that_fails_mid_write_keeps_its_previous_content(tmp_path):
    path = str(tmp_path / "oracle.json")
    state.write_state(path, {"a": 1})
    with pytest.raises(TypeError):
        state.write_state(path, {"a": 2, "b": object()})
    with open(path, encoding="utf-8") as f:
        assert json.load(f) == {"a": 1}
    assert os.listdir(tmp_path) == ["oracle.json"]


@pytest.mark.parametrize("which", ["trial", "oracle"])
def test_a_file_cut_short_by_an_older_version_is_named_in_the_error(tmp_path, which):
    oracle = opened(fixnorm, tmp_path)
    finish(oracle, oracle.create_trial("tuner0"), 0.5)
    path = trial_file(tmp_path, "0") if which == "trial" else str(tmp_path / "p" / "oracle.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"trial_id": ')
    with pytest.raises(ValueError) as error:
        opened(fixnorm, tmp_path)
    message = str(error.value)
    assert path in message and "not valid JSON" in message
    assert ("Delete" in message) == (which == "trial")
    assert "--overwrite" in message


@pytest.mark.parametrize("changed, hint", [
    ({"alpha_start": 4.0}, "--alpha_start=1"),
    ({"lr_start": 0.15}, "--lr_start=0.1"),
])
def test_a_search_resumed_from_other_start_points_is_refused(tmp_path, changed, hint):
    oracle = opened(fixnorm, tmp_path)
    for score in (0.5, 0.6):
        finish(oracle, oracle.create_trial("tuner0"), score)

    def other():
        return FixNormTuneOracle(objective="val_accuracy", **{"lr_start": 0.1, **changed})

    with pytest.raises(ValueError) as error:
        opened(other, tmp_path)
    assert hint in str(error.value) and "--overwrite" in str(error.value)
    assert opened(fixnorm, tmp_path).trials  # the same starts still resume
