"""The flag checks both training binaries share (recipes/run_flags.py)."""

import types

import pytest

from recipes.run_flags import UsageError, check_run


def flags(tmp_path, **given):
    values = dict(recipe="digits_tune", model_dir=str(tmp_path / "run"), lr=None, epochs=None)
    values.update(given)
    return types.SimpleNamespace(**values)


def test_good_flags_pass(tmp_path):
    check_run(flags(tmp_path, lr=0.1, epochs=3), "recipes.train", positive=("lr",),
              counts=("epochs",))


@pytest.mark.parametrize("given, message", [
    ({"recipe": None}, "--recipe is required (python -m recipes.train_dense --list"),
    ({"model_dir": ""}, "--model_dir is required"),
    ({"lr": 0.0}, "--lr must be > 0, got 0.0"),
    ({"lr": float("nan")}, "--lr must be > 0, got nan"),
    ({"epochs": 0}, "--epochs must be >= 1, got 0"),
])
def test_bad_flags_say_which_and_why(tmp_path, given, message):
    with pytest.raises(UsageError) as error:
        check_run(flags(tmp_path, **given), "recipes.train_dense", positive=("lr",),
                  counts=("epochs",))
    assert message in str(error.value)


def test_a_finished_run_is_never_overwritten(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text("{}")
    with pytest.raises(UsageError, match="already holds a finished run"):
        check_run(flags(tmp_path), "recipes.train")
