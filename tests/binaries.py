"""What the end-to-end tests of the binaries share.

Running a binary in a clean environment, reading its error lines and
metrics, killing it once its backup reaches a point, and starting workers on
free local ports.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Variables that would make a test process join someone else's cluster.
CLUSTER_VARIABLES = ("TF_CONFIG", "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP",
                     "KERASTUNER_ORACLE_PORT")


def clean_env(**extra):
    """This process's environment, quiet, with the repository importable and no cluster."""
    environment = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    for name in CLUSTER_VARIABLES:
        environment.pop(name, None)
    environment.update(extra)
    return environment


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def read_metrics(model_dir):
    with open(os.path.join(model_dir, "metrics.json"), encoding="utf-8") as f:
        return json.load(f)


def kill_after_backup(command, model_dir, epoch, timeout):
    """Start ``command``; SIGKILL it once its BackupAndRestore backup reaches ``epoch``.

    Fails the test if it finishes first or no such backup appears in time.
    """
    metadata = os.path.join(model_dir, "backup", "training_metadata.json")
    process = subprocess.Popen(command, cwd=ROOT, env=clean_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            if os.path.exists(metadata):
                try:
                    with open(metadata, encoding="utf-8") as f:
                        if json.load(f)["epoch"] >= epoch:
                            break
                except (ValueError, OSError):
                    pass  # being written
            assert process.poll() is None, "finished before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail(f"no backup after {timeout} s")
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()


def backup_epoch(model_dir):
    """The loop a run's backup under ``model_dir`` holds (0: none yet): BackupAndRestore's
    metadata (``fit``), or the custom loop's checkpoint, one per loop (``ckpt-N``)."""
    backup = os.path.join(model_dir, "backup")
    try:
        with open(os.path.join(backup, "training_metadata.json"), encoding="utf-8") as f:
            return json.load(f)["epoch"]
    except (OSError, ValueError, KeyError):
        pass  # none, or being written
    try:
        with open(os.path.join(backup, "checkpoint"), encoding="utf-8") as f:
            found = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', f.read(), re.M)
        return int(found.group(1)) if found else 0
    except OSError:
        return 0


def kill_workers_after_backup(command, environments, model_dir, epoch, timeout, logs):
    """Start one process per environment; once the chief's backup reaches ``epoch``,
    SIGKILL the last worker, then (as a launcher tears a job down) the others."""
    processes = [start_logged(command, environment, log)
                 for environment, log in zip(environments, logs)]
    try:
        wait_until(lambda: backup_epoch(model_dir) >= epoch or any(
            p.poll() is not None for p in processes), timeout, f"a backup of epoch {epoch}")
        assert all(p.poll() is None for p in processes), "a worker ended before the kill"
        for process in reversed(processes):
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        kill_left(processes)


def free_ports(n):
    """``n`` distinct local ports free at the time of the call."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_together(command, environments, timeout):
    """Run ``command`` once per environment, all at once; ``[(returncode, output)]``."""
    processes = [subprocess.Popen(command, cwd=ROOT, env=environment, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for environment in environments]
    deadline = time.monotonic() + timeout
    try:
        outputs = [p.communicate(timeout=max(1, deadline - time.monotonic()))[0]
                   for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    return [(p.returncode, out) for p, out in zip(processes, outputs)]


def start_logged(command, environment, log_path):
    """Start ``command`` with stdout and stderr going to ``log_path``; the Popen."""
    with open(log_path, "w", encoding="utf-8") as log:
        return subprocess.Popen(command, cwd=ROOT, env=environment, text=True, stdout=log,
                                stderr=subprocess.STDOUT)


def kill_left(processes):
    """SIGKILL every process still running (a failed test leaves none behind)."""
    for process in processes:
        if process.poll() is None:
            process.kill()


def wait_until(condition, timeout, what):
    """Poll ``condition()`` every 0.1 s until it is true; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def worker_environments(n):
    """Environments for ``n`` MultiWorkerMirroredStrategy workers on free local ports."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(n)]}
    return [clean_env(TF_CONFIG=json.dumps({"cluster": cluster,
                                            "task": {"type": "worker", "index": i}}))
            for i in range(n)]
