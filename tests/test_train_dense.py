"""fixnorm-train and fixnorm-tune on segmentation and detection fixtures, as a user runs them."""

import json
import math
import os
import subprocess
import sys

import pytest

pytest.importorskip("keras_hub")  # the [dense] extra; `make test` installs it
from tests.binaries import (ROOT, backup_epoch, clean_env, error_lines,  # noqa: E402
                            kill_after_backup, kill_workers_after_backup, read_metrics,
                            run_together, worker_environments)
from tests.dense_fixtures import write_cityscapes_fixture, write_coco_fixture  # noqa: E402

SEG = ["--recipe=cityscapes_deeplab_v3_40k", "--image_size=32,64", "--global_batch_size=2",
       "--steps_per_loop=1", "--verbose=2"]
DET = ["--image_size=128,128", "--global_batch_size=2",
       "--steps_per_loop=1", "--verbose=2"]

TRAIN, TUNE = "fixnorm_experiments.cli.train", "fixnorm_experiments.cli.tune"


def command(*flags, module=TRAIN):
    return [sys.executable, "-m", module, *flags]


def run(*flags, module=TRAIN, timeout=300):
    return subprocess.run(command(*flags, module=module), cwd=ROOT, env=clean_env(),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("tfds"))
    write_cityscapes_fixture(root, height=64, width=128)
    write_coco_fixture(root)
    return root


def test_killed_segmentation_run_resumes_and_scores_miou(data_dir, tmp_path):
    model_dir = str(tmp_path / "seg")
    flags = [*SEG, "--flavour=fixnorm", "--iterations=3", f"--data_dir={data_dir}",
             f"--model_dir={model_dir}"]
    kill_after_backup(command(*flags), model_dir, epoch=1, timeout=240)
    assert not os.path.exists(os.path.join(model_dir, "metrics.json"))
    result = run(*flags)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming from iteration" in result.stdout
    m = read_metrics(model_dir)
    assert m["resumed_from_iteration"] >= 1 and m["iterations"] == 3
    assert m["sync_batch_norm"]  # the Cityscapes recipes' default
    assert len(m["history"]["loss"]) == 3 - m["resumed_from_iteration"]
    assert m["metric_name"] == "mIoU" and 0 <= m["metric"] <= 100 and m["paper"] == 79.4
    assert len(m["evaluation"]["per_class_iou"]) == 19
    assert m["alpha"] == 1.0 and m["weight_decay"] is None
    assert m["held_norms"]["achieved"]["classifier"] == pytest.approx(1.0, rel=1e-4)
    # A finished run is never overwritten.
    again = run(*flags)
    assert again.returncode != 0 and "already holds a finished run" in error_lines(again)[0]


@pytest.mark.parametrize("recipe,flavour,paper", [
    ("coco_retinanet_90k", "reference", 36.5),
    ("coco_retinanet_90k_cosine", "fixnorm", 37.1),
])
def test_detection_runs_score_coco_ap(data_dir, tmp_path, recipe, flavour, paper):
    model_dir = str(tmp_path / "det")
    result = run(*DET, f"--recipe={recipe}", f"--flavour={flavour}", "--iterations=2",
                 f"--data_dir={data_dir}", f"--model_dir={model_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    m = read_metrics(model_dir)
    assert m["metric_name"] == "AP" and m["recipe"] == recipe
    assert {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"} <= set(m["evaluation"])
    assert f"paper: {paper}" in result.stdout
    assert not m["sync_batch_norm"]  # COCO recipes keep per-replica BN
    if flavour == "reference":
        assert m["weight_decay"] == pytest.approx(1e-4) and m["held_norms"] is None
        assert m["schedule"] == "step"
    else:  # FixNorm holds the class logits (not the box regression) at alpha
        assert m["alpha"] == 0.5 and m["schedule"] == "cosine"
        assert m["held_norms"]["achieved"]["classifier"] == pytest.approx(0.5, rel=1e-4)


@pytest.mark.parametrize("flags,module,message", [
    (["--recipe=coco_retinanet_90k", "--model_dir=MODEL_DIR", "--epochs=2"], TRAIN,
     "--epochs does not apply to coco_retinanet_90k, a detection recipe counted in iterations"),
    (["--recipe=digits_tune", "--model_dir=MODEL_DIR", "--iterations=2"], TRAIN,
     "--iterations does not apply to digits_tune, a classification recipe counted in epochs"),
    (["--recipe=coco_retinanet_90k", "--model_dir=/tmp/x", "--image_size=12,x"],
     TRAIN, "--image_size must be H,W"),
    (["--recipe=cityscapes_deeplab_v3_40k", "--model_dir=MODEL_DIR"],
     TRAIN, "needs --data_dir"),
    (["--recipe=cityscapes_deeplab_v3_40k", "--model_dir=MODEL_DIR",
      "--backbone_weights=/nonexistent/resnet.weights.h5"],
     TRAIN, "--backbone_weights /nonexistent/resnet.weights.h5 is not a file"),
    (["--recipe=cityscapes_deeplab_v3_40k", "--model_dir=MODEL_DIR", "--strategy=multi_worker",
      "--sync_batch_norm"], TRAIN, "not supported with --strategy=multi_worker"),
    (["--recipe=digits_tune", "--model_dir=MODEL_DIR",
      "--backbone_weights=/etc/hostname"], TRAIN, "--backbone_weights applies to recipes with a "
                                                  "pretrained backbone"),
    (["--recipe=cityscapes_deeplab_v3_40k", "--objective=val_accuracy"], TUNE,
     "use --objective=val_metric"),
])
def test_bad_input_is_one_error_line(flags, module, message, tmp_path):
    flags = [f.replace("MODEL_DIR", str(tmp_path / "m")) for f in flags]
    result = run(*flags, module=module, timeout=120)
    lines = error_lines(result)
    assert result.returncode != 0 and len(lines) == 1 and message in lines[0], result.stderr[-800:]
    assert "Traceback" not in result.stderr


def test_list_shows_the_dense_recipes_with_the_papers_numbers():
    result = run("--list", timeout=120)
    assert result.returncode == 0
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line}
    assert {"79.7", "78.3", "mIoU", "segmentation"} <= set(rows["cityscapes_deeplab_v3_40k_cosine"])
    assert {"37.1", "36.2", "AP", "detection"} <= set(rows["coco_retinanet_90k_cosine"])
    assert {"36.9", "36.5", "AP", "90k"} <= set(rows["coco_retinanet_90k"])


def test_tuner_accepts_a_segmentation_recipe(data_dir, tmp_path):
    result = run("--recipe=cityscapes_deeplab_v3_40k_cosine", f"--data_dir={data_dir}",
                 "--image_size=32,64", "--global_batch_size=2", "--steps_per_epoch=1",
                 "--method=bo_wd", "--max_trials=1", "--seeds=0", "--plots=false",
                 f"--directory={tmp_path}", module=TUNE)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "cityscapes_deeplab_v3_40k_cosine" / "results.json",
              encoding="utf-8") as f:
        results = json.load(f)
    assert results["objective"] == "val_metric" and results["direction"] == "max"
    (trial,) = results["runs"][0]["trials"]
    assert 0 <= trial["score"] <= 1


@pytest.mark.fault
@pytest.mark.timeout(600)  # two starts of two workers each
def test_two_workers_killed_and_restarted_train_segmentation_to_identical_weights(
        data_dir, tmp_path):
    """Two workers, one SIGKILLed after a checkpoint, both started again: they resume
    from it and end with identical weights and the classifier norm held."""
    model_dir = str(tmp_path / "mw")
    flags = [*SEG, "--flavour=fixnorm", "--strategy=multi_worker", "--iterations=2",
             f"--data_dir={data_dir}", f"--model_dir={model_dir}"]
    kill_workers_after_backup(command(*flags), worker_environments(2), model_dir, epoch=1,
                              timeout=300, logs=[tmp_path / "w0.log", tmp_path / "w1.log"])
    saved = backup_epoch(model_dir)
    assert saved >= 1 and not os.path.exists(os.path.join(model_dir, "metrics.json"))
    for returncode, out in run_together(command(*flags), worker_environments(2), timeout=300):
        assert returncode == 0, out[-3000:]
        assert "BatchNorm statistics stay per worker" in out
        assert f"resuming from iteration {saved} of 2" in out
    chief, other = read_metrics(model_dir), read_metrics(os.path.join(model_dir, "worker_1"))
    assert chief["replicas"] == 2 and chief["resumed_from_iteration"] == saved
    assert len(chief["history"]["loss"]) == 2 - saved
    # Synchronized BN hangs a worker under this strategy (fixnorm_experiments/run.py's note).
    assert not chief["sync_batch_norm"]
    assert all(math.isfinite(x) for x in chief["history"]["loss"])
    assert chief["weights_sha256"] == other["weights_sha256"]
    # Each worker scores with its own BatchNorm statistics (not synchronized under this
    # strategy, as the line above says), so the two mIoUs may differ a little.
    assert all(0 <= m["metric"] <= 100 for m in (chief, other))
    assert chief["held_norms"]["achieved"]["classifier"] == pytest.approx(1.0, rel=1e-4)
