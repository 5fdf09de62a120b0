"""A lost worker's trial goes to another worker; a late report is not counted twice.

The chief's side at the oracle level, with a fake clock (no gRPC, no training):
what `tf_fixnorm.tuning.leases.WorkerLeases` does on keras-tuner's calls.
The same with real processes is `test_tune_cli.test_a_lost_worker_does_not_hang_the_search`.
"""

import threading
import time

import grpc
import keras_tuner
import pytest
from keras_tuner.engine import trial as trial_module

from tf_fixnorm.tuning import leases, state
from tf_fixnorm.tuning.oracle import FixNormTuneOracle

Status = trial_module.TrialStatus
OBJECTIVE = keras_tuner.Objective("score", "max")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def random_oracle(tmp_path, clock, max_trials=3, worker_timeout=10):
    hp = keras_tuner.HyperParameters()
    hp.Float("x", 0.0, 1.0)
    oracle = state.RandomSearchOracle(objective=OBJECTIVE, max_trials=max_trials, seed=1,
                                      hyperparameters=hp, worker_timeout=worker_timeout,
                                      clock=clock)
    oracle._set_project_dir(str(tmp_path), "p")
    return oracle


def finish(oracle, trial, score):
    """What a worker does at the end of a trial: report the score, end it."""
    oracle.update_trial(trial.trial_id, {"score": score})
    ended = trial_module.Trial(trial.hyperparameters.copy(), trial_id=trial.trial_id,
                               status=Status.COMPLETED)
    oracle.end_trial(ended)


def test_a_silent_workers_trial_goes_to_the_next_worker_with_its_values(tmp_path):
    clock = Clock()
    oracle = random_oracle(tmp_path, clock)
    held_by_a = oracle.create_trial("a")
    first_b = oracle.create_trial("b")
    clock.now += 5
    finish(oracle, first_b, 0.5)
    second_b = oracle.create_trial("b")
    assert second_b.status == Status.RUNNING and len(oracle.trials) == 3  # the budget
    clock.now += 4
    finish(oracle, second_b, 0.6)
    # The budget is spent and "a" (silent 9 s) may still finish: wait, do not stop.
    assert oracle.create_trial("b").status == Status.IDLE
    assert "b" in oracle.tuner_ids and oracle.lost == []
    clock.now += 1.5  # "a" silent 10.5 s >= 10: its trial goes to "b"
    taken = oracle.create_trial("b")
    assert taken.status == Status.RUNNING and taken.trial_id == held_by_a.trial_id
    assert taken.hyperparameters.values == held_by_a.hyperparameters.values
    assert oracle.lost == [("a", held_by_a.trial_id)]
    assert "a" not in oracle.tuner_ids and "a" not in oracle.ongoing_trials
    finish(oracle, taken, 0.7)
    # "a" was only slow: its report comes late and is ignored, not counted twice.
    finish(oracle, held_by_a, 0.2)
    assert oracle.trials[held_by_a.trial_id].score == pytest.approx(0.7)
    assert sorted(oracle.end_order) == sorted(oracle.trials) and len(oracle.end_order) == 3
    assert all(t.status == Status.COMPLETED for t in oracle.trials.values())
    assert oracle.create_trial("b").status == Status.STOPPED
    assert not oracle.ongoing_trials and not oracle.tuner_ids  # the chief may exit


def test_a_late_report_that_comes_first_counts_and_frees_the_new_holder(tmp_path):
    clock = Clock()
    oracle = random_oracle(tmp_path, clock, max_trials=1)
    held_by_a = oracle.create_trial("a")
    clock.now += 11
    taken = oracle.create_trial("b")
    assert taken.trial_id == held_by_a.trial_id
    finish(oracle, held_by_a, 0.4)  # "a" finishes after all, before "b"
    assert "b" not in oracle.ongoing_trials
    finish(oracle, taken, 0.9)  # ignored: the trial had ended
    assert oracle.trials[taken.trial_id].score == pytest.approx(0.4)
    assert oracle.end_order == [taken.trial_id]
    assert oracle.create_trial("b").status == Status.STOPPED


def test_a_late_report_while_the_trial_waits_in_the_queue_takes_it_out(tmp_path):
    clock = Clock()
    oracle = random_oracle(tmp_path, clock, max_trials=2)
    held_by_a = oracle.create_trial("a")
    first_b = oracle.create_trial("b")
    clock.now += 11
    finish(oracle, first_b, 0.5)  # "b" is heard; "a" is not, but no one asked yet
    oracle.get_trial(first_b.trial_id)
    assert oracle.lost == []
    oracle._take_back_lost_trials("b")
    assert oracle._retry_queue == [held_by_a.trial_id]
    finish(oracle, held_by_a, 0.3)  # then "a" reports after all
    assert oracle._retry_queue == [] and oracle.trials[held_by_a.trial_id].score == 0.3
    assert oracle.create_trial("b").status == Status.STOPPED


def test_heartbeats_and_progress_keep_a_slow_worker_its_trial(tmp_path):
    clock = Clock()
    oracle = random_oracle(tmp_path, clock, max_trials=2)
    held_by_a = oracle.create_trial("a")
    first_b = oracle.create_trial("b")
    finish(oracle, first_b, 0.5)
    for _ in range(5):  # a long trial: 40 s, heard every 8 s
        clock.now += 8
        oracle.get_trial(held_by_a.trial_id)  # `leases.heartbeat`
        assert oracle.create_trial("b").status == Status.IDLE
    clock.now += 8
    oracle.update_trial(held_by_a.trial_id, {"score": 0.1}, step=1)  # progress counts too
    assert oracle.create_trial("b").status == Status.IDLE
    assert oracle.lost == [] and oracle.ongoing_trials["a"].trial_id == held_by_a.trial_id
    # A worker restarted with its own id gets its trial back.
    assert oracle.create_trial("a").trial_id == held_by_a.trial_id


def test_a_worker_lost_between_trials_is_dropped_so_the_chief_can_exit(tmp_path):
    clock = Clock()
    oracle = random_oracle(tmp_path, clock, max_trials=2)
    finish(oracle, oracle.create_trial("a"), 0.5)  # "a" then dies before asking again
    finish(oracle, oracle.create_trial("b"), 0.6)
    assert oracle.create_trial("b").status == Status.IDLE  # "a" may only be slow
    clock.now += 10
    assert oracle.create_trial("b").status == Status.STOPPED
    assert oracle.lost == [] and not oracle.tuner_ids and not oracle.ongoing_trials


def test_live_workers_all_stop_when_the_search_runs_out(tmp_path):
    oracle = random_oracle(tmp_path, Clock(), max_trials=2)
    finish(oracle, oracle.create_trial("a"), 0.5)
    finish(oracle, oracle.create_trial("b"), 0.6)
    assert oracle.create_trial("a").status == Status.IDLE  # "b" has not asked yet
    assert oracle.create_trial("b").status == Status.STOPPED  # "a" is only waiting
    assert oracle.create_trial("a").status == Status.STOPPED
    assert not oracle.tuner_ids and not oracle.ongoing_trials


def test_without_a_timeout_nothing_is_taken_back(tmp_path):
    clock = Clock()
    oracle = random_oracle(tmp_path, clock, max_trials=1, worker_timeout=None)
    oracle.create_trial("a")
    clock.now += 1e6
    assert oracle.create_trial("b").status == Status.STOPPED  # keras-tuner's behaviour
    assert oracle.lost == []
    with pytest.raises(ValueError, match="worker_timeout must be > 0"):
        random_oracle(tmp_path, clock, worker_timeout=0)


def test_fixnorm_tune_waits_for_a_lost_trial_then_hands_it_on(tmp_path):
    clock = Clock()
    oracle = FixNormTuneOracle(objective=OBJECTIVE, lr_start=0.2, alpha_start=1.0,
                               worker_timeout=30, clock=clock)
    oracle._set_project_dir(str(tmp_path), "f")
    first = oracle.create_trial("a")  # lr 0.2, the start
    for _ in range(12):  # "b" runs what the search can hand out without lr 0.2's score
        clock.now += 1
        trial = oracle.create_trial("b")
        if trial.status == Status.IDLE:
            break
        finish(oracle, trial, 0.5)
    assert trial.status == Status.IDLE, "the search never needed lr 0.2's score"
    clock.now += 30  # "a" silent for over 30 s
    taken = oracle.create_trial("b")
    assert taken.trial_id == first.trial_id and taken.hyperparameters.values["lr"] == 0.2
    assert oracle.stages[taken.trial_id] == "lr"


def test_heartbeat_calls_the_chief_while_the_trial_runs():
    calls = []

    class Oracle:
        def get_trial(self, trial_id):
            calls.append(trial_id)
            if len(calls) == 2:
                raise ConnectionError("the chief is restarting")  # skipped, not fatal

    with leases.heartbeat(Oracle(), "07", interval=0.01):
        deadline = time.monotonic() + 10
        while len(calls) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    after = len(calls)
    time.sleep(0.05)
    assert after >= 4 and set(calls) == {"07"} and len(calls) == after  # stopped on exit
    assert not [t for t in threading.enumerate() if t.name == "fixnorm-heartbeat"]
    with leases.heartbeat(Oracle(), "08", interval=None):
        pass  # no thread at all
    assert "08" not in calls


# --- a worker that loses the chief (tf_fixnorm.tuning.reconnect) -------------


class RpcError(grpc.RpcError):
    def __init__(self, code):
        self._code = code

    def code(self):
        return self._code


class FlakyClient:
    """An OracleClient stand-in whose calls fail with the given codes, then answer."""

    objective = "val_accuracy"

    def __init__(self, codes):
        self.codes, self.calls = list(codes), 0

    def create_trial(self, tuner_id):
        self.calls += 1
        if self.codes:
            raise RpcError(self.codes.pop(0))
        return f"trial for {tuner_id}"


@pytest.fixture
def reconnect(monkeypatch):
    from keras_tuner.src.distribute import oracle_client

    from tf_fixnorm.tuning import reconnect

    monkeypatch.setattr(oracle_client, "TIMEOUT", 3600)
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner1")
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    return reconnect


def test_a_call_cut_by_a_dying_chief_is_sent_again(reconnect):
    from keras_tuner.src.distribute import oracle_client

    clock, slept = Clock(), []
    # CANCELLED: the chief's server stopped under the call (seen in CI).
    client = FlakyClient([grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
                          grpc.StatusCode.UNAVAILABLE])
    connections = []

    def new_connection(old):  # each retry on a new channel, past gRPC's backoff
        connections.append(old)
        return old

    wrapped = reconnect.ReconnectingClient(client, 30, clock=clock, sleep=slept.append,
                                           reconnect=new_connection)
    assert oracle_client.TIMEOUT == 30  # no single call waits longer for the chief
    assert wrapped.create_trial("tuner1") == "trial for tuner1"
    assert client.calls == 4 and slept == [1.0, 1.0, 1.0] and len(connections) == 3
    assert wrapped.objective == "val_accuracy"  # the rest passes through


def test_a_chief_gone_for_chief_timeout_is_one_clear_error(reconnect):
    clock = Clock()

    def sleep(seconds):
        clock.now += seconds

    wrapped = reconnect.ReconnectingClient(FlakyClient([grpc.StatusCode.UNAVAILABLE] * 99),
                                           5, clock=clock, sleep=sleep,
                                           reconnect=lambda old: old)
    with pytest.raises(reconnect.ChiefLost) as lost:
        wrapped.create_trial("tuner1")
    assert clock.now == pytest.approx(1005)  # 0.5 s apart, for 5 s
    assert str(lost.value) == (
        "worker tuner1: the chief at 127.0.0.1:8000 did not answer (create_trial) within "
        "5 s (--chief_timeout): restart the chief on the same --directory, then this worker "
        "with the same tuner id; finished trials are kept")
    assert isinstance(lost.value, ConnectionError)
    # keras-tuner re-raises a FatalError instead of marking the running trial failed.
    assert isinstance(lost.value, keras_tuner.errors.FatalError)
    # A call that itself waited chief_timeout for the chief: lost at once.
    wrapped = reconnect.ReconnectingClient(
        FlakyClient([grpc.StatusCode.DEADLINE_EXCEEDED]), 5, clock=clock, sleep=sleep)
    with pytest.raises(reconnect.ChiefLost):
        wrapped.create_trial("tuner1")
    # Any other gRPC error is not about the chief being away: raised as it is.
    wrapped = reconnect.ReconnectingClient(
        FlakyClient([grpc.StatusCode.INVALID_ARGUMENT]), 5, clock=clock, sleep=sleep)
    with pytest.raises(RpcError):
        wrapped.create_trial("tuner1")


def test_a_restarted_chief_lets_each_worker_keep_its_trial(tmp_path, monkeypatch):
    def reload_as(role, oracle):
        with monkeypatch.context() as env:  # keras-tuner's chief, or one process
            if role == "chief":
                env.setenv("KERASTUNER_TUNER_ID", "chief")
                env.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
                env.setenv("KERASTUNER_ORACLE_PORT", "8000")
            else:
                env.delenv("KERASTUNER_ORACLE_IP", raising=False)
            oracle.reload()
        return oracle

    clock = Clock()
    oracle = random_oracle(tmp_path, clock, max_trials=3, worker_timeout=10)
    held_by_a = oracle.create_trial("a")
    done_by_b = oracle.create_trial("b")
    finish(oracle, done_by_b, 0.5)
    held_by_b = oracle.create_trial("b")
    oracle.save()
    # The chief is killed and started again on the same directory.
    restarted = reload_as("chief", random_oracle(tmp_path, clock, max_trials=3,
                                                 worker_timeout=10))
    assert restarted._retry_queue == []
    assert {t: trial.trial_id for t, trial in restarted.ongoing_trials.items()} == {
        "a": held_by_a.trial_id, "b": held_by_b.trial_id}
    # Without a timeout, or resumed in one process (no workers to keep anything),
    # keras-tuner's way: the running trials wait in the retry queue.
    plain = reload_as("chief", random_oracle(tmp_path, clock, max_trials=3,
                                             worker_timeout=None))
    assert plain.ongoing_trials == {}
    assert sorted(plain._retry_queue) == sorted([held_by_a.trial_id, held_by_b.trial_id])
    alone = reload_as("one process", random_oracle(tmp_path, clock, max_trials=3,
                                                   worker_timeout=10))
    assert alone.ongoing_trials == {} and len(alone._retry_queue) == 2
    finish(restarted, held_by_b, 0.6)                 # "b" reports to the new chief
    assert restarted.create_trial("b").status == Status.IDLE  # "a" still holds its trial
    clock.now += 10                                    # "a" never comes back
    taken = restarted.create_trial("b")
    assert taken.trial_id == held_by_a.trial_id
    finish(restarted, taken, 0.7)
    assert sorted(restarted.end_order) == sorted(restarted.trials)
    assert restarted.create_trial("b").status == Status.STOPPED


def test_a_restarted_chief_waits_for_a_worker_that_held_nothing_when_it_died(
        tmp_path, monkeypatch):
    """Seen in CI: a worker between two trials when the chief was killed was
    unknown to the restarted chief, which finished the search without it and
    exited; the worker then waited for a chief until --chief_timeout."""
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    clock = Clock()
    oracle = random_oracle(tmp_path, clock, max_trials=2, worker_timeout=10)
    finish(oracle, oracle.create_trial("a"), 0.5)  # "a" now holds nothing
    held_by_b = oracle.create_trial("b")
    oracle.save()
    restarted = random_oracle(tmp_path, clock, max_trials=2, worker_timeout=10)
    restarted.reload()
    assert restarted.tuner_ids == {"a", "b"}
    finish(restarted, held_by_b, 0.6)
    assert restarted.create_trial("b").status == Status.IDLE  # "a" may still ask
    assert restarted.create_trial("a").status == Status.STOPPED  # told, it leaves
    assert restarted.create_trial("b").status == Status.STOPPED
    assert restarted.tuner_ids == set()  # the chief may exit
    again = random_oracle(tmp_path, clock, max_trials=2, worker_timeout=10)
    again.reload()
    assert again.tuner_ids == set()  # those told to stop are not waited for again
    # A known worker that never comes back is dropped after worker_timeout.
    oracle = random_oracle(tmp_path / "2", clock, max_trials=1, worker_timeout=10)
    finish(oracle, oracle.create_trial("a"), 0.5)
    oracle.create_trial("b")  # told to wait: "a" has not asked since
    oracle.save()
    restarted = random_oracle(tmp_path / "2", clock, max_trials=1, worker_timeout=10)
    restarted.reload()
    assert restarted.tuner_ids == {"a", "b"}
    assert restarted.create_trial("b").status == Status.IDLE
    clock.now += 10
    assert restarted.create_trial("b").status == Status.STOPPED
    assert restarted.tuner_ids == set()


def test_a_worker_told_to_wait_that_dies_is_dropped_even_if_no_one_asks(tmp_path):
    clock = Clock()
    oracle = random_oracle(tmp_path, clock, max_trials=2)
    held_by_a, held_by_b = oracle.create_trial("a"), oracle.create_trial("b")
    assert oracle.create_trial("c").status == Status.IDLE  # then "c" dies
    finish(oracle, held_by_a, 0.5)
    assert oracle.create_trial("a").status == Status.IDLE  # "b" still holds a trial
    finish(oracle, held_by_b, 0.6)
    assert oracle.create_trial("b").status == Status.STOPPED
    assert oracle.create_trial("a").status == Status.STOPPED
    assert oracle.tuner_ids == {"c"}  # keras-tuner's chief would wait for "c" forever
    oracle._sweep()
    assert oracle.tuner_ids == {"c"}  # not silent long enough yet
    clock.now += 10
    oracle._sweep()  # what the chief's sweeper thread does every worker_timeout / 4
    assert not oracle.tuner_ids and not oracle.ongoing_trials


def test_a_failed_late_report_of_a_queued_trial_is_not_run_again(tmp_path):
    clock = Clock()
    oracle = random_oracle(tmp_path, clock, max_trials=2)
    held_by_a, held_by_b = oracle.create_trial("a"), oracle.create_trial("b")
    clock.now += 10  # both silent: both trials go back to the queue
    taken = oracle.create_trial("c")
    assert taken.trial_id == held_by_b.trial_id and oracle._retry_queue == ["0"]
    failed = trial_module.Trial(held_by_a.hyperparameters.copy(), trial_id="0",
                                status=Status.FAILED)
    oracle.end_trial(failed)  # "a" was only slow, and its trial failed
    assert oracle._retry_queue == [] and oracle.trials["0"].status == Status.FAILED
    finish(oracle, taken, 0.6)
    assert oracle.create_trial("c").status == Status.STOPPED
    assert oracle.end_order.count("0") == 1


def test_the_new_holder_of_a_trial_ended_by_a_late_report_stays_known(tmp_path):
    clock = Clock()
    oracle = random_oracle(tmp_path, clock, max_trials=1)
    held_by_a = oracle.create_trial("a")
    clock.now += 10
    taken = oracle.create_trial("b")
    finish(oracle, held_by_a, 0.4)  # "a" reports after all; "b" is still training
    for _ in range(3):  # "b" keeps beating; "d" must wait for it, not stop
        clock.now += 8
        oracle.get_trial(taken.trial_id)
        assert oracle.create_trial("d").status == Status.IDLE
    assert "b" in oracle.tuner_ids and oracle.lost == [("a", "0")]
    finish(oracle, taken, 0.9)  # ignored
    assert oracle.create_trial("b").status == Status.STOPPED
    assert oracle.create_trial("d").status == Status.STOPPED
    assert not oracle.tuner_ids and oracle.trials["0"].score == pytest.approx(0.4)


def test_reports_of_a_trial_this_search_does_not_have_are_ignored(tmp_path):
    oracle = random_oracle(tmp_path, Clock(), max_trials=2)
    trial = oracle.create_trial("a")
    stray = trial_module.Trial(trial.hyperparameters.copy(), trial_id="7",
                               status=Status.COMPLETED)
    oracle.end_trial(stray)  # from a worker still on another search: no KeyError
    assert oracle.update_trial("7", {"score": 1.0}).status == Status.STOPPED
    assert oracle.get_trial("7").status == Status.STOPPED
    assert set(oracle.trials) == {trial.trial_id} and oracle.end_order == []


def test_search_finished_when_nothing_is_held_queued_or_left(tmp_path):
    clock = Clock()
    oracle = random_oracle(tmp_path, clock, max_trials=2)
    assert not oracle.search_finished()
    first = oracle.create_trial("a")
    finish(oracle, first, 0.5)
    assert not oracle.search_finished()  # one trial left to hand out
    second = oracle.create_trial("a")
    assert not oracle.search_finished()  # held
    finish(oracle, second, 0.6)
    assert oracle.search_finished()
    fixnorm = FixNormTuneOracle(objective=OBJECTIVE, lr_start=0.2, worker_timeout=30,
                                lr_trials=2, alpha_trials=1, clock=clock)
    fixnorm._set_project_dir(str(tmp_path), "f")
    while not fixnorm.search_finished():
        trial = fixnorm.create_trial("a")
        assert trial.status == Status.RUNNING
        finish(fixnorm, trial, 0.5)
    assert fixnorm.create_trial("a").status == Status.STOPPED


class ServingClient:
    """An OracleClient stand-in: the chief serves these searches in turn, one per probe."""

    def __init__(self, serving):
        self.serving, self.sent = list(serving), []
        hp = keras_tuner.HyperParameters()
        hp.Float("x", 0.0, 1.0)
        self._oracle = type("Local", (), {"hyperparameters": hp})()

    def get_trial(self, trial_id):
        if trial_id == leases.SEARCH_PROBE:
            name = self.serving.pop(0) if len(self.serving) > 1 else self.serving[0]
            return trial_module.Trial(None, trial_id=name, status=Status.IDLE)
        self.sent.append(("get_trial", trial_id))
        return trial_module.Trial(None, trial_id=trial_id, status=Status.RUNNING)

    def create_trial(self, tuner_id):
        self.sent.append(("create_trial", tuner_id))
        return trial_module.Trial(None, trial_id="0", status=Status.RUNNING)

    def end_trial(self, trial):
        self.sent.append(("end_trial", trial.trial_id))


class CutServingClient(ServingClient):
    """Its first create_trial is cut by the chief's server stopping."""

    def create_trial(self, tuner_id):
        self.sent.append(("create_trial", tuner_id))
        if len(self.sent) == 1:
            raise RpcError(grpc.StatusCode.CANCELLED)
        return trial_module.Trial(None, trial_id="0", status=Status.RUNNING)


def test_a_worker_waits_for_its_search_and_skips_those_the_chief_has_finished(reconnect):
    clock, reconnected = Clock(), []

    def sleep(seconds):
        clock.now += seconds

    def new_connection(old):
        reconnected.append(old)
        return old

    order = ["fixnorm_seed0", "random_seed0", "fixnorm_seed1"]
    # The chief still winds down the search before ours: wait, on new connections.
    client = ServingClient(["fixnorm_seed0", "fixnorm_seed0", "random_seed0"])
    wrapped = reconnect.ReconnectingClient(client, 30, search="random_seed0", searches=order,
                                           clock=clock, sleep=sleep, reconnect=new_connection)
    assert wrapped.create_trial("tuner0").status == Status.RUNNING
    assert client.sent == [("create_trial", "tuner0")] and len(reconnected) == 2
    # The chief (restarted) serves a later search: ours is over; answered here.
    client = ServingClient(["fixnorm_seed1"])
    wrapped = reconnect.ReconnectingClient(client, 30, search="random_seed0", searches=order,
                                           clock=clock, sleep=sleep, reconnect=new_connection)
    assert wrapped.this_search_is_over()
    assert wrapped.create_trial("tuner0").status == Status.STOPPED
    assert wrapped.get_trial("3").status == Status.STOPPED
    assert wrapped.end_trial(trial_module.Trial(None, trial_id="3")) is None
    assert client.sent == []  # nothing of ours reached another search
    # A call cut as the chief ended our search (CANCELLED) is not resent to the
    # next search: the probe after the failure says ours is over.
    client = CutServingClient(["random_seed0", "fixnorm_seed1"])
    wrapped = reconnect.ReconnectingClient(client, 30, search="random_seed0", searches=order,
                                           clock=clock, sleep=sleep, reconnect=new_connection)
    assert wrapped.create_trial("tuner0").status == Status.STOPPED
    assert client.sent == [("create_trial", "tuner0")]  # the cut call, sent once
    # A search the worker does not know, for chief_timeout: one clear error.
    client = ServingClient(["bo_wd_seed7"])
    wrapped = reconnect.ReconnectingClient(client, 5, search="random_seed0", searches=order,
                                           clock=clock, sleep=sleep, reconnect=new_connection)
    with pytest.raises(reconnect.ChiefLost, match=r"the chief serves search 'bo_wd_seed7', "
                       r"not 'random_seed0', after 5 s \(--chief_timeout\): start every "
                       r"process with the same --compare, --seeds and flags"):
        wrapped.create_trial("tuner0")
