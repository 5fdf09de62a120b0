"""One hypermodel for every method: same model, data and schedule; only the knobs differ."""

import dataclasses
import math
import os
import sys

import keras_tuner
import pytest

from fixnorm_experiments import recipes, tasks
from fixnorm_experiments.tasks.base import Plan
from fixnorm_experiments.train.coupled_l2 import SGDCoupledL2
from fixnorm_experiments.tuning.hypermodel import RecipeHyperModel
from fixnorm_experiments.tuning.methods import Ranges
from fixnorm_experiments.tuning.tuner import RecipeTuner, make_oracle
from tf_fixnorm import find_fixnorm

TASK = tasks.make(dataclasses.replace(recipes.get("digits_tune"), epochs=1))
PLAN = Plan(loops=1, steps_per_loop=3)


@pytest.fixture(scope="module")
def data():
    return TASK.load_data(64, seed=0, validation_fraction=0.2)


def build(data, method, **values):
    model = RecipeHyperModel(TASK, data, method, PLAN)
    hp = keras_tuner.HyperParameters()
    hp.values.update(values)
    return model, hp, model.build(hp)


def test_validation_split_is_held_out_of_the_training_split(data):
    n_train = sum(int(x.shape[0]) for x, _ in data.train)
    n_val = sum(int(x.shape[0]) for x, _ in data.evaluation)
    n_test = sum(int(x.shape[0]) for x, _ in data.test)
    assert (n_train, n_val, n_test) == (1077, 270, 450)  # 1797 = 1347 + 450; 20% of 1347


def test_fixnorm_trial_uses_fixnorm_with_its_lr_and_alpha(data):
    _, _, model = build(data, "fixnorm", lr=0.3, alpha=8.0)
    fixnorm = find_fixnorm(model.optimizer)
    assert fixnorm is not None and fixnorm.alpha == 8.0
    assert float(fixnorm.learning_rate) == pytest.approx(0.3)


@pytest.mark.parametrize("method", ["bo_wd", "random"])
def test_weight_decay_trials_use_coupled_l2_with_their_lambda(data, method):
    _, _, model = build(data, method, lr=0.05, weight_decay=3e-4)
    assert isinstance(model.optimizer, SGDCoupledL2) and model.optimizer.l2 == 3e-4
    assert find_fixnorm(model.optimizer) is None
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)


def test_reference_trial_is_the_recipes_reference_setting(data):
    _, hp, model = build(data, "reference")
    assert hp.values == {"lr": 0.2, "weight_decay": 5e-4}
    assert model.optimizer.l2 == 5e-4


def test_every_method_trains_the_same_model(data):
    shapes = set()
    for method, values in [("fixnorm", dict(lr=0.1, alpha=1.0)),
                           ("bo_wd", dict(lr=0.1, weight_decay=1e-4)), ("reference", {})]:
        _, _, model = build(data, method, **values)
        shapes.add(tuple((v.path, tuple(v.shape)) for v in model.trainable_variables))
    assert len(shapes) == 1


def test_fit_scores_the_final_model_on_the_validation_split(data):
    hypermodel, hp, model = build(data, "fixnorm", lr=0.2, alpha=4.0)
    result = hypermodel.fit(hp, model)
    loss, accuracy = model.evaluate(data.evaluation, verbose=0)
    assert result["val_accuracy"] == pytest.approx(accuracy)
    assert result["diverged"] == 0.0


def test_a_diverging_lr_is_scored_not_raised(data):
    hypermodel, hp, model = build(data, "bo_wd", lr=1e30, weight_decay=1e-2)
    result = hypermodel.fit(hp, model)
    assert result["diverged"] == 1.0
    assert result["val_accuracy"] <= 0.2 or not math.isfinite(result["val_loss"])


def test_ranges_are_checked():
    with pytest.raises(ValueError, match="lr range"):
        Ranges(lr=(1.0, 0.1))


def test_executions_average_over_seeds(tmp_path, data):
    scores = {}
    for executions in (1, 2):
        hypermodel = RecipeHyperModel(TASK, data, "reference", PLAN)
        oracle = make_oracle("reference", Ranges(), keras_tuner.Objective("val_loss", "min"))
        tuner = RecipeTuner(oracle, hypermodel, seed=5, directory=str(tmp_path),
                            project_name=f"e{executions}", executions_per_trial=executions)
        tuner.search(verbose=0)
        scores[executions] = oracle.get_best_trials(1)[0].score
    # Execution 0 has seed 5 in both; the second (seed 6) moves the mean.
    assert scores[1] != pytest.approx(scores[2], abs=1e-7)
    # The final weights are saved, so the best model can be loaded back.
    assert tuner.get_best_models(1)[0].count_params() > 0


def test_tuning_plan_is_the_tuners_epochs_of_capped_steps(data):
    plan = TASK.tuning_plan(data, loops=2, steps_per_loop=3)
    assert (plan.loops, plan.steps_per_loop, plan.unit) == (2, 3, "epochs")
    assert TASK.tuning_plan(data) == Plan(1, 17)  # the recipe's epochs; ceil(1077 / 64) steps


def test_console_script_runs_the_cli():
    script = os.path.join(os.path.dirname(sys.executable), "fixnorm-tune")
    if not os.path.exists(script):
        pytest.skip("package not installed with its console script (pip install -e .)")
    import subprocess

    out = subprocess.run([script, "--recipe=nope"], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "error: unknown recipe 'nope'" in out.stderr
