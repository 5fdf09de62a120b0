"""FixNorm-tune's pure 1-D search on cheap synthetic objectives (no training)."""

import math
import random
import subprocess
import sys
import textwrap

import pytest

from tf_fixnorm.tuning import search as S

LR = S.LineSearch(start=0.1, ratio=2 ** 0.5, bracket=4, lower=1e-3, upper=10.0, budget=7)
ALPHA = S.LineSearch(start=1.0, ratio=2.0, bracket=2, lower=2 ** -6, upper=2 ** 8, budget=5)


def peaked(optimum, width=1.0):
    """A score peaked at `optimum`, falling quadratically in log2."""
    return lambda value: -((math.log2(value / optimum) / width) ** 2)


def run(search, objective, results=None):
    calls = []

    def record(value):
        calls.append(value)
        return objective(value)

    results = S.run_serial(search, record, results)
    return results, calls


@pytest.mark.parametrize("optimum", [0.1, 0.3, 1.0, 3.0, 0.01, 0.002])
def test_lands_within_one_grid_step_of_a_known_optimum_within_budget(optimum):
    results, calls = run(LR, peaked(optimum))
    found = LR.value(S.best(results))
    assert len(calls) <= LR.budget
    assert len(set(calls)) == len(calls), "a point was evaluated twice"
    assert abs(math.log2(found / optimum)) <= 0.5 + 1e-9, (found, calls)


def test_bracket_steps_outward_until_the_score_falls_then_refines():
    _, calls = run(LR, peaked(3.0))
    # 0.1, then x4 upward while it keeps improving, then halve the gaps.
    assert calls[:4] == pytest.approx([0.1, 0.4, 1.6, 6.4])
    assert calls[4] == pytest.approx(3.2)  # midpoint (log) of 1.6 and 6.4
    assert all(1.6 < c < 6.4 for c in calls[4:])


def test_converges_early_when_every_gap_is_one_grid_step():
    results, calls = run(LR, peaked(LR.value(3)))  # optimum exactly on the grid
    assert S.best(results) == 3
    assert len(calls) < LR.budget
    assert S.finished(LR, results)


def test_alpha_on_powers_of_two_reuses_the_start_result():
    # Stage 2 starts from stage 1's best trial at alpha=1: it is not run again.
    results, calls = run(ALPHA, peaked(8.0), results={0: peaked(8.0)(1.0)})
    assert 1.0 not in calls
    assert ALPHA.value(S.best(results)) == 8.0
    assert all(math.log2(c).is_integer() for c in calls)
    assert len(results) <= ALPHA.budget


def test_respects_the_range_and_stops_at_a_bound():
    search = S.LineSearch(start=1.0, ratio=2.0, bracket=2, lower=0.25, upper=4.0, budget=10)
    results, calls = run(search, peaked(100.0))  # optimum far above the range
    assert max(calls) == 4.0 and min(calls) >= 0.25
    assert search.value(S.best(results)) == 4.0


def test_flat_objective_stays_at_the_start_and_stops():
    results, calls = run(LR, lambda value: 0.5)
    assert S.best(results) == 0
    assert len(calls) <= LR.budget
    assert calls[0] == pytest.approx(0.1)


def test_failed_trials_close_the_bracket_like_a_bad_score():
    def diverges_above_one(value):
        return None if value > 1.0 else peaked(0.8)(value)

    results, calls = run(LR, diverges_above_one)
    assert any(results[k] is None for k in results)
    assert LR.value(S.best(results)) == pytest.approx(0.8, rel=0.2)


def test_a_failing_start_steps_downward():
    results, calls = run(LR, lambda value: None if value >= 0.1 else peaked(0.02)(value))
    assert calls[:2] == pytest.approx([0.1, 0.025])
    assert S.best(results) is not None and LR.value(S.best(results)) < 0.1


def test_noisy_objective_stays_near_the_optimum():
    misses = []
    for seed in range(20):
        rng = random.Random(seed)
        objective = peaked(0.5, width=2.0)
        results, _ = run(LR, lambda value: objective(value) + rng.gauss(0.0, 0.05))
        misses.append(abs(math.log2(LR.value(S.best(results)) / 0.5)))
    # Noise of 0.05 against a peak this wide: within a factor 2 nearly always.
    assert sorted(misses)[len(misses) // 2] <= 0.5 + 1e-9
    assert max(misses) <= 1.5


def test_deterministic_for_the_same_results():
    first = run(LR, peaked(0.7))[1]
    second = run(LR, peaked(0.7))[1]
    assert first == second


def test_parallel_proposals_are_distinct_and_start_with_the_serial_choice():
    results = {0: -1.0}
    serial = S.propose(LR, results, n=1)
    parallel = S.propose(LR, results, n=3)
    assert parallel[0] == serial[0]
    assert len(set(parallel)) == 3
    # The first ring of the bracket goes out at once, then beyond it.
    assert set(parallel[:2]) == {4, -4}


def test_pending_points_are_not_handed_out_again_and_the_bracket_continues_past_them():
    proposals = S.propose(LR, {0: -1.0}, pending={4}, n=2)
    assert 4 not in proposals
    assert proposals == [-4, 8]


def test_pending_points_count_against_the_budget():
    search = S.LineSearch(start=1.0, ratio=2.0, bracket=1, lower=0.01, upper=100, budget=3)
    assert S.propose(search, {0: 1.0}, pending={1, -1}, n=4) == []
    assert not S.finished(search, {0: 1.0}, pending={1, -1})


def test_refinement_splits_the_wider_gap_first_and_leans_to_the_better_neighbour():
    # Best at 0, tried at -4 (0.5) and +4 (0.9): equal gaps, lean up.
    assert S.propose(LR, {0: 1.0, -4: 0.5, 4: 0.9}) == [2]
    assert S.propose(LR, {0: 1.0, -4: 0.9, 4: 0.5}) == [-2]
    # Wider gap first.
    assert S.propose(LR, {0: 1.0, -4: 0.5, 2: 0.9}) == [-2]


def test_parallel_run_with_three_workers_reaches_the_optimum_with_the_same_budget():
    # Simulate three workers: each round the oracle hands out up to 3 points.
    objective = peaked(LR.value(-6))
    results = {}
    rounds = 0
    while True:
        points = S.propose(LR, results, n=3)
        if not points:
            break
        rounds += 1
        for point in points:
            results[point] = objective(LR.value(point))
    assert S.best(results) == -6
    assert len(results) <= LR.budget
    serial_results, serial_calls = run(LR, objective)
    assert rounds < len(serial_calls)


@pytest.mark.parametrize("kwargs, message", [
    (dict(start=0.0), "must be > 0"),
    (dict(start=100.0), "outside the range"),
    (dict(ratio=1.0), "ratio must be > 1"),
    (dict(bracket=0), "bracket must be"),
    (dict(budget=0), "budget must be"),
])
def test_bad_settings_say_what_is_wrong(kwargs, message):
    settings = dict(start=1.0, ratio=2.0, bracket=2, lower=0.1, upper=10.0, budget=5)
    settings.update(kwargs)
    with pytest.raises(ValueError, match=message):
        S.LineSearch(**settings)


def test_imports_without_tensorflow():
    # Block tensorflow and keras: the search must still import and run.
    code = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "keras"):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        from tf_fixnorm.tuning import search
        s = search.LineSearch(1.0, 2.0, 1, 0.25, 4.0, 5)
        print(search.propose(s, {}, n=2))
        assert "tensorflow" not in sys.modules
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[0, 1]"
