"""A worker that loses the chief waits for it, for a bounded time, instead of crashing.

keras-tuner's worker (``OracleClient``) sends every call with gRPC's
``wait_for_ready`` and a one-hour timeout: a call made while the chief is down
waits for it, but a call in flight when the chief dies fails at once
(UNAVAILABLE, or CANCELLED when its server stops under the call), with a gRPC
traceback. `ReconnectingClient` wraps the client:
it bounds each wait by ``chief_timeout`` and retries a failed call until the
chief answers again, counting from the first failure; past ``chief_timeout``
it raises `ChiefLost`, one line saying what to do.

Searches run one after another on one port (``fixnorm-tune --compare``), and
a chief restarted mid-run skips the searches it has finished: so before each
call the client asks which search the chief serves (`leases.SEARCH_PROBE`).
Its own: the call goes ahead. A later one: this search is over for the chief,
so the call is answered here (``create_trial``: STOPPED) and the worker moves
on. An earlier one (the chief has not reached it yet, or still winds the last
one down): it waits, on a new connection.

A call retried after the chief restarted may have reached the old chief
already: the restarted chief ignores a second report of an ended trial
(`leases.WorkerLeases`) and hands a worker that asks again its own trial back,
so nothing runs or counts twice.
"""

from __future__ import annotations

import os
import time

import grpc
from keras_tuner.engine import trial as trial_module
from keras_tuner.src import errors
from keras_tuner.src.distribute import oracle_client

from tf_fixnorm.tuning.leases import SEARCH_PROBE

# gRPC codes that mean "the chief is not there (yet)": retry. CANCELLED is what
# a call in flight gets when the chief's server stops under it (keras-tuner
# drops its server at the end of each search; a killed chief, sometimes): seen
# in CI, a worker's search probe cut as the chief was killed mid-compare.
_RETRIED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.CANCELLED)
_CALLS = ("get_space", "update_space", "create_trial", "update_trial", "end_trial",
          "get_trial", "get_best_trials")
# Calls about this search's trials: sent only while the chief serves this search.
_OF_THIS_SEARCH = ("create_trial", "update_trial", "end_trial", "get_trial")


class ChiefLost(errors.FatalError, ConnectionError):
    """The chief did not answer for ``chief_timeout`` seconds.

    A keras-tuner ``FatalError``, so that a trial running at the time is not
    marked failed on the way out.
    """


class ReconnectingClient:
    """A keras-tuner ``OracleClient`` whose calls survive the chief restarting.

    Args:
      client: the ``OracleClient`` a worker's tuner made.
      chief_timeout: seconds a call may wait for the chief, in all, before
        `ChiefLost`.
      search: this search's project name (None: do not check which search
        the chief serves).
      searches: every search's project name, in the order they run.
      clock, sleep: time sources (tests pass fakes).
      reconnect: ``f(client) -> client`` on a new connection (tests pass a fake).
    """

    def __init__(self, client, chief_timeout, search=None, searches=(), clock=time.monotonic,
                 sleep=time.sleep, reconnect=None):
        if not chief_timeout > 0:
            raise ValueError(f"chief_timeout must be > 0 seconds, got {chief_timeout}")
        self.client, self.chief_timeout = client, chief_timeout
        self.search, self.searches = search, list(searches)
        self._clock, self._sleep = clock, sleep
        self._reconnect = reconnect or (lambda old: oracle_client.OracleClient(old._oracle))
        # keras-tuner reads its per-call timeout from this module global at
        # each call: no call may wait for the chief longer than we would.
        oracle_client.TIMEOUT = min(oracle_client.TIMEOUT, chief_timeout)

    def __getattr__(self, name):
        attribute = getattr(self.client, name)
        if name not in _CALLS:
            return attribute
        return lambda *args, **kwargs: self._call(name, args, kwargs)

    # -- which search the chief serves ----------------------------------------

    def serving(self):
        """The project name of the search the chief serves now."""
        return self._send("get_trial", (SEARCH_PROBE,), {}).trial_id

    def this_search_is_over(self):
        """Wait until the chief serves this search or a later one; True if a later one.

        Raises `ChiefLost` if it serves an earlier or unknown search for
        ``chief_timeout`` seconds.
        """
        if self.search is None:
            return False
        started = self._clock()
        while True:
            serving = self.serving()
            if serving == self.search:
                return False
            if serving in self.searches and self.search in self.searches and \
                    self.searches.index(serving) > self.searches.index(self.search):
                return True
            if self._clock() - started >= self.chief_timeout:
                raise ChiefLost(
                    f"worker {os.environ.get('KERASTUNER_TUNER_ID', '?')}: the chief serves "
                    f"search {serving!r}, not {self.search!r}, after {self.chief_timeout:g} s "
                    "(--chief_timeout): start every process with the same --compare, "
                    "--seeds and flags")
            self._sleep(min(1.0, self.chief_timeout / 10))
            # A new connection: the previous search's server may still hold this one.
            self.client = self._reconnect(self.client)

    # -- the calls --------------------------------------------------------------

    def _call(self, name, args, kwargs):
        of_this_search = name in _OF_THIS_SEARCH
        if of_this_search and self.this_search_is_over():
            return self._answer_for_a_search_that_is_over(name, args)
        return self._send(name, args, kwargs, of_this_search)

    def _answer_for_a_search_that_is_over(self, name, args):
        if name == "end_trial":
            return None  # the chief ended every trial of it before moving on
        hyperparameters = self.client._oracle.hyperparameters.copy()
        trial_id = args[0] if name in ("update_trial", "get_trial") else None
        return trial_module.Trial(hyperparameters, trial_id=trial_id,
                                  status=trial_module.TrialStatus.STOPPED)

    def _send(self, name, args, kwargs, of_this_search=False):
        first_failure = None
        while True:
            try:
                return getattr(self.client, name)(*args, **kwargs)
            except grpc.RpcError as error:
                code = error.code() if callable(getattr(error, "code", None)) else None
                if code not in _RETRIED:
                    raise
                now = self._clock()
                first_failure = now if first_failure is None else first_failure
                # DEADLINE_EXCEEDED: the call itself waited chief_timeout for the chief.
                if code == grpc.StatusCode.DEADLINE_EXCEEDED or \
                        now - first_failure >= self.chief_timeout:
                    raise ChiefLost(self._lost_message(name)) from None
                self._sleep(min(1.0, self.chief_timeout / 10))
                # A new connection: the old channel waits out gRPC's reconnect
                # backoff (up to 2 minutes) before it sees a restarted chief.
                self.client = self._reconnect(self.client)
                # A call cut as the chief ended this search must not reach the next.
                if of_this_search and self.this_search_is_over():
                    return self._answer_for_a_search_that_is_over(name, args)

    def _lost_message(self, name):
        where = (f"{os.environ.get('KERASTUNER_ORACLE_IP', '?')}:"
                 f"{os.environ.get('KERASTUNER_ORACLE_PORT', '?')}")
        return (f"worker {os.environ.get('KERASTUNER_TUNER_ID', '?')}: the chief at {where} "
                f"did not answer ({name}) within {self.chief_timeout:g} s (--chief_timeout): "
                f"restart the chief on the same --directory, then this worker with the same "
                f"tuner id; finished trials are kept")
