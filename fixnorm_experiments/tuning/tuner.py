"""The tuner that runs recipe trials, and the oracle each method uses.

`RecipeTuner` is a keras-tuner `Tuner` with three changes for this project:
- every trial of one search starts from the same seed (execution ``i`` of
  every trial uses ``seed + i``), so trials differ in their knobs, not in
  their initial weights or data order;
- no per-epoch checkpoints (a trial is scored after its last epoch); the
  final weights are saved once, so `get_best_models()` works;
- a worker told to wait (IDLE: the stage's next points depend on trials
  still running) sleeps a moment before asking again instead of spinning;
- a worker tells the chief it is alive while a trial runs, so that a lost
  worker's trial can go to another (`tf_fixnorm.tuning.leases`), and waits
  a bounded time for a chief that restarts (`tf_fixnorm.tuning.reconnect`).
Its state files survive a kill (`tf_fixnorm.tuning.state`). It also calls
``on_result(record)`` after every finished trial, which the CLI
uses for its live line.
"""

from __future__ import annotations

import time

import keras
import keras_tuner
from keras_tuner.engine import trial as trial_module
from keras_tuner.src.distribute import oracle_client
from keras_tuner.src.engine.tuner import maybe_distribute

from fixnorm_experiments.tuning.methods import METHODS, SEARCHED
from tf_fixnorm.tuning import leases, reconnect, state
from tf_fixnorm.tuning.oracle import FixNormTuneOracle

BO_INITIAL_POINTS = 3  # keras-tuner's default is 3 per dimension (6 here): bo_wd_default


def make_oracle(method, ranges, objective, max_trials=None, seed=0, lr_start=0.1,
                alpha_start=1.0, bo_initial_points=BO_INITIAL_POINTS, worker_timeout=None):
    """The oracle of one method over ``ranges`` (a `methods.Ranges`).

    ``max_trials`` None means FixNorm-tune's own budget (11 trials), for
    every searching method; the reference is one trial. ``worker_timeout``:
    see `tf_fixnorm.tuning.leases.WorkerLeases`.
    """
    # keras-tuner reads seed 0 as "no seed" and draws one at random, which made
    # `--seeds=0` searches differ from run to run: the oracles get seed + 1.
    common = dict(objective=objective, seed=seed + 1, worker_timeout=worker_timeout)
    fixnorm = FixNormTuneOracle(lr_start=lr_start, lr_range=ranges.lr, alpha_start=alpha_start,
                                alpha_range=ranges.alpha, max_trials=max_trials, **common)
    if method == "fixnorm":
        return fixnorm
    budget = max_trials or fixnorm.max_trials
    if method == "no_decay":
        # One knob: FixNorm-tune's line search over lr, for the whole budget
        # (its alpha stage has nothing to do: one trial, stage 1's best).
        return FixNormTuneOracle(lr_start=lr_start, lr_range=ranges.lr, lr_trials=budget,
                                 alpha_trials=1, max_trials=budget, **common)
    if method in ("bo_wd", "bo_wd_default"):
        return state.BayesianOptimizationOracle(
            max_trials=budget, **common,
            num_initial_points=bo_initial_points if method == "bo_wd" else None)
    if method == "random":
        return state.RandomSearchOracle(max_trials=budget, **common)
    if method in ("optuna_tpe", "optuna_gp"):
        from fixnorm_experiments.tuning.optuna_oracle import OptunaOracle

        return OptunaOracle(sampler=method[len("optuna_"):],
                            ranges={"lr": ranges.lr, "weight_decay": ranges.weight_decay},
                            max_trials=budget, **common)
    if method == "reference":
        return state.RandomSearchOracle(max_trials=1, **common)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def trial_record(oracle, trial, index, names, seconds=None):
    """One trial as the reports want it (see `fixnorm_experiments.report`)."""
    score = trial.score
    completed = trial.status == trial_module.TrialStatus.COMPLETED
    values = trial.hyperparameters.values
    return {
        "trial_id": trial.trial_id,
        "index": index,
        "status": str(trial.status),
        "score": float(score) if completed and score is not None else None,
        "values": {name: float(values[name]) for name in names if name in values},
        "stage": getattr(oracle, "stages", {}).get(trial.trial_id),
        "seconds": seconds,
    }


def trial_records(oracle, names, seconds=None):
    """Every started trial of ``oracle``, in start order."""
    seconds = seconds or {}
    return [trial_record(oracle, oracle.trials[trial_id], i + 1, names,
                         seconds.get(trial_id))
            for i, trial_id in enumerate(oracle.start_order) if trial_id in oracle.trials]


class RecipeTuner(keras_tuner.Tuner):
    """Runs `RecipeHyperModel` trials (see the module docstring).

    Args:
      oracle: any keras-tuner oracle; `make_oracle` gives the project's.
      hypermodel: a `RecipeHyperModel`.
      seed: the search seed; trial executions use ``seed + execution``.
      on_result: optional ``f(record)`` called after every finished trial.
      idle_wait: seconds a worker waits after an IDLE answer.
      heartbeat_interval: on a worker, seconds between the "still alive" calls
        it makes to the chief while a trial runs (`leases.heartbeat`); None: none.
      chief_timeout: on a worker, seconds to wait for a chief that does not
        answer before giving up (`reconnect.ReconnectingClient`); None:
        keras-tuner's hour.
      searches: the project names of every search of the session, in the
        order they run: a worker skips those the chief has finished.
      **kwargs: `keras_tuner.Tuner` arguments (``directory``,
        ``project_name``, ``overwrite``, ``executions_per_trial``, ...).
    """

    def __init__(self, oracle, hypermodel, seed=0, on_result=None, idle_wait=1.0,
                 heartbeat_interval=None, chief_timeout=None, searches=(), **kwargs):
        super().__init__(oracle, hypermodel, **kwargs)
        if self._is_worker():
            self.oracle = reconnect.ReconnectingClient(
                self.oracle, chief_timeout or oracle_client.TIMEOUT, search=self.project_name,
                searches=searches)
        if self.executions_per_trial > 1:
            # Execution i starts from seed + i: a model reset to one seed's
            # initial state cannot serve them all.
            hypermodel.reuse = False
        self.seed, self.on_result, self.idle_wait = seed, on_result, idle_wait
        self.heartbeat_interval = heartbeat_interval
        self.names = SEARCHED[hypermodel.method] or ("lr", "weight_decay")
        self._asked = False
        self._started = {}
        self.seconds = {}

    def pre_create_trial(self):
        if self._asked:  # the last request started no trial: IDLE
            time.sleep(self.idle_wait)
        self._asked = True

    def on_trial_begin(self, trial):
        self._asked = False
        self._started[trial.trial_id] = time.monotonic()
        super().on_trial_begin(trial)

    def search(self, *args, **kwargs):
        if self._is_worker() and self.oracle.this_search_is_over():
            # The chief has finished this search (a worker restarted, or a chief
            # restarted past it): on to the next.
            return None
        return super().search(*args, **kwargs)

    def _populate_initial_space(self):
        # keras-tuner builds the hypermodel here to find its hyperparameters,
        # before any trial is seeded; a reused model built then would start
        # every trial from unseeded weights. Declare the knobs without building.
        hp = self.oracle.get_space()
        self.hypermodel.knobs(hp)
        self.oracle.update_space(hp)

    def load_model(self, trial):
        # A new model for the saved weights, not the search's reused one
        # (which `get_best_models` would otherwise hand out k times).
        model = self.hypermodel.new_model(trial.hyperparameters)
        with maybe_distribute(self.distribution_strategy):
            model.load_weights(self._get_checkpoint_fname(trial.trial_id))
        return model

    def _try_build(self, hp):
        # keras-tuner clears the session and runs two full garbage collections
        # before each build. Each trial leaves some of TensorFlow's traced
        # graphs alive, so a full collection gets slower with every trial
        # (measured: 0.2 s at the first trial, 0.9 s at the 40th). Python's
        # own generational collector still frees the cycles; skip the forced
        # full passes.
        if getattr(self.hypermodel, "warm", None) is None:  # a new model: start clean
            keras.backend.clear_session(free_memory=False)
        model = self._build_hypermodel(hp)
        if not isinstance(model, keras.Model):
            raise keras_tuner.errors.FatalTypeError(
                f"HyperModel.build() must return a Keras Model, got {type(model)}")
        return model

    def run_trial(self, trial, *args, **kwargs):
        with leases.heartbeat(self.oracle, trial.trial_id, self.heartbeat_interval):
            return self._run_executions(trial)

    def _run_executions(self, trial):
        hp = trial.hyperparameters
        results = []
        for execution in range(self.executions_per_trial):
            if getattr(self.hypermodel, "warm", None) is None:
                # A reused model is put back to its initial state instead. Seeding
                # again would cost more than the trial's steps: TensorFlow clears
                # its kernel caches on every tf.random.set_seed (BENCHMARKS.md,
                # "Where a trial's time goes").
                keras.utils.set_random_seed(self.seed + execution)
            model = self._try_build(hp)
            results.append(self.hypermodel.fit(hp, model))
        model.save_weights(self._get_checkpoint_fname(trial.trial_id))
        state.write_state(self._get_build_config_fname(trial.trial_id), model.get_build_config())
        return results

    # keras-tuner writes its state files in place; ours are atomic (see
    # `tf_fixnorm.tuning.state`), and an unreadable one is named in the error.
    def save(self):
        if not self._is_worker():
            self.oracle.save()
        state.write_state(self._get_tuner_fname(), self.get_state())

    def reload(self):
        if not self._is_worker():
            self.oracle.reload()
        self.set_state(state.read_json(self._get_tuner_fname(),
                                       "Pass --overwrite to start the search afresh."))

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        seconds = time.monotonic() - self._started.pop(trial.trial_id, time.monotonic())
        self.seconds[trial.trial_id] = seconds
        if self.on_result is not None:
            finished = self.oracle.get_trial(trial.trial_id)
            index = int(finished.trial_id) + 1 if finished.trial_id.isdigit() else None
            self.on_result(trial_record(self.oracle, finished, index, self.names, seconds))
