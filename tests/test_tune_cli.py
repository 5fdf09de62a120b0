"""The tuner CLI as a user runs it: compare, bad input, kill-and-resume, chief and workers."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.binaries import (ROOT, clean_env, free_ports, kill_left, run_together, start_logged,
                            wait_until)

# One epoch of 3 steps: seconds per trial, enough to exercise the machinery.
FAST = ["--recipe=digits_tune", "--epochs=1", "--steps_per_epoch=3"]
LIVE = re.compile(r"^\[(\w+) seed (\d+)\] trial (\d+) ")


def command(*flags):
    return [sys.executable, "-m", "fixnorm_experiments.cli.tune", *flags]


def run(*flags, timeout=300, **extra_env):
    return subprocess.run(command(*flags), cwd=ROOT, env=clean_env(**extra_env),
                          capture_output=True, text=True, timeout=timeout)


def live_lines(stdout):
    return [LIVE.match(line).groups() for line in stdout.splitlines() if LIVE.match(line)]


def results(directory):
    with open(os.path.join(directory, "digits_tune", "results.json"), encoding="utf-8") as f:
        return json.load(f)


def test_compare_prints_trials_table_and_plots(tmp_path):
    out = str(tmp_path / "t")
    result = run(*FAST, "--compare=fixnorm,random", "--seeds=0,1", "--max_trials=2",
                 f"--directory={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = live_lines(result.stdout)
    assert [(m, s) for m, s, _ in lines] == (
        [("fixnorm", "0")] * 2 + [("random", "0")] * 2 + [("fixnorm", "1")] * 2
        + [("random", "1")] * 2)
    r = results(out)
    assert [(run["method"], run["seed"]) for run in r["runs"]] == [
        ("fixnorm", 0), ("random", 0), ("fixnorm", 1), ("random", 1)]
    for run_record in r["runs"]:
        assert len(run_record["trials"]) == 2
        for trial in run_record["trials"]:
            assert trial["status"] == "COMPLETED" and 0.0 <= trial["score"] <= 1.0
        names = {"fixnorm": {"lr", "alpha"}, "random": {"lr", "weight_decay"}}
        assert set(run_record["trials"][0]["values"]) == names[run_record["method"]]
    fixnorm = r["runs"][0]["trials"]
    assert [t["stage"] for t in fixnorm] == ["lr"] * 2
    # The recipe's reference lr and fixnorm alpha start it.
    assert fixnorm[0]["values"] == {"lr": 0.2, "alpha": 4.0}
    assert (r["lr_start"], r["alpha_start"]) == (0.2, 4.0)
    # The summary table: one row per method, and the plots' paths.
    assert re.search(r"^fixnorm\s+2\s+\d\.\d{4} \+- \d\.\d{4}", result.stdout, re.M)
    assert re.search(r"^random\s+2\s+", result.stdout, re.M)
    assert "within 0.0020 of the best score any method found" in result.stdout
    # The last line says what the comparison found.
    last = result.stdout.strip().splitlines()[-1]
    assert re.match(r"Against the target \d\.\d{4} \(within 0\.002 of the best score any "
                    r"method found\), fixnorm reached it .* the fastest other method, random, "
                    r".* seed noise", last), last
    for name in ("best_so_far.png", "landscape.png"):
        path = os.path.join(out, "digits_tune", name)
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert path in result.stdout


def test_the_peers_run_on_the_same_training_code(tmp_path):
    """Each method a user would pick instead of FixNorm-tune runs its trials, searching
    its own knobs, and prints no third-party warnings."""
    out = str(tmp_path / "t")
    result = run(*FAST, "--compare=bo_wd_default,optuna_tpe,optuna_gp,no_decay", "--seeds=0",
                 "--max_trials=2", "--noplots", f"--directory={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    runs = {r["method"]: r["trials"] for r in results(out)["runs"]}
    assert list(runs) == ["bo_wd_default", "optuna_tpe", "optuna_gp", "no_decay"]
    for method, trials in runs.items():
        assert [t["status"] for t in trials] == ["COMPLETED"] * 2, method
        knobs = {"lr"} if method == "no_decay" else {"lr", "weight_decay"}
        assert all(set(t["values"]) == knobs for t in trials), method
        assert trials[0]["values"] != trials[1]["values"], method
    # no_decay: FixNorm-tune's line search from the recipe's reference lr, x4 brackets.
    assert [t["values"]["lr"] for t in runs["no_decay"]] == [0.2, 0.8]
    for method in runs:
        assert re.search(rf"^{method}\s+1\s+\d\.\d{{4}} \+- ", result.stdout, re.M), method
    assert not re.search(r"\w+Warning: ", result.stdout + result.stderr)  # none printed
    # Nor TensorFlow's load-time C++ lines: they went to warnings.log, and are counted.
    native = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog", re.M)
    assert not native.search(result.stderr), result.stderr[-2000:]
    with open(os.path.join(out, "digits_tune", "warnings.log"), encoding="utf-8") as f:
        logged = len(native.findall(f.read()))
    if logged:
        assert re.search(r"TensorFlow C\+\+ log line x\d+", result.stdout)


@pytest.mark.parametrize("flags, message", [
    (["--recipe=nope"], "unknown recipe 'nope'"),
    (["--compare=fixnorm,bogus"], "unknown method 'bogus'"),
    (["--compare=fixnorm,fixnorm"], "lists a method twice"),
    (["--seeds=a"], "--seeds must be integers"),
    (["--max_trials=0"], "--max_trials must be >= 1"),
    (["--lr_range=1,0.1"], "--lr_range must satisfy 0 < low < high"),
    (["--lr_start=100"], "outside --lr_range"),
    (["--alpha_start=0"], "outside --alpha_range"),
    (["--recipe=efficientnet_b0_350", "--method=reference"], "has no reference settings"),
    (["--recipe=resnet50_d_120"], "needs --data_dir"),
    (["--directory={out}/keep.txt"], "is a file: give a directory"),
])
def test_bad_input_is_one_error_line_and_writes_nothing(tmp_path, flags, message):
    out = tmp_path / "t"
    out.mkdir()
    (out / "keep.txt").write_text("earlier work")
    flags = [flag.format(out=out) for flag in flags]
    if not any(flag.startswith("--directory=") for flag in flags):
        flags.append(f"--directory={out}")
    result = run(*flags, timeout=120)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr[-2000:]
    assert sorted(os.listdir(out)) == ["keep.txt"]


@pytest.mark.fault
def test_killed_search_resumes_without_losing_or_rerunning_trials(tmp_path):
    out = str(tmp_path / "t")
    flags = [*FAST, "--method=fixnorm", "--max_trials=6", f"--directory={out}"]
    process = subprocess.Popen(command(*flags), cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    finished = []
    try:
        for line in process.stdout:
            if LIVE.match(line):
                finished.append(int(LIVE.match(line).group(3)))
            if len(finished) == 3:
                process.send_signal(signal.SIGKILL)
                break
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert finished == [1, 2, 3]
    before = {}
    for trial_dir in sorted(os.listdir(os.path.join(out, "digits_tune", "fixnorm_seed0"))):
        path = os.path.join(out, "digits_tune", "fixnorm_seed0", trial_dir, "trial.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                trial = json.load(f)
            if trial["status"] == "COMPLETED":
                before[trial["trial_id"]] = trial["score"]
    assert len(before) >= 3

    result = run(*flags)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming: {len(before)}" in result.stdout or "resuming:" in result.stdout
    rerun = [int(n) for _, _, n in live_lines(result.stdout)]
    completed_before = {int(t) + 1 for t in before}
    assert not completed_before & set(rerun), "a finished trial ran again"
    trials = results(out)["runs"][0]["trials"]
    assert [t["index"] for t in trials] == list(range(1, 7))
    assert sorted(completed_before | set(rerun)) == list(range(1, 7))
    for t in trials:
        if t["trial_id"] in before:
            assert t["score"] == pytest.approx(before[t["trial_id"]])
    values = [tuple(sorted(t["values"].items())) for t in trials]
    assert len(set(values)) == len(values)


@pytest.mark.fault
def test_chief_and_two_workers_run_every_trial_once(tmp_path):
    out = str(tmp_path / "t")
    flags = [*FAST, "--method=fixnorm", "--max_trials=6", f"--directory={out}"]
    common = dict(KERASTUNER_ORACLE_IP="127.0.0.1",
                  KERASTUNER_ORACLE_PORT=str(free_ports(1)[0]))
    finished = run_together(command(*flags), [
        clean_env(KERASTUNER_TUNER_ID=tuner_id, **common)
        for tuner_id in ("chief", "tuner0", "tuner1")], timeout=240)
    outputs = [text for _, text in finished]
    assert all(returncode == 0 for returncode, _ in finished), \
        "\n---\n".join(text[-2000:] for text in outputs)
    ran = [sorted(int(n) for _, _, n in live_lines(o)) for o in outputs[1:]]
    assert all(ran), f"each worker should run trials, got {ran}"
    every = sorted(ran[0] + ran[1])
    assert every == list(range(1, 7)), f"every trial exactly once, got {ran}"
    trials = results(out)["runs"][0]["trials"]
    assert len(trials) == 6 and all(t["status"] == "COMPLETED" for t in trials)
    assert "within 0.0020" in outputs[0]


@pytest.mark.fault
def test_a_lost_worker_does_not_hang_the_search(tmp_path):
    """A worker killed after its first trial, never restarted: after --worker_timeout
    its trial goes to the other worker, and the search finishes with every trial
    completed once."""
    out = str(tmp_path / "t")
    flags = [*FAST, "--method=random", "--max_trials=6", "--worker_timeout=5",
             f"--directory={out}"]
    common = dict(KERASTUNER_ORACLE_IP="127.0.0.1",
                  KERASTUNER_ORACLE_PORT=str(free_ports(1)[0]))
    logs = {name: tmp_path / f"{name}.log" for name in ("chief", "tuner0", "tuner1")}
    processes = {name: start_logged(command(*flags), clean_env(KERASTUNER_TUNER_ID=name,
                                                               **common), log)
                 for name, log in logs.items()}
    try:
        wait_until(lambda: live_lines(logs["tuner1"].read_text()), 180,
                   "tuner1's first trial")
        processes["tuner1"].send_signal(signal.SIGKILL)
        for name in ("tuner0", "chief"):
            assert processes[name].wait(timeout=180) == 0, logs[name].read_text()[-3000:]
    finally:
        kill_left(processes.values())
    chief, survivor = logs["chief"].read_text(), logs["tuner0"].read_text()
    lost = re.search(r"^worker tuner1 silent for \d+ s \(worker_timeout 5 s\): "
                     r"(trial (\d+) goes to the next worker|it held no trial)", chief, re.M)
    assert lost, chief[-3000:]
    ran = {"tuner0": [int(n) for _, _, n in live_lines(survivor)],
           "tuner1": [int(n) for _, _, n in live_lines(logs["tuner1"].read_text())]}
    assert len(ran["tuner1"]) == 1
    assert sorted(ran["tuner0"] + ran["tuner1"]) == list(range(1, 7)), ran
    if lost.group(2) is not None:  # it held a trial: the survivor ran it
        assert int(lost.group(2)) + 1 in ran["tuner0"]
    trials = results(out)["runs"][0]["trials"]
    assert [t["status"] for t in trials] == ["COMPLETED"] * 6
    assert len({tuple(sorted(t["values"].items())) for t in trials}) == 6


def start_cluster(tmp_path, flags, names):
    """Start the chief and workers ``names`` of one search; their Popens and logs."""
    common = dict(KERASTUNER_ORACLE_IP="127.0.0.1",
                  KERASTUNER_ORACLE_PORT=str(free_ports(1)[0]))
    logs = {name: tmp_path / f"{name}.log" for name in names}
    environments = {name: clean_env(KERASTUNER_TUNER_ID=name.split("_")[0], **common)
                    for name in names}
    processes = {name: start_logged(command(*flags), environments[name], logs[name])
                 for name in names}
    return processes, logs, environments


@pytest.mark.fault
def test_a_killed_chief_restarted_resumes_the_search(tmp_path):
    """The chief SIGKILLed after the first finished trial and started again: the
    workers wait for it, the search goes on, and no trial is lost or run twice."""
    out = str(tmp_path / "t")
    flags = [*FAST, "--method=fixnorm", "--max_trials=6", "--chief_timeout=120",
             f"--directory={out}"]
    processes, logs, environments = start_cluster(tmp_path, flags, ("chief", "tuner0",
                                                                    "tuner1"))
    try:
        wait_until(lambda: live_lines(logs["tuner0"].read_text())
                   or live_lines(logs["tuner1"].read_text()), 180, "a first finished trial")
        processes["chief"].send_signal(signal.SIGKILL)
        processes["chief"].wait(timeout=30)
        time.sleep(2)  # the workers find it gone
        logs["chief_again"] = tmp_path / "chief_again.log"
        processes["chief_again"] = start_logged(command(*flags), environments["chief"],
                                                logs["chief_again"])
        for name in ("tuner0", "tuner1", "chief_again"):
            assert processes[name].wait(timeout=180) == 0, logs[name].read_text()[-3000:]
    finally:
        kill_left(processes.values())
    assert "resuming:" in logs["chief_again"].read_text()
    ran = [int(n) for name in ("tuner0", "tuner1")
           for _, _, n in live_lines(logs[name].read_text())]
    assert sorted(ran) == list(range(1, 7)), f"every trial exactly once, got {ran}"
    trials = results(out)["runs"][0]["trials"]
    assert [t["status"] for t in trials] == ["COMPLETED"] * 6
    for name in ("tuner0", "tuner1"):
        assert "Traceback" not in logs[name].read_text()


@pytest.mark.fault
def test_a_worker_that_loses_the_chief_for_good_exits_with_one_line(tmp_path):
    out = str(tmp_path / "t")
    flags = [*FAST, "--method=random", "--max_trials=20", "--chief_timeout=4",
             f"--directory={out}"]
    processes, logs, _ = start_cluster(tmp_path, flags, ("chief", "tuner0"))
    try:
        wait_until(lambda: live_lines(logs["tuner0"].read_text()), 180, "a finished trial")
        processes["chief"].send_signal(signal.SIGKILL)
        assert processes["tuner0"].wait(timeout=120) != 0
    finally:
        kill_left(processes.values())
    output = logs["tuner0"].read_text()
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "did not answer" in errors[0] and \
        "within 4 s (--chief_timeout): restart the chief" in errors[0], output[-3000:]
    assert "Traceback" not in output


@pytest.mark.fault
def test_distributed_compare_completes_every_search_once(tmp_path):
    """--compare under chief/worker mode, one port: the searches run one after
    another, each trial of each completes once, and the chief prints the table;
    the chief killed during the second search and started again skips the first,
    finished search and resumes the second."""
    out = str(tmp_path / "t")
    flags = [*FAST, "--compare=fixnorm,random", "--seeds=0", "--max_trials=3",
             "--chief_timeout=120", f"--directory={out}"]
    processes, logs, environments = start_cluster(tmp_path, flags, ("chief", "tuner0",
                                                                    "tuner1"))
    try:
        wait_until(lambda: any(m == "random" for name in ("tuner0", "tuner1")
                               for m, _, _ in live_lines(logs[name].read_text())), 240,
                   "a finished trial of the second search")
        processes["chief"].send_signal(signal.SIGKILL)
        processes["chief"].wait(timeout=30)
        logs["chief_again"] = tmp_path / "chief_again.log"
        processes["chief_again"] = start_logged(command(*flags), environments["chief"],
                                                logs["chief_again"])
        for name in ("tuner0", "tuner1", "chief_again"):
            assert processes[name].wait(timeout=240) == 0, logs[name].read_text()[-3000:]
    finally:
        kill_left(processes.values())
    ran = {}
    for name in ("tuner0", "tuner1"):
        for method, seed, n in live_lines(logs[name].read_text()):
            ran.setdefault((method, int(seed)), []).append(int(n))
    expected = [("fixnorm", 0), ("random", 0)]
    assert sorted(ran) == sorted(expected)
    for key, numbers in ran.items():
        assert sorted(numbers) == [1, 2, 3], (key, numbers)
    chief = logs["chief_again"].read_text()
    assert "[fixnorm seed 0] finished already" in chief
    r = results(out)
    assert [(run["method"], run["seed"]) for run in r["runs"]] == expected
    for run in r["runs"]:
        assert [t["status"] for t in run["trials"]] == ["COMPLETED"] * 3
    assert re.search(r"^fixnorm\s+1\s+\d\.\d{4} \+- ", chief, re.M)
    assert re.search(r"^random\s+1\s+\d\.\d{4} \+- ", chief, re.M)


def tune_flags(**given):
    """fixnorm-tune's flag defaults, with ``given`` changed, as parsed flags."""
    from fixnorm_experiments.cli import tune

    return tune.DEFINE.defaults(**given)


@pytest.mark.parametrize("given, expected", [({}, 4.0), ({"alpha_start": 0.5}, 0.5)])
def test_alpha_start_defaults_to_the_recipes_alpha(given, expected):
    from fixnorm_experiments import recipes
    from fixnorm_experiments.cli.tune import make_config

    assert recipes.get("digits_tune").fixnorm.alpha == 4.0
    tune_config = make_config(tune_flags(recipe="digits_tune", **given))
    assert (tune_config.lr_start, tune_config.alpha_start) == (0.2, expected)


def test_objective_defaults_to_the_tasks_and_refuses_what_it_cannot_score():
    from fixnorm_experiments.cli.tune import make_config

    assert make_config(tune_flags()).objective == "val_accuracy"
    dense = make_config(tune_flags(recipe="cityscapes_deeplab_v3_40k"))
    assert (dense.objective, dense.direction) == ("val_metric", "max")
    assert make_config(tune_flags(objective="val_loss")).direction == "min"
    with pytest.raises(ValueError, match="use --objective=val_metric or val_loss"):
        make_config(tune_flags(recipe="cityscapes_deeplab_v3_40k", objective="val_accuracy"))


def test_the_main_job_in_the_makefile_is_a_valid_command(tmp_path):
    """`make compare` runs what the README and BENCHMARKS.md say it runs."""
    import shlex

    from fixnorm_experiments.cli import tune

    with open(os.path.join(ROOT, "Makefile"), encoding="utf-8") as f:
        target = f.read().split("\ncompare:", 1)[1].split("\n\n", 1)[0]
    line = " ".join(target.replace("\\\n", " ").split("\n")[1:])
    argv = [a for a in shlex.split(line.split("fixnorm-tune", 1)[1]) if "$(" not in a]
    values = tune.DEFINE.values
    try:
        values(["fixnorm-tune", *argv])
        config = tune.make_config(values, argv)
    finally:
        values.unparse_flags()
    assert config.recipe.name == "digits_bench" and config.validation_fraction == 0.4
    assert config.methods == ("fixnorm", "bo_wd", "optuna_tpe")
    assert config.seeds == (0, 1, 2) and config.margin == 0.01 and config.max_trials is None
