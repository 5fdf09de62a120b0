"""A lost worker does not hang a distributed search: its trial goes to another worker.

In keras-tuner's chief/worker mode a worker holds its trial until it calls
``end_trial``. A worker that dies (a preempted machine, SIGKILL) never does,
so its trial stays RUNNING: a search that waits for it (FixNorm-tune's next
bracket, the chief's exit) waits forever, and a search that does not wait
hands out its last trials without it and never finishes it.

`WorkerLeases` (a mixin for a keras-tuner oracle) treats each held trial as a
lease. The chief hears from a worker on every call that names it or its
trial: asking for a trial, reporting progress (``update_trial``), reading its
trial (``get_trial``: `heartbeat` sends one every ``worker_timeout / 4``
seconds while a trial runs), ending it. A worker not heard from for
``worker_timeout`` seconds loses its trial: the trial goes back to the retry
queue with its hyperparameters, and the next worker that asks runs it. While
another worker holds a trial, an asking worker is told to wait (IDLE) rather
than to stop, so someone is still there to take the trial over; so is one
while another worker the chief knows of has neither asked since the search
ran out nor gone silent for ``worker_timeout`` (a worker lost between two
trials holds nothing, but the chief waits for every worker it knows to
leave).

keras-tuner's calls name the trial, not the worker, so a worker that was
only slow and reports after all cannot be told from the new holder: the
first report that ends the trial counts, and a later one for the same trial
is ignored (both trained the same hyperparameters from the same seed). A
lost worker restarted with its own tuner id gets its trial back if no one has
taken it over, as keras-tuner does.
"""

from __future__ import annotations

import threading
import time

import keras_tuner
from keras_tuner.engine import trial as trial_module

_Status = trial_module.TrialStatus
# ``get_trial(SEARCH_PROBE)`` answers a trial whose id is the search's project
# name. Searches run one after another on one port (``fixnorm-tune --compare``
# under chief/worker mode): a worker done with one search may reach the chief
# while it still serves the previous one, whose answers (STOPPED) would make
# the worker skip its search. The worker asks first, and waits for its own.
SEARCH_PROBE = "?search"


def _is_chief():
    """Whether this process is keras-tuner's chief (serving workers)."""
    from keras_tuner.src.distribute import utils as dist_utils

    return dist_utils.is_chief_oracle()


class WorkerLeases:
    """Mixin for a `keras_tuner.Oracle`: a worker silent for ``worker_timeout`` s loses
    its trial to the next worker that asks (see the module docstring).

    Put it before the oracle class among the bases (``class MyOracle(DurableState,
    WorkerLeases, keras_tuner.Oracle)``).

    Args:
      worker_timeout: seconds without a word from a worker before its trial
        is handed to another; None (the default) never.
      clock: the time source (tests pass a fake one).
    """

    def __init__(self, *args, worker_timeout=None, clock=time.monotonic, **kwargs):
        if worker_timeout is not None and not worker_timeout > 0:
            raise ValueError(f"worker_timeout must be > 0 seconds, got {worker_timeout}")
        self.worker_timeout = worker_timeout
        self._clock = clock
        self._heard = {}  # tuner_id -> when the chief last heard from it
        self._stopping = set()  # asked after the search ran out; told to wait
        self._given = {}  # trial_id -> the worker it was last handed to
        self._sweeper = None
        self.lost = []  # (tuner_id, trial_id) in the order trials were taken back
        super().__init__(*args, **kwargs)

    # -- who holds what -------------------------------------------------------

    def _holder(self, trial_id):
        for tuner_id, trial in self.ongoing_trials.items():
            if trial.trial_id == trial_id:
                return tuner_id
        return None

    def _worker_of(self, trial_id):
        """Who reports on ``trial_id``: its holder, or the worker last handed it (still
        training it after a worker thought lost ended it first)."""
        return self._holder(trial_id) or self._given.get(trial_id)

    def _hear(self, tuner_id):
        if tuner_id is not None:
            self._heard[tuner_id] = self._clock()

    def _finished(self, trial_id):
        return trial_id in self.end_order

    def _take_back_lost_trials(self, asking):
        """Drop every worker silent too long; queue again the trial it held."""
        if self.worker_timeout is None:
            return
        now, taken = self._clock(), False
        for tuner_id in sorted((set(self.tuner_ids) | set(self.ongoing_trials)) - {asking}):
            heard = self._heard.setdefault(tuner_id, now)  # first seen now (e.g. resumed)
            if now - heard < self.worker_timeout:
                continue
            self.tuner_ids.discard(tuner_id)  # the chief need not wait for it to leave
            self._stopping.discard(tuner_id)
            self._heard.pop(tuner_id, None)
            trial = self.ongoing_trials.pop(tuner_id, None)
            what = "it held no trial"
            for trial_id in [t for t, w in self._given.items() if w == tuner_id]:
                del self._given[trial_id]
            if trial is not None:
                if trial.trial_id not in self._retry_queue:
                    self._retry_queue.append(trial.trial_id)
                self.lost.append((tuner_id, trial.trial_id))
                taken, what = True, f"trial {trial.trial_id} goes to the next worker"
            print(f"worker {tuner_id} silent for {now - heard:.0f} s (worker_timeout "
                  f"{self.worker_timeout:g} s): {what}", flush=True)
        if taken:
            self.save()

    @keras_tuner.synchronized
    def _sweep(self):
        self._take_back_lost_trials(None)

    def _start_sweeper(self):
        """On the chief: drop lost workers even when no one asks any more (a worker
        told to wait that dies would otherwise keep the chief from exiting)."""
        if self._sweeper is not None or self.worker_timeout is None or not _is_chief():
            return

        def sweep():
            while True:
                time.sleep(self.worker_timeout / 4)
                self._sweep()

        self._sweeper = threading.Thread(target=sweep, name="fixnorm-sweeper", daemon=True)
        self._sweeper.start()

    def search_finished(self):
        """Nothing held, nothing queued, nothing left to hand out: a restarted chief
        need not serve this search again."""
        if self.ongoing_trials or self._retry_queue:
            return False
        if any(t.status not in (_Status.COMPLETED, _Status.FAILED)
               for t in self.trials.values()):
            return False
        if self.max_trials and len(self.trials) >= self.max_trials:
            return True
        return self._search_done()

    def _search_done(self):
        """Whether the search proposes nothing more (subclasses that stop early say so)."""
        return False

    def _others_may_need(self, asking):
        """Whether another worker holds a trial, or may be lost without the chief
        knowing yet (it neither asked since the search ran out nor went silent)."""
        others = (set(self.tuner_ids) | set(self.ongoing_trials)) - {asking}
        return any(t in self.ongoing_trials or t not in self._stopping for t in others)

    # -- a restarted chief -------------------------------------------------------

    def get_state(self):
        # keras-tuner keeps who holds a trial, not who else is still working: a
        # restarted chief would not know a worker between two trials, finish
        # the search without it, exit, and leave it waiting for a chief.
        state = super().get_state()
        state["fixnorm_known_workers"] = sorted(set(self.tuner_ids) | set(self.ongoing_trials))
        return state

    def set_state(self, state):
        super().set_state(state)
        self._resumed_holders = dict(state.get("ongoing_trials", {}))
        self._resumed_workers = list(state.get("fixnorm_known_workers", []))

    def reload(self):
        # keras-tuner queues every trial that was running for a retry. After a
        # chief restart its workers are still running them and will report:
        # let each keep its trial (and lose it only after worker_timeout of
        # silence) rather than hand it to a second worker.
        super().reload()
        if self.worker_timeout is None or not _is_chief():
            return  # one process: no one else is running them; keras-tuner's queue
        # Every worker known before the restart stays known: the chief waits for
        # it to ask (and be told to stop) or to be silent for worker_timeout.
        self.tuner_ids.update(getattr(self, "_resumed_workers", []))
        for tuner_id, trial_id in getattr(self, "_resumed_holders", {}).items():
            trial = self.trials.get(trial_id)
            if trial is None or trial_id not in self._retry_queue or trial.status in (
                    _Status.COMPLETED, _Status.FAILED):
                continue
            while trial_id in self._retry_queue:  # keras-tuner may have queued it twice
                self._retry_queue.remove(trial_id)
            trial.status = _Status.RUNNING
            self.ongoing_trials[tuner_id] = trial
            self.tuner_ids.add(tuner_id)

    # -- keras-tuner's calls --------------------------------------------------

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        self._start_sweeper()
        self._hear(tuner_id)
        self._take_back_lost_trials(tuner_id)
        # A trial queued again that has ended meanwhile is not run twice.
        self._retry_queue = [t for t in self._retry_queue if not self._finished(t)]
        trial = super().create_trial(tuner_id)
        if trial.status == _Status.RUNNING:
            self._given[trial.trial_id] = tuner_id
        if trial.status != _Status.STOPPED or self.worker_timeout is None:
            return trial
        if self._others_may_need(tuner_id):
            # Nothing left to hand out, but another worker's trial may yet come
            # back, or another worker be found lost: wait rather than leave, so
            # that someone is there to take its trial over, and stay counted
            # by the chief.
            self.tuner_ids.add(tuner_id)
            self._stopping.add(tuner_id)
            return trial_module.Trial(self.hyperparameters.copy(), trial_id=trial.trial_id,
                                      status=_Status.IDLE)
        self._stopping.discard(tuner_id)
        self.save()  # it leaves: a restarted chief must not wait for it
        return trial

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        self._hear(self._worker_of(trial_id))
        if trial_id not in self.trials or self._finished(trial_id):
            # A late report, or one meant for another search: nothing to update.
            return self.trials.get(trial_id) or trial_module.Trial(
                self.hyperparameters.copy(), trial_id=trial_id, status=_Status.STOPPED)
        return super().update_trial(trial_id, metrics, step=step)

    @keras_tuner.synchronized
    def get_trial(self, trial_id):
        if trial_id == SEARCH_PROBE:  # which search is this? (see `SEARCH_PROBE`)
            return trial_module.Trial(self.hyperparameters.copy(),
                                      trial_id=getattr(self, "_project_name", None) or "",
                                      status=_Status.IDLE)
        self._hear(self._worker_of(trial_id))
        if trial_id not in self.trials:
            return trial_module.Trial(self.hyperparameters.copy(), trial_id=trial_id,
                                      status=_Status.STOPPED)
        return super().get_trial(trial_id)

    @keras_tuner.synchronized
    def end_trial(self, trial):
        if trial.trial_id not in self.trials:  # meant for another search: keep it out
            print(f"a report of trial {trial.trial_id}, which this search does not have, "
                  "is ignored", flush=True)
            return
        holder = self._holder(trial.trial_id)
        if self._finished(trial.trial_id):
            print(f"trial {trial.trial_id} had already ended: a second report of it (a worker "
                  "taken for lost that finished after all) is ignored", flush=True)
            if holder is not None:  # the worker it was handed to is free again
                del self.ongoing_trials[holder]
            return
        self._hear(self._worker_of(trial.trial_id))
        # Queued again after its worker was taken for lost, which reports after all:
        # out of the queue (keras-tuner puts it back if a retry is due).
        while trial.trial_id in self._retry_queue:
            self._retry_queue.remove(trial.trial_id)
        super().end_trial(trial)


class heartbeat:
    """While a worker runs a trial, tell the chief it is alive every ``interval`` seconds.

    A context manager around a trial: ``with heartbeat(oracle, trial_id,
    interval): ...``. It calls ``oracle.get_trial(trial_id)`` from a daemon
    thread; ``interval`` None does nothing. A call that fails (the chief
    restarting) is skipped: the next one tries again.
    """

    def __init__(self, oracle, trial_id, interval):
        self.oracle, self.trial_id, self.interval = oracle, trial_id, interval
        self._stop = threading.Event()
        self._thread = None

    def _beat(self):
        while not self._stop.wait(self.interval):
            try:
                self.oracle.get_trial(self.trial_id)
            except Exception:  # noqa: BLE001 - a missed beat; the timeout allows for some
                pass

    def __enter__(self):
        if self.interval is not None:
            self._thread = threading.Thread(target=self._beat, name="fixnorm-heartbeat",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return False
