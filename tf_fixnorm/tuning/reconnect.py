"""A worker that loses the chief waits for it, for a bounded time, instead of crashing.

keras-tuner's worker (``OracleClient``) sends every call with gRPC's
``wait_for_ready`` and a one-hour timeout: a call made while the chief is down
waits for it, but a call in flight when the chief dies fails at once
(UNAVAILABLE), with a gRPC traceback. `ReconnectingClient` wraps the client:
it bounds each wait by ``chief_timeout`` and retries a failed call until the
chief answers again, counting from the first failure; past ``chief_timeout``
it raises `ChiefLost`, one line saying what to do.

A call retried after the chief restarted may have reached the old chief
already: the restarted chief ignores a second report of an ended trial
(`leases.WorkerLeases`) and hands a worker that asks again its own trial back,
so nothing runs or counts twice.
"""

from __future__ import annotations

import os
import time

import grpc
from keras_tuner.src.distribute import oracle_client

# gRPC codes that mean "the chief is not there (yet)": retry.
_RETRIED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_CALLS = ("get_space", "update_space", "create_trial", "update_trial", "end_trial",
          "get_trial", "get_best_trials")


class ChiefLost(ConnectionError):
    """The chief did not answer for ``chief_timeout`` seconds."""


class ReconnectingClient:
    """A keras-tuner ``OracleClient`` whose calls survive the chief restarting.

    Args:
      client: the ``OracleClient`` a worker's tuner made.
      chief_timeout: seconds a call may wait for the chief, in all, before
        `ChiefLost`.
      clock, sleep: time sources (tests pass fakes).
    """

    def __init__(self, client, chief_timeout, clock=time.monotonic, sleep=time.sleep):
        if not chief_timeout > 0:
            raise ValueError(f"chief_timeout must be > 0 seconds, got {chief_timeout}")
        self.client, self.chief_timeout = client, chief_timeout
        self._clock, self._sleep = clock, sleep
        # keras-tuner reads its per-call timeout from this module global at
        # each call: no call may wait for the chief longer than we would.
        oracle_client.TIMEOUT = min(oracle_client.TIMEOUT, chief_timeout)

    def __getattr__(self, name):
        attribute = getattr(self.client, name)
        if name not in _CALLS:
            return attribute
        return lambda *args, **kwargs: self._call(name, attribute, args, kwargs)

    def _call(self, name, method, args, kwargs):
        first_failure = None
        while True:
            try:
                return method(*args, **kwargs)
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

    def _lost_message(self, name):
        where = (f"{os.environ.get('KERASTUNER_ORACLE_IP', '?')}:"
                 f"{os.environ.get('KERASTUNER_ORACLE_PORT', '?')}")
        return (f"worker {os.environ.get('KERASTUNER_TUNER_ID', '?')}: the chief at {where} "
                f"did not answer ({name}) within {self.chief_timeout:g} s (--chief_timeout): "
                f"restart the chief on the same --directory, then this worker with the same "
                f"tuner id; finished trials are kept")
