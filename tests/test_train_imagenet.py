"""fixnorm-train on the paper's recipes, with tiny ImageNet-layout fixtures."""

import os

import numpy as np

from tests.binaries import error_lines, read_metrics
from tests.test_pipelines import _image, _jpeg, _write_split
from tests.test_train_binary import run

FAST = ["--image_size=64", "--global_batch_size=4", "--steps_per_epoch=1", "--epochs=1",
        "--verbose=2"]


def tfrecord_dir(path):
    path.mkdir()
    rng = np.random.default_rng(0)
    _write_split(path, "train", 2, 4, rng)
    _write_split(path, "validation", 1, 4, rng)
    return path


def folder_tree(path):
    rng = np.random.default_rng(1)
    for split in ("train", "validation"):
        for name in ("ant", "bee", "cat"):
            (path / split / name).mkdir(parents=True)
            for index in range(2):
                (path / split / name / f"{index}.jpg").write_bytes(_jpeg(_image(rng, 40, 48)))
    return path


def test_resnet50_d_recipe_on_tfrecords_both_flavours(tmp_path):
    data_dir = tfrecord_dir(tmp_path / "imagenet")
    for flavour in ("fixnorm", "reference"):
        model_dir = str(tmp_path / flavour)
        result = run("--recipe=resnet50_d_120", f"--flavour={flavour}", f"--data_dir={data_dir}",
                     f"--model_dir={model_dir}", *FAST)
        assert result.returncode == 0, result.stderr[-3000:]
        m = read_metrics(model_dir)
        assert m["recipe"] == "resnet50_d_120" and len(m["history"]["loss"]) == 1
        assert np.isfinite(m["eval_loss"])
        if flavour == "fixnorm":
            held = m["held_norms"]
            assert abs(held["achieved"]["classifier"] - 0.5) < 1e-5
            assert m["alpha"] == 0.5 and m["lr"] == 1.4
        else:
            assert m["weight_decay"] == 1e-4 and m["lr"] == 0.4


def test_starred_recipe_with_tricks_on_an_image_folder(tmp_path):
    """One-hot labels, label smoothing, RandAugment, mixup/cutmix, stochastic depth."""
    data_dir = folder_tree(tmp_path / "folder")
    model_dir = str(tmp_path / "run")
    result = run("--recipe=mobilenet_v2_x1.12_tricks_350", "--data_format=folder",
                 f"--data_dir={data_dir}", f"--model_dir={model_dir}", *FAST)
    assert result.returncode == 0, result.stderr[-3000:]
    m = read_metrics(model_dir)
    assert np.isfinite(m["eval_loss"]) and 0.0 <= m["eval_accuracy"] <= 1.0


def test_missing_and_corrupt_data_one_error_line(tmp_path):
    model_dir = tmp_path / "run"
    result = run("--recipe=resnet50_d_120", f"--model_dir={model_dir}", *FAST)
    assert result.returncode != 0
    assert "needs --data_dir" in error_lines(result)[0]
    data_dir = tfrecord_dir(tmp_path / "imagenet")
    victim = sorted(p for p in os.listdir(data_dir) if p.startswith("train"))[0]
    with open(data_dir / victim, "r+b") as f:
        f.truncate(30)
    result = run("--recipe=resnet50_d_120", f"--data_dir={data_dir}", f"--model_dir={model_dir}",
                 *FAST)
    lines = error_lines(result)
    assert result.returncode != 0 and len(lines) == 1
    assert "corrupt TFRecord" in lines[0] and victim in lines[0]
    assert not model_dir.exists() or not os.listdir(model_dir)
