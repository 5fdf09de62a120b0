"""Optuna's samplers as keras-tuner oracles: the peers `optuna_tpe` and `optuna_gp`.

The comparison runs every method through the same tuner, hypermodel, state
files and reports (`tuner.py`), so an Optuna sampler is wrapped as a
keras-tuner oracle rather than given a second training loop. For each new
trial the oracle rebuilds an in-memory Optuna study from its own finished
trials, seeds a fresh sampler with the search seed plus the number of trials
started so far, and asks it for the next point. The search is thus a function of the
finished trials, like FixNorm-tune's: deterministic, and resumed exactly
after a kill. Running trials are not shown to the sampler (Optuna's own
in-process parallel mode does not show them either).

The samplers keep Optuna's defaults (for both, 10 random startup trials),
which is what a user who picks them gets.
"""

from __future__ import annotations

import importlib.util

import keras_tuner
import optuna
from keras_tuner.engine import trial as trial_module

from tf_fixnorm.tuning.leases import WorkerLeases
from tf_fixnorm.tuning.state import DurableState

optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" per trial


def sampler_factory(name):
    """``f(seed) -> optuna sampler`` for "tpe" or "gp"."""
    if name == "tpe":
        return lambda seed: optuna.samplers.TPESampler(seed=seed)
    if name == "gp":
        if importlib.util.find_spec("torch") is None:
            raise ImportError("optuna_gp needs PyTorch (Optuna's GPSampler runs on it): "
                              "pip install torch (`make` installs the CPU build)")
        return lambda seed: optuna.samplers.GPSampler(seed=seed)
    raise ValueError(f"sampler must be 'tpe' or 'gp', got {name!r}")


class OptunaOracle(DurableState, WorkerLeases, keras_tuner.Oracle):
    """A keras-tuner oracle whose points come from an Optuna sampler.

    Args:
      objective: the keras-tuner objective; its direction is honoured.
      sampler: "tpe" or "gp" (`sampler_factory`).
      ranges: ``{name: (low, high)}`` of the knobs, each searched on a log scale.
      max_trials: trials of the search.
      seed: the search seed.
      **kwargs: passed to `keras_tuner.Oracle`.
    """

    def __init__(self, objective, sampler, ranges, max_trials, seed=0, **kwargs):
        self.make_sampler = sampler_factory(sampler)
        self.sampler_name = sampler
        self.distributions = {name: optuna.distributions.FloatDistribution(low, high, log=True)
                              for name, (low, high) in ranges.items()}
        hyperparameters = keras_tuner.HyperParameters()
        for name, (low, high) in ranges.items():
            hyperparameters.Float(name, low, high, sampling="log")
        super().__init__(objective=objective, max_trials=max_trials, seed=seed,
                         hyperparameters=hyperparameters, **kwargs)

    def _study(self):
        """An in-memory study holding the finished trials, in start order."""
        direction = "maximize" if self.objective.direction == "max" else "minimize"
        finished = [self.trials[t] for t in self.start_order if t in self.trials
                    and self.trials[t].status in (trial_module.TrialStatus.COMPLETED,
                                                  trial_module.TrialStatus.FAILED)]
        study = optuna.create_study(direction=direction,
                                    sampler=self.make_sampler(self.seed + len(self.trials)))
        for trial in finished:
            params = {name: trial.hyperparameters.values[name] for name in self.distributions}
            completed = (trial.status == trial_module.TrialStatus.COMPLETED
                         and trial.score is not None)
            study.add_trial(optuna.trial.create_trial(
                params=params, distributions=self.distributions,
                value=float(trial.score) if completed else None,
                state=optuna.trial.TrialState.COMPLETE if completed
                else optuna.trial.TrialState.FAIL))
        return study

    def populate_space(self, trial_id):
        asked = self._study().ask(self.distributions)
        return {"status": trial_module.TrialStatus.RUNNING, "values": dict(asked.params)}
