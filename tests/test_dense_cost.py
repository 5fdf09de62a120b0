"""benchmarks/dense_cost.py: MACs counted inside custom layers, and the script end to end."""

import json
import os
import subprocess
import sys

import keras
import pytest

from benchmarks.dense_cost import forward_macs, training_hours
from benchmarks.recipe_cost import count_macs
from tests.binaries import ROOT, clean_env


class Head(keras.layers.Layer):
    """A custom layer hiding a convolution, as keras-hub's ASPP and heads do."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(5, 3, padding="same", use_bias=False)

    def call(self, x):
        return self.conv(x)


def test_the_profiler_counts_convolutions_inside_custom_layers():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    outputs = Head(name="head")(x)
    model = keras.Model(inputs, outputs)
    visible = 16 * 16 * 4 * (3 * 3 * 3)
    hidden = 16 * 16 * 5 * (3 * 3 * 4)
    assert forward_macs(model, (16, 16, 3)) == visible + hidden
    walked, _, uncounted = count_macs(model)
    assert walked == visible and uncounted == ["head"]


def test_training_hours_scale_with_images_and_gpus():
    one = training_hours(1e9, 1000, gpus=1, peak_tflops=100, utilization=0.5)
    assert one == pytest.approx(3 * 2 * 1e9 * 1000 / (100e12 * 0.5) / 3600)
    assert training_hours(1e9, 2000, gpus=2, peak_tflops=100, utilization=0.5) == \
        pytest.approx(one)


def test_script_prints_and_writes_every_asked_recipe(tmp_path):
    pytest.importorskip("keras_hub")
    out = tmp_path / "cost.json"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "dense_cost.py"),
         "--recipes=cityscapes_deeplab_v3_40k,cityscapes_deeplab_v3_40k_cosine",
         "--image_size=64,128", "--crosscheck=false", f"--json={out}"],
        cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["recipe"] for r in rows] == ["cityscapes_deeplab_v3_40k",
                                          "cityscapes_deeplab_v3_40k_cosine"]
    # DeepLabV3 R-50-D8 is plain Keras layers: the walk sees every conv and
    # is the count. At 64x128 the stride-8 map (8x16) is smaller than the
    # ASPP's dilations, so the traced graph skips the taps that only see
    # padding (AtrousConv2D) and counts less.
    assert rows[0]["uncounted_layers"] == []
    assert rows[0]["macs"] == rows[1]["macs"] == rows[0]["walked_macs"]
    assert 0 < rows[0]["traced_macs"] < rows[0]["walked_macs"]
    assert rows[0]["params"] > 68e6 and rows[0]["backbone"] == "resnet50_d8"
    assert "cityscapes_deeplab_v3_40k_cosine" in result.stdout


def test_a_classification_recipe_is_one_error_line():
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "dense_cost.py"),
         "--recipes=digits_tune"], cwd=ROOT, env=clean_env(), capture_output=True, text=True,
        timeout=120)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "recipe_cost.py" in errors[0]
