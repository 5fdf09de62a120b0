"""fixnorm-train's and fixnorm-tune's flags become frozen configs, or one clear error."""

import dataclasses

import pytest

from fixnorm_experiments import config
from fixnorm_experiments.config import UsageError

def train_flags(tmp_path, **given):
    from fixnorm_experiments.cli import train

    return train.DEFINE.defaults(**{"recipe": "digits_tune", "model_dir": str(tmp_path / "run"),
                                    **given})


def make_train_config(tmp_path, **given):
    from fixnorm_experiments.cli.train import make_config

    return make_config(train_flags(tmp_path, **given))


def test_good_flags_give_a_frozen_config(tmp_path):
    run = make_train_config(tmp_path, lr=0.1, epochs=3)
    assert (run.recipe.name, run.lr, run.alpha, run.weight_decay, run.length) == (
        "digits_tune", 0.1, 4.0, None, 3)
    assert run.global_batch_size == 64 and run.data == config.DataSource()
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.lr = 1.0
    reference = make_train_config(tmp_path, flavour="reference")
    assert (reference.lr, reference.alpha, reference.weight_decay) == (0.2, None, 5e-4)


@pytest.mark.parametrize("given, message", [
    ({"recipe": None}, "--recipe is required (fixnorm-train --list"),
    ({"model_dir": ""}, "--model_dir is required"),
    ({"lr": 0.0}, "--lr must be > 0, got 0.0"),
    ({"lr": float("nan")}, "--lr must be > 0, got nan"),
    ({"epochs": 0}, "--epochs must be >= 1, got 0"),
    ({"iterations": 10}, "--iterations does not apply to digits_tune, a classification "
                         "recipe counted in epochs: use --epochs"),
    ({"recipe": "coco_retinanet_90k", "steps_per_epoch": 5},
     "--steps_per_epoch does not apply to coco_retinanet_90k, a detection recipe counted in "
     "iterations: use --steps_per_loop"),
    ({"recipe": "coco_retinanet_90k", "image_size": ["64"]}, "--image_size must be H,W"),
    ({"image_size": ["8", "8"]}, "--image_size must be one positive integer"),
    ({"recipe": "coco_retinanet_90k", "data_format": "folder"},
     "--data_format=folder does not apply to coco_retinanet_90k"),
    ({"recipe": "cityscapes_deeplab_v3_40k", "strategy": "multi_worker",
      "sync_batch_norm": True}, "not supported with --strategy=multi_worker"),
    ({"flavour": "reference", "recipe": "efficientnet_b0_350"}, "has no reference settings"),
])
def test_bad_flags_say_which_and_why(tmp_path, given, message):
    with pytest.raises(ValueError) as error:
        make_train_config(tmp_path, **given)
    assert message in str(error.value)


def test_image_size_is_applied_to_the_recipe(tmp_path):
    assert make_train_config(tmp_path, image_size=["16"]).recipe.image_size == 16
    dense = make_train_config(tmp_path, recipe="coco_retinanet_90k", image_size=["64", "96"])
    assert dense.recipe.image_size == (64, 96)


def test_a_finished_run_is_never_overwritten(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text("{}")
    with pytest.raises(UsageError, match="already holds a finished run"):
        make_train_config(tmp_path)


def test_a_model_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "run").write_text("not a directory")
    with pytest.raises(UsageError, match="is a file: give a directory"):
        make_train_config(tmp_path)


@pytest.mark.parametrize("helper, args, message", [
    (config.parse_pair, ("lr_range", ["1", "x"]), "--lr_range must be two numbers"),
    (config.parse_pair, ("lr_range", ["2", "1"]), "0 < low < high"),
    (config.parse_seeds, (["1", "1"],), "distinct integers"),
    (config.parse_seeds, (["a"],), "--seeds must be integers"),
    (config.check_count, ("epochs", 0), "--epochs must be >= 1"),
])
def test_shared_checks(helper, args, message):
    with pytest.raises(UsageError, match=message):
        helper(*args)


def test_both_binaries_flags_live_in_one_process():
    """The binaries define flags of the same names, each apart (no DuplicateFlagError)."""
    from fixnorm_experiments.cli import analyze, train, tune

    assert train.DEFINE.defaults().recipe is None
    assert tune.DEFINE.defaults().recipe == "digits_tune"
    assert analyze.DEFINE.defaults().method == "auto"
    with pytest.raises(KeyError, match="no such flag: nope"):
        train.DEFINE.defaults(nope=1)
