"""A search's state files, made to survive a kill at any instant.

keras-tuner keeps a search in JSON files: ``oracle.json`` (the oracle),
``trial_*/trial.json`` (one per trial) and ``tuner0.json``. It writes them in
place, one after another, so a process killed at the wrong moment leaves

- a half-written file, which the next run cannot parse (a CI run met this:
  ``Expecting value: line 1 column 1``); or
- files that disagree: a trial file already says COMPLETED while
  ``oracle.json`` still lists the trial as running (keras-tuner removes a
  finished trial from its running set only in memory, after saving), so the
  resumed search runs a finished trial again; or a new trial's file exists
  while ``oracle.json`` never heard of it, so the trial is never run and its
  number is skipped.

`DurableState` (a mixin for any keras-tuner oracle) writes every file
atomically (temporary file, then ``os.replace``) and, on reload, trusts each
trial's own file for its status: a finished trial is not run again, and a
trial the oracle never recorded is dropped, so its number is handed out
afresh. A file that is still unreadable (written by an older version) gets
one error naming it and saying what to do.
"""

from __future__ import annotations

import glob
import json
import os

import keras_tuner
from keras_tuner.engine import trial as trial_module

from tf_fixnorm.jsonio import write_json_atomically
from tf_fixnorm.tuning.leases import WorkerLeases

FINISHED = (trial_module.TrialStatus.COMPLETED, trial_module.TrialStatus.FAILED)


def read_json(path, remedy):
    """The JSON in ``path``; a ValueError naming the file and ``remedy`` if unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}): a search killed while "
                         f"writing it, by a version that did not write atomically. "
                         f"{remedy}") from None


def write_state(path, state):
    """Write one state file the way keras-tuner does (compact JSON), atomically."""
    write_json_atomically(path, state, indent=None)


class DurableState:
    """Mixin for a `keras_tuner.Oracle`: atomic state files, consistent reloads.

    Put it first among the bases (``class MyOracle(DurableState,
    keras_tuner.Oracle)``); see the module docstring for what it fixes.
    """

    def save(self):
        write_state(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        write_state(os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"),
                    trial.get_state())

    def reload(self):
        project = self._project_dir
        trial_files = sorted(glob.glob(os.path.join(project, "trial_*", "trial.json")))
        for path in trial_files:
            read_json(path, f"Delete {os.path.dirname(path)} to run that trial again, or "
                            f"pass --overwrite to start the search afresh.")
        oracle_state = read_json(self._get_oracle_fname(),
                                 "Pass --overwrite to start the search afresh.")
        # A trial created after the oracle's last save: the oracle never
        # recorded it, so drop its file and let its number be handed out again.
        recorded = set(oracle_state["start_order"])
        for path in trial_files:
            trial_id = os.path.basename(os.path.dirname(path))[len("trial_"):]
            if trial_id not in recorded:
                os.remove(path)
        super().reload()  # queues every trial the oracle had running for a retry
        # A trial whose own file says it finished ran to the end even if the
        # oracle's file still lists it as running: do not run it again.
        self._retry_queue = [trial_id for trial_id in self._retry_queue
                             if self.trials[trial_id].status not in FINISHED]
        for trial_id in self.start_order:
            if self.trials[trial_id].status in FINISHED and trial_id not in self.end_order:
                self.end_order.append(trial_id)


class BayesianOptimizationOracle(DurableState, WorkerLeases,
                                 keras_tuner.oracles.BayesianOptimizationOracle):
    """keras-tuner's Bayesian optimization, with `DurableState` and `WorkerLeases`."""


class RandomSearchOracle(DurableState, WorkerLeases, keras_tuner.oracles.RandomSearchOracle):
    """keras-tuner's random search, with `DurableState` and `WorkerLeases`."""
