"""One model per search, reset for each trial: the same results as a model built afresh."""

import dataclasses

import keras
import keras_tuner
import numpy as np
import pytest

from fixnorm_experiments import recipes, tasks
from fixnorm_experiments.tasks.base import Plan
from fixnorm_experiments.tuning.hypermodel import RecipeHyperModel
from fixnorm_experiments.tuning.warm import WarmModel

TASK = tasks.make(dataclasses.replace(recipes.get("digits_tune"), epochs=2))
PLAN = Plan(loops=2, steps_per_loop=3)


@pytest.fixture(scope="module")
def data():
    return TASK.load_data(64, seed=0, validation_fraction=0.2)


def trial(hypermodel, seed=0, **values):
    """One trial as `RecipeTuner.run_trial` runs it: seed (a new model only), build, fit."""
    hp = keras_tuner.HyperParameters()
    hp.values.update(values)
    if hypermodel.warm is None:
        keras.utils.set_random_seed(seed)
    model = hypermodel.build(hp)
    results = hypermodel.fit(hp, model)
    return model, results, [v.numpy().copy() for v in model.weights]


@pytest.mark.parametrize("method, first, second", [
    ("fixnorm", dict(lr=0.05, alpha=1.0), dict(lr=0.8, alpha=8.0)),
    ("bo_wd", dict(lr=0.02, weight_decay=1e-3), dict(lr=0.4, weight_decay=1e-5)),
    ("no_decay", dict(lr=3.0), dict(lr=0.1)),  # the first diverges: NaN weights, reset
])
def test_a_trial_on_the_reused_model_equals_one_on_a_new_model(data, method, first, second):
    reused = RecipeHyperModel(TASK, data, method, PLAN)
    model, _, _ = trial(reused, **first)
    step = model.train_function
    again, results, weights = trial(reused, **second)
    assert again is model and again.train_function is step, "the model was rebuilt"
    _, fresh_results, fresh_weights = trial(RecipeHyperModel(TASK, data, method, PLAN),
                                            **second)
    assert results == pytest.approx(fresh_results, rel=1e-5)
    for a, b in zip(weights, fresh_weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_without_reuse_each_trial_builds_its_own_model(data):
    hypermodel = RecipeHyperModel(TASK, data, "fixnorm", PLAN, reuse=False)
    first, _, _ = trial(hypermodel, lr=0.1, alpha=1.0)
    second, _, _ = trial(hypermodel, lr=0.1, alpha=1.0)
    assert first is not second and hypermodel.warm is None


def test_a_schedule_not_linear_in_its_peak_is_not_reused(data):
    poly = tasks.make(dataclasses.replace(recipes.get("digits_tune"), schedule="poly"))
    assert not RecipeHyperModel(poly, data, "fixnorm", PLAN).reuse


def test_warm_model_needs_a_built_optimizer_and_known_knobs(data):
    model = TASK.build_model()
    TASK.compile(model, keras.optimizers.SGD(0.1))
    with pytest.raises(ValueError, match="build the optimizer"):
        WarmModel(model, {})
    model.optimizer.build(model.trainable_variables)
    with pytest.raises(ValueError, match="no variable for knobs"):
        WarmModel(model, {}).reset({"lr": 0.1})


def test_a_search_seeds_its_model_and_hands_out_each_trials_own_best_model(data, tmp_path):
    """Through the tuner: keras-tuner's space discovery builds nothing (the
    search's model is built in trial 1, after seeding), and `get_best_models`
    loads each trial's weights into a model of its own."""
    from fixnorm_experiments.tuning.methods import Ranges
    from fixnorm_experiments.tuning.tuner import RecipeTuner, make_oracle

    hypermodel = RecipeHyperModel(TASK, data, "fixnorm", PLAN)
    oracle = make_oracle("fixnorm", Ranges(), keras_tuner.Objective("val_accuracy", "max"),
                         max_trials=2, seed=4, lr_start=0.2, alpha_start=4.0)
    tuner = RecipeTuner(oracle, hypermodel, seed=4, directory=str(tmp_path), project_name="p")
    assert hypermodel.warm is None, "a model was built before any trial was seeded"
    tuner.search(verbose=0)
    keras.utils.set_random_seed(4)
    seeded = TASK.build_model()
    np.testing.assert_array_equal(hypermodel.warm._initial[0][1],
                                  seeded.trainable_variables[0].numpy())
    best = tuner.get_best_models(2)
    assert len({id(m) for m in best} | {id(hypermodel.warm.model)}) == 3
    trials = oracle.get_best_trials(2)
    for model, trial in zip(best, trials):
        reference = hypermodel.new_model(trial.hyperparameters)
        reference.load_weights(tuner._get_checkpoint_fname(trial.trial_id))
        for a, b in zip(model.weights, reference.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not all(np.array_equal(a.numpy(), b.numpy())
                   for a, b in zip(best[0].weights, best[1].weights))
