"""Tuning reports: scores, summaries, tables, plots and results files."""

import ast
import builtins
import json
import math
import os
import re

import numpy as np
import pytest

from fixnorm_experiments import report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_run(method, seed, scores, names=("lr", "alpha"), statuses=None):
    """A run record whose trial i (0-based) has lr 0.05 * 2**i and the second
    value 2**(i-2) (alpha) or 1e-4 * 2**i (weight_decay); None: failed."""
    trials = []
    for i, score in enumerate(scores):
        status = "COMPLETED" if score is not None else "FAILED"
        if statuses is not None:
            status = statuses[i]
        second = 2.0 ** (i - 2) if names[1] == "alpha" else 1e-4 * 2 ** i
        trials.append({
            "trial_id": f"{i:02d}", "index": i + 1, "status": status, "score": score,
            "values": {names[0]: 0.05 * 2 ** i, names[1]: second},
            "stage": ("lr" if i < 3 else "alpha") if names[1] == "alpha" else None,
            "seconds": 1.5 + i,
        })
    return {"method": method, "seed": seed, "trials": trials, "seconds": 2.0 * len(scores)}


FIXNORM_SCORES = {
    0: [0.90, 0.95, None, 0.97, 0.9785],   # reaches 0.978 at trial 5
    1: [0.92, 0.979, 0.96],                # at trial 2; best of fixnorm
    2: [0.50, None, 0.96, 0.97],           # never
}
RANDOM_SCORES = {
    0: [0.96, 0.98, 0.97],                 # best overall 0.98, reached at 2
    1: [0.95, 0.96],                       # never
    2: [None, 0.979],                      # at 2
}


def make_results(direction="max", margin=0.002):
    runs = [make_run("fixnorm", seed, scores) for seed, scores in FIXNORM_SCORES.items()]
    runs += [make_run("random", seed, scores, names=("lr", "weight_decay"))
             for seed, scores in RANDOM_SCORES.items()]
    runs.append(make_run("reference", 0, [0.955], names=("lr", "weight_decay")))
    return {"recipe": "digits_tune", "objective": "val_accuracy", "direction": direction,
            "margin": margin, "runs": runs, "command": "fixnorm-tune --test",
            "machine": "test", "created": "2026-11-24T12:00:00"}


def negated(results):
    """The same results as a minimized objective (scores negated)."""
    results = json.loads(json.dumps(results))
    results["direction"] = "min"
    results["objective"] = "val_loss"
    for run in results["runs"]:
        for trial in run["trials"]:
            if trial["score"] is not None:
                trial["score"] = -trial["score"]
    return results


# --- scores -----------------------------------------------------------------


def test_best_so_far_max_with_failures():
    assert report.best_so_far([None, 0.5, None, 0.4, 0.7, None]) == [
        None, 0.5, 0.5, 0.5, 0.7, 0.7]
    assert report.best_so_far([]) == []
    assert report.best_so_far([None, None]) == [None, None]
    assert report.best_so_far([0.3, float("nan"), 0.2]) == [0.3, 0.3, 0.3]


def test_best_so_far_min():
    assert report.best_so_far([None, 3.0, None, 5.0, 2.0, 2.5], "min") == [
        None, 3.0, 3.0, 3.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="direction"):
        report.best_so_far([1.0], "maximize")


def test_trials_to_reach():
    scores = [0.5, None, 0.8, 0.7, 0.9]
    assert report.trials_to_reach(scores, 0.8) == 3
    assert report.trials_to_reach(scores, 0.85) == 5
    assert report.trials_to_reach(scores, 0.5) == 1
    assert report.trials_to_reach(scores, 0.95) is None
    assert report.trials_to_reach([None, None], 0.1) is None
    assert report.trials_to_reach(scores, None) is None
    losses = [2.0, None, 1.5, 1.7, 1.0]
    assert report.trials_to_reach(losses, 1.5, "min") == 3
    assert report.trials_to_reach(losses, 1.2, "min") == 5
    assert report.trials_to_reach(losses, 0.9, "min") is None


def test_best_trial_ties_failures_and_direction():
    run = make_run("fixnorm", 0, [0.7, 0.9, None, 0.9, 0.2])
    assert report.best_trial(run)["index"] == 2          # tie: earliest
    assert report.best_trial(run, "min")["index"] == 5
    assert report.best_trial(make_run("x", 0, [None, None])) is None
    # An INVALID trial's score does not count.
    invalid = make_run("x", 0, [0.5, 0.99], statuses=["COMPLETED", "INVALID"])
    assert report.best_trial(invalid)["index"] == 1
    # Trials are taken in index order even if stored out of order.
    shuffled = dict(run, trials=list(reversed(run["trials"])))
    assert report.best_trial(shuffled)["index"] == 2


# --- summary ----------------------------------------------------------------


def test_summarize_two_methods_three_seeds():
    summary = report.summarize(make_results())
    assert [entry["method"] for entry in summary] == ["fixnorm", "random", "reference"]
    fixnorm, random, reference = summary
    for entry in summary:
        assert entry["target"] == pytest.approx(0.98 - 0.002)
    assert fixnorm["seeds"] == [0, 1, 2]
    assert fixnorm["best_scores"] == [0.9785, 0.979, 0.97]
    assert fixnorm["trials_to_target"] == [5, 2, None]
    # Unreached counts as +inf: median of (2, 5, inf) is 5, not 3.5.
    assert fixnorm["trials_to_target_median"] == 5
    assert fixnorm["reached"] == 2
    assert fixnorm["best_mean"] == pytest.approx(np.mean([0.9785, 0.979, 0.97]))
    assert fixnorm["best_std"] == pytest.approx(np.std([0.9785, 0.979, 0.97], ddof=1))
    assert fixnorm["trials_mean"] == pytest.approx(4.0)
    assert fixnorm["best_values"] == {"lr": 0.1, "alpha": 0.5}   # seed 1, trial 2
    assert fixnorm["best_seed"] == 1

    assert random["trials_to_target"] == [2, None, 2]
    assert random["trials_to_target_median"] == 2
    assert random["reached"] == 2
    assert random["best_std"] == pytest.approx(np.std([0.98, 0.96, 0.979], ddof=1))
    assert random["trials_mean"] == pytest.approx(7 / 3)
    assert random["best_values"] == {"lr": 0.1, "weight_decay": 2e-4}

    assert reference["trials_to_target"] == [None]
    assert reference["trials_to_target_median"] is None     # median unreached
    assert reference["reached"] == 0
    assert reference["best_std"] == 0.0                      # one seed
    assert reference["best_mean"] == pytest.approx(0.955)


def test_summarize_min_direction_matches_max():
    maximized = report.summarize(make_results())
    minimized = report.summarize(negated(make_results()))
    for high, low in zip(maximized, minimized):
        assert low["target"] == pytest.approx(-high["target"])     # -0.98 + 0.002
        assert low["trials_to_target"] == high["trials_to_target"]
        assert low["trials_to_target_median"] == high["trials_to_target_median"]
        assert low["best_mean"] == pytest.approx(-high["best_mean"])
        assert low["best_std"] == pytest.approx(high["best_std"])
        assert low["best_values"] == high["best_values"]


def test_summarize_median_even_seeds_and_nothing_completed():
    results = {"direction": "max", "margin": 0.0, "runs": [
        make_run("a", 0, [0.5, 0.9]), make_run("a", 1, [0.9, 0.1, 0.1]),
        make_run("b", 0, [None]), make_run("b", 1, [None, None])]}
    a, b = report.summarize(results)
    assert a["trials_to_target"] == [2, 1]
    assert a["trials_to_target_median"] == 1.5
    assert b["best_scores"] == [None, None]
    assert b["best_mean"] is None and b["best_std"] is None and b["best_values"] is None
    assert b["trials_to_target_median"] is None and b["reached"] == 0
    nothing = report.summarize({"direction": "max", "runs": [make_run("b", 0, [None])]})
    assert nothing[0]["target"] is None


# --- text -------------------------------------------------------------------


def test_format_value():
    assert report.format_value("lr", 0.35) == "0.35"
    assert report.format_value("lr", 0.0012) == "1.2e-03"
    assert report.format_value("lr", 0.001) == "1e-03"
    assert report.format_value("alpha", 4.0) == "4"
    assert report.format_value("alpha", 0.5) == "0.5"
    assert report.format_value("alpha", 2.0 ** -7) == "2^-7"
    assert report.format_value("alpha", 3.0) == "3"
    assert report.format_value("weight_decay", 5e-4) == "5e-04"
    assert report.format_value("weight_decay", 1.5e-4) == "1.5e-04"
    assert report.format_value("weight_decay", 0.0) == "0"
    assert report.format_value("lr", None) == "-"


def assert_aligned(table):
    """Every row's cells lie inside the column spans of the dash rule."""
    lines = table.splitlines()
    spans = [match.span() for match in re.finditer(r"-+", lines[1])]
    for line in [lines[0]] + lines[2:]:
        cells = [line[start:end].strip() for start, end in spans]
        assert " ".join(cell for cell in cells if cell).split() == line.split(), line
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert line[end:start].strip() == "", line
    return lines, spans


def table_cells(table):
    lines, spans = assert_aligned(table)
    header = [lines[0][start:end].strip() for start, end in spans]
    return [dict(zip(header, (line[start:end].strip() for start, end in spans)))
            for line in lines[2:]]


def test_format_trial_table_marks_best_and_failed():
    run = make_run("fixnorm", 0, FIXNORM_SCORES[0])
    table = report.format_trial_table(run)
    print(table)
    lines = table.splitlines()
    assert lines[0].split() == ["#", "trial", "stage", "lr", "alpha", "score", "best"]
    rows = table_cells(table)
    assert len(rows) == 5
    starred = [row["trial"] for row in rows if row["best"] == "*"]
    assert starred == ["04"]                                  # score 0.9785
    assert rows[4]["score"] == "0.9785"
    assert rows[2]["score"] == "failed" and rows[2]["trial"] == "02"
    assert rows[0]["stage"] == "lr" and rows[4]["stage"] == "alpha"
    assert rows[1]["lr"] == "0.1" and rows[0]["alpha"] == "0.25"
    assert table.count("*") == 1

    minimized = table_cells(report.format_trial_table(run, "min"))
    assert [row["trial"] for row in minimized if row["best"] == "*"] == ["00"]


def test_format_trial_table_weight_decay_and_no_stage():
    run = make_run("random", 2, RANDOM_SCORES[2], names=("lr", "weight_decay"))
    table = report.format_trial_table(run)
    assert table.splitlines()[0].split() == [
        "#", "trial", "stage", "lr", "weight_decay", "score", "best"]
    rows = table_cells(table)
    assert [row["stage"] for row in rows] == ["", ""]
    assert rows[1]["weight_decay"] == "2e-04" and rows[1]["best"] == "*"
    assert rows[0]["score"] == "failed" and rows[0]["best"] == ""


def test_trial_line():
    run = make_run("fixnorm", 0, [0.95, 0.9733, 0.90, 0.9712])
    line = report.trial_line(run, run["trials"][3])
    assert line == ("[fixnorm seed 0] trial 4  lr=0.4 alpha=2  score 0.9712  "
                    "best 0.9733 (trial 2)  4.5 s")
    # The best so far ignores trials that started later.
    assert "best 0.9500 (trial 1)" in report.trial_line(run, run["trials"][0])
    failed = make_run("fixnorm", 1, [None, 0.8])
    line = report.trial_line(failed, failed["trials"][0])
    assert "failed" in line and "score" not in line and "best -" in line
    # A trial not yet in the run's list still counts.
    partial = dict(run, trials=run["trials"][:2])
    assert "best 0.9733 (trial 2)" in report.trial_line(partial, run["trials"][3])
    assert "best 0.9000 (trial 3)" in report.trial_line(run, run["trials"][2], "min")


def test_format_summary_table():
    results = make_results()
    text = report.format_summary_table(report.summarize(results), results["margin"])
    print(text)
    first, blank, table = text.split("\n", 2)
    assert first == ("target 0.9780: within 0.0020 of the best score any method "
                     "found (0.9800)")
    assert blank == ""
    rows = table_cells(table)
    assert [row["method"] for row in rows] == ["fixnorm", "random", "reference"]
    fixnorm, random, reference = rows
    assert fixnorm["trials to target"] == "5 [5, 2, -]"
    assert fixnorm["reached"] == "2/3"
    assert fixnorm["seeds"] == "3"
    mean, std = np.mean([0.9785, 0.979, 0.97]), np.std([0.9785, 0.979, 0.97], ddof=1)
    assert fixnorm["best (mean +- std)"] == f"{mean:.4f} +- {std:.4f}"
    assert fixnorm["mean trials"] == "4.0"
    assert fixnorm["best values"] == "lr=0.1 alpha=0.5"
    assert random["trials to target"] == "2 [2, -, 2]"
    assert random["best values"] == "lr=0.1 weight_decay=2e-04"
    assert reference["trials to target"] == "- [-]"
    assert reference["reached"] == "0/1"

    minimized = negated(results)
    text = report.format_summary_table(report.summarize(minimized), minimized["margin"])
    assert text.splitlines()[0].startswith("target -0.9780: within 0.0020 of the best score")
    assert "(-0.9800)" in text.splitlines()[0]


# --- plots ------------------------------------------------------------------


def assert_small_png(path):
    with open(path, "rb") as file:
        data = file.read()
    assert data[:8] == PNG_MAGIC
    assert 1000 < len(data) < 200_000


def test_plot_best_so_far(tmp_path):
    results = make_results()                 # failed trials, a one-trial method
    path = str(tmp_path / "plots" / "best.png")
    assert report.plot_best_so_far(results, path) == path
    assert_small_png(path)
    path = str(tmp_path / "best_min.png")
    report.plot_best_so_far(negated(results), path)
    assert_small_png(path)
    only_failed = {"recipe": "r", "direction": "max", "runs": [make_run("a", 0, [None])]}
    report.plot_best_so_far(only_failed, str(tmp_path / "failed.png"))
    assert_small_png(str(tmp_path / "failed.png"))


def test_plot_best_so_far_bands(tmp_path):
    results = make_results()                 # failed trials, a one-trial method, a None start
    path = str(tmp_path / "bands" / "b.png")
    assert report.plot_best_so_far_bands(results, path, budgets=(2, 4), target=0.978) == path
    assert_small_png(path)
    report.plot_best_so_far_bands(negated(results), str(tmp_path / "min.png"))
    assert_small_png(str(tmp_path / "min.png"))


def test_median_curve_carries_last_value_and_counts_none_as_worst():
    median = report.plots._median_curve([[None, 0.5, 0.6], [0.9], [0.4, 0.8]], "max")
    assert median == pytest.approx([0.4, 0.8, 0.8])
    assert all(math.isnan(v) for v in report.plots._median_curve([[None], [None, 1.0]], "max"))
    median = report.plots._median_curve([[None, 2.0], [3.0]], "min")
    assert math.isnan(median[0]) and median[1] == pytest.approx(2.5)


def test_plot_landscape(tmp_path):
    results = make_results()
    path = str(tmp_path / "landscape.png")
    assert report.plot_landscape(results, path) == path
    assert_small_png(path)
    # Only fixnorm and random have >= 2 completed trials.
    assert [m for m, _, _ in report.plots._landscape_methods(results)] == ["fixnorm", "random"]
    report.plot_landscape(negated(results), str(tmp_path / "landscape_min.png"))
    assert_small_png(str(tmp_path / "landscape_min.png"))
    single = {"recipe": "r", "direction": "max",
              "runs": [make_run("reference", 0, [0.9], names=("lr", "weight_decay"))]}
    report.plot_landscape(single, str(tmp_path / "single.png"))
    assert_small_png(str(tmp_path / "single.png"))


def test_plots_without_matplotlib(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    for plot in (report.plot_best_so_far, report.plot_landscape, report.plot_best_so_far_bands):
        with pytest.raises(RuntimeError, match="pip install matplotlib"):
            plot(make_results(), str(tmp_path / "x.png"))


@pytest.mark.parametrize("module", ["records", "summary", "budgets", "finding", "tables", "plots",
                                    "results_file", "__init__"])
def test_modules_import_no_tensorflow_keras_or_top_level_matplotlib(module):
    path = os.path.join(os.path.dirname(report.__file__), module + ".py")
    with open(path, encoding="utf-8") as file:
        tree = ast.parse(file.read())
    top_level = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_level.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            top_level.add(node.module.split(".")[0])
    assert not top_level & {"tensorflow", "keras", "matplotlib"}
    everywhere = {alias.name.split(".")[0] for node in ast.walk(tree)
                  if isinstance(node, ast.Import) for alias in node.names}
    everywhere |= {node.module.split(".")[0] for node in ast.walk(tree)
                   if isinstance(node, ast.ImportFrom) and node.module}
    assert not everywhere & {"tensorflow", "keras"}


# --- files ------------------------------------------------------------------


def test_write_and_read_results(tmp_path):
    results = make_results()
    path = str(tmp_path / "out" / "results.json")
    assert report.write_results(path, results) == path
    assert report.read_results(path) == results
    results["margin"] = 0.01
    report.write_results(path, results)                      # replaces
    assert report.read_results(path)["margin"] == 0.01
    assert os.listdir(tmp_path / "out") == ["results.json"]  # no temp files left


def test_write_results_failure_leaves_old_file(tmp_path):
    path = str(tmp_path / "results.json")
    report.write_results(path, make_results())
    with pytest.raises(TypeError):
        report.write_results(path, {"runs": [], "bad": object()})
    assert report.read_results(path)["recipe"] == "digits_tune"
    assert os.listdir(tmp_path) == ["results.json"]


@pytest.mark.parametrize("content, message", [
    ("{not json", "invalid JSON"),
    ('{"recipe": "x"}', "no \"runs\" list"),
    ("[1, 2]", "no \"runs\" list"),
    ('{"runs": [{"seed": 0}]}', "run 0"),
])
def test_read_results_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        report.read_results(str(path))
    assert str(path) in str(error.value)


def test_summary_is_json_serializable():
    summary = report.summarize(make_results())
    assert json.loads(json.dumps(summary))[0]["method"] == "fixnorm"
    assert not any(isinstance(v, float) and math.isnan(v)
                   for entry in summary for v in entry.values())


def test_compare_at_budgets_reads_the_prefix_of_each_search():
    # Best overall within 3 trials: random seed 0's 0.98 (its 4th trial, 0.99, is
    # past the largest budget and must not count); target 0.98 - 0.002 = 0.978.
    results = make_results()
    results["runs"][3]["trials"].append({**results["runs"][3]["trials"][0], "index": 4,
                                         "trial_id": "03", "score": 0.99})
    target, rows = report.compare_at_budgets(results, [3, 2], margin=0.002)
    assert target == pytest.approx(0.978)
    by = {(r["method"], r["budget"]): r for r in rows}
    assert [(r["method"], r["budget"]) for r in rows] == [
        ("fixnorm", 2), ("fixnorm", 3), ("random", 2), ("random", 3), ("reference", 2),
        ("reference", 3)]
    # fixnorm seed 0 reaches 0.978 only at trial 5, seed 1 at 2, seed 2 never.
    assert by["fixnorm", 2]["trials_to_target"] == [None, 2, None]
    assert by["fixnorm", 2]["best_scores"] == [0.95, 0.979, 0.50]
    assert by["fixnorm", 3]["best_scores"] == [0.95, 0.979, 0.96]
    assert by["fixnorm", 3]["trials_to_target_median"] is None and by["fixnorm", 3]["reached"] == 1
    assert by["random", 2]["trials_to_target"] == [2, None, 2]
    assert by["random", 3]["trials_to_target_median"] == 2 and by["random", 3]["reached"] == 2
    assert by["random", 3]["trials_mean"] == pytest.approx(7 / 3)   # 3, 2, 2 trials
    assert by["random", 3]["best_mean"] == pytest.approx(np.mean([0.98, 0.96, 0.979]))
    assert by["random", 3]["best_std"] == pytest.approx(np.std([0.98, 0.96, 0.979], ddof=1))
    assert by["reference", 3]["best_std"] == 0.0
    # The same numbers for a minimized objective.
    target_min, rows_min = report.compare_at_budgets(negated(results), [2, 3], margin=0.002)
    assert target_min == pytest.approx(-0.978)
    assert [r["trials_to_target"] for r in rows_min] == [r["trials_to_target"] for r in rows]
    with pytest.raises(ValueError, match="positive"):
        report.compare_at_budgets(results, [0], margin=0.002)


def test_welch_t():
    assert report.welch_t([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 0.0
    # mean difference 1, variances 1 and 1 over 3 each: t = 1 / sqrt(2/3).
    assert report.welch_t([2.0, 3.0, 4.0], [1.0, 2.0, 3.0]) == pytest.approx(1 / math.sqrt(2 / 3))
    assert report.welch_t([1.0, None, 1.0], [2.0, 2.0]) == -math.inf
    assert report.welch_t([1.0, 1.0], [1.0, 1.0]) == 0.0
    assert report.welch_t([1.0], [1.0, 2.0]) is None


def row(method, best_scores, counts, budget=None):
    found = [b for b in best_scores if b is not None]
    r = {"method": method, "seeds": list(range(len(best_scores))), "best_scores": best_scores,
         "best_mean": float(np.mean(found)) if found else None,
         "trials_to_target_median": report.summary.median_count(counts),
         "reached": sum(c is not None for c in counts)}
    return r if budget is None else {**r, "budget": budget}


def test_finding_names_the_fastest_peer_and_judges_the_noise():
    ours = row("fixnorm", [0.98, 0.981, 0.979], [3, 4, 2], budget=11)
    slow = row("bo_wd", [0.97, 0.975, 0.972], [None, 20, None], budget=24)
    fast = row("optuna_tpe", [0.975, 0.974, 0.976], [9, 12, None], budget=24)
    sentence = report.finding(ours, [slow, fast], target=0.978, margin=0.003)
    assert sentence.startswith("Against the target 0.9780 (within 0.003 of the best score")
    assert ("fixnorm reached it in a median of 3 trials (3 of 3 searches) within 11 trials "
            "and the fastest other method, optuna_tpe, reached it in a median of 12 trials "
            "(2 of 3 searches) within 24 trials") in sentence
    t = report.welch_t(ours["best_scores"], fast["best_scores"])
    assert t > 2 and f"better, beyond the seed noise (Welch t {t:+.1f} over seeds)" in sentence
    # A gap smaller than the spread is within the noise; no median: "in k of n searches".
    close = row("random", [0.985, 0.97, 0.98], [1, None, None])
    sentence = report.finding(row("fixnorm", [0.98, 0.975, 0.982], [None, None, 1]), [close],
                              target=0.978, margin=0.007)
    assert "fixnorm reached it in 1 of 3 searches and the fastest other" in sentence
    one = report.finding(row("fixnorm", [0.9, 0.9], [1, 1]), [row("bo_wd", [0.8, 0.7], [2, 3])],
                         target=0.85, margin=0.05)
    assert "a median of 1 trial (2 of 2 searches)" in one and "a median of 2.5 trials" in one
    assert "random, reached it in 1 of 3 searches;" in sentence
    assert ", within the seed noise (Welch t +0.1" in sentence
    # Lower is better: a lower mean is "better".
    sentence = report.finding(row("fixnorm", [0.1, 0.11, 0.1], [1, 1, 1]),
                              [row("bo_wd", [0.3, 0.31, 0.32], [None] * 3)],
                              target=0.12, margin=0.02, direction="min")
    assert "(within 0.02 of the lowest score any method found)" in sentence
    assert "better, beyond the seed noise" in sentence
    assert report.finding(ours, [], 0.978, 0.003).startswith("No finding")
    assert report.finding(ours, [row("x", [None], [None])], 0.978, 0.003).startswith(
        "No finding")


def test_zoom_limits_frame_the_medians_past_a_diverged_first_trial():
    # Medians near 0.97-0.99, one diverged trial at 0.1: zoom on the medians.
    low, high = report.zoom_limits([0.97, 0.985, 0.99], [0.1, 0.97, 0.985, 0.99])
    assert 0.95 < low < 0.97 and 0.99 < high < 1.0
    # Values that already fill the range: keep it.
    assert report.zoom_limits([0.5, 0.9], [0.4, 0.5, 0.9]) is None
    assert report.zoom_limits([], [0.1]) is None


def test_other_libraries_warnings_go_to_the_log_and_are_counted(tmp_path, capsys):
    import warnings

    from fixnorm_experiments.report import warnings_log

    path = str(tmp_path / "warnings.log")
    usual = warnings.showwarning
    with warnings_log.to_file(path) as counts:
        for _ in range(3):
            warnings.warn("lbfgs failed to converge", RuntimeWarning)
        warnings.warn("old API", DeprecationWarning)  # hidden, as Python hides it
        warnings.warn("deprecated", FutureWarning)
    assert capsys.readouterr().err == ""
    with open(path, encoding="utf-8") as f:
        logged = f.read()
    assert logged.count("RuntimeWarning: lbfgs failed to converge") == 3
    assert "FutureWarning: deprecated" in logged and "old API" not in logged
    assert warnings_log.summary_line(counts, path) == (
        f"4 warning(s) from other libraries (RuntimeWarning x3, FutureWarning x1) went "
        f"to {path}")
    assert warnings_log.summary_line({}, path) == ""
    assert warnings.showwarning is usual  # the usual handling is back


def test_native_stderr_is_captured_for_the_log_and_restored(tmp_path, capfd):
    from fixnorm_experiments.cli.common import native_stderr_captured
    from fixnorm_experiments.report import warnings_log

    with native_stderr_captured() as lines:
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on.\n\n")
        os.write(2, b"W0000 second line\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"      # nothing inside reached stderr
    assert lines == ["I0000 port.cc:153] oneDNN custom operations are on.",
                     "W0000 second line"]
    path = str(tmp_path / "warnings.log")
    with warnings_log.to_file(path, lines) as counts:
        pass
    with open(path, encoding="utf-8") as f:
        assert f.read().splitlines() == lines
    assert counts == {warnings_log.NATIVE: 2}
    # A failure inside: what was caught is printed after all, and the error goes on.
    with pytest.raises(ImportError):
        with native_stderr_captured():
            os.write(2, b"why it failed\n")
            raise ImportError("no module")
    assert capfd.readouterr().err == "why it failed\n"
