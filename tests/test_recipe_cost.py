"""benchmarks/recipe_cost.py: the MAC counter, the memory and time arithmetic, the CLI."""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "recipe_cost.py")


def _load():
    spec = importlib.util.spec_from_file_location("recipe_cost", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rc = _load()


def run_script(*flags, timeout=120):
    environment = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, SCRIPT, *flags], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def tiny_model():
    """8x8x3 -> conv 3x3 (4) -> grouped 1x1 conv (4, groups=2) -> depthwise 3x3 stride 2
    -> BN -> ReLU -> global pool -> Dense(5)."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.Conv2D(4, 1, groups=2, use_bias=False)(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(5)(x))


def test_mac_counter_on_a_hand_computed_model():
    total, by_kind, uncounted = rc.count_macs(tiny_model())
    conv = 8 * 8 * 4 * (3 * 3 * 3)  # 6912: 256 outputs x 27 inputs each
    grouped = 8 * 8 * 4 * (1 * 1 * 2)  # 512: each output sees 4 / 2 groups = 2 channels
    depthwise = 4 * 4 * 4 * (3 * 3)  # 576: 64 outputs at stride 2, 9 inputs each
    dense = 5 * 4  # 20
    assert by_kind == {"conv": conv + grouped, "depthwise": depthwise, "dense": dense}
    assert total == 8020 and uncounted == []


def test_activation_elements_and_params_on_the_hand_computed_model():
    model = tiny_model()
    # input 192, conv 256, grouped conv 256, depthwise 64, BN 64, ReLU 64, pool 4, dense 5
    assert rc.activation_elements(model) == 192 + 256 + 256 + 64 + 64 + 64 + 4 + 5
    # conv 3*3*3*4 + 4, grouped 1*1*2*4, depthwise 3*3*4, BN gamma+beta 8, dense 4*5 + 5
    assert rc.param_counts(model) == (112 + 8 + 36 + 8 + 25, 8)


def test_a_kernel_layer_of_unknown_kind_is_reported_not_silently_zero():
    inputs = keras.Input((4, 4, 2))
    x = keras.layers.Conv2DTranspose(3, 2, strides=2, name="up")(inputs)
    total, _, uncounted = rc.count_macs(keras.Model(inputs, x))
    assert total == 0 and uncounted == ["up"]


def test_mac_counter_matches_the_published_mobilenet_v2_count():
    model = keras.applications.MobileNetV2(input_shape=(224, 224, 3), weights=None)
    macs = rc.count_macs(model)[0]
    assert abs(macs / 300e6 - 1) < 0.01  # Sandler et al.: 300M multiply-adds


def test_memory_arithmetic_on_known_numbers():
    assert rc.state_bytes(1000, 10, mixed=False) == 1000 * 12 + 10 * 4
    assert rc.state_bytes(1000, 10, mixed=True) == 1000 * 14 + 10 * 4
    assert rc.per_gpu_batch(1024, 8) == 128 and rc.per_gpu_batch(1024, 3) == 342
    assert rc.per_gpu_bytes(100, 10, 8, 1.5) == pytest.approx(1.5 * (100 + 80))
    assert rc.max_batch(100, 10, 270, 1.5) == 8  # 270 / 1.5 = 180 = 100 + 8 * 10
    assert rc.max_batch(100, 10, 269, 1.5) == 7
    assert rc.max_batch(100, 10, 150, 1.5) == 0  # the state alone does not fit


def test_time_arithmetic_on_known_numbers():
    # 1e9 MACs -> 6e9 training FLOPs/example; 1e6 examples -> 6e15 FLOPs;
    # 2 GPUs x 100 TFLOP/s x 0.5 = 1e14 FLOP/s -> 60 s.
    assert rc.train_flops_per_example(1e9) == 6e9
    assert rc.epoch_seconds(1e9, 1_000_000, 2, 100.0, 0.5) == pytest.approx(60.0)
    assert rc.gpu_hours(60.0, 10, 2) == pytest.approx(1200 / 3600)
    # 1e6 examples in 60 s on 2 GPUs at 100 TFLOP/s is utilization 0.5.
    assert rc.implied_utilization(1e9, 1e6 / 60, 2, 100.0) == pytest.approx(0.5)


def test_default_utilizations_are_the_calibration_rounded():
    for c in rc.CALIBRATION:
        implied = rc.implied_utilization(c["macs"], c["images_per_s"], c["gpus"],
                                         rc.CALIBRATION_PEAK_TFLOPS)
        assert rc.DEFAULT_UTILIZATION[c["family"]] == pytest.approx(implied, rel=0.05)


def test_validate_names_the_bad_option():
    assert rc.validate(rc.Options()) is None
    assert "--gpus" in rc.validate(rc.Options(gpus=0))
    assert "--memory_headroom" in rc.validate(rc.Options(memory_headroom=0.9))
    assert "--utilization" in rc.validate(rc.Options(utilization=1.5))


def test_estimate_of_a_recipe_at_its_own_size_agrees_with_table2_and_the_arithmetic():
    options = rc.Options(gpus=4, gpu_memory_gib=40.0, memory_headroom=1.25)
    (row,) = rc.estimate(rc.imagenet_recipes(["mobilenet_v2_150"]), options)
    assert row["image_size"] == 224 and row["per_gpu_batch"] == 256
    assert row["trainable_params"] == 3_504_872  # keras.applications' count
    assert row["table2_label"] == "300M" and row["table2_agrees"]
    assert abs(row["macs_ratio"] - 1) < 0.05
    assert row["family"] == "depthwise" and row["utilization"] == options.utilization_depthwise
    act, state = row["activation_elements"], rc.state_bytes(3_504_872, row["non_trainable_params"],
                                                           True)
    assert row["per_gpu_gib_mixed"] == pytest.approx(1.25 * (state + 256 * 2 * act) / 2 ** 30)
    assert row["max_per_gpu_batch_mixed"] == rc.max_batch(state, 2 * act, 40 * 2 ** 30, 1.25)
    assert row["est_minutes_per_epoch"] == pytest.approx(
        rc.epoch_seconds(row["macs"], 1_281_167, 4, 312.0, 0.016) / 60)
    assert row["est_gpu_hours_total"] == pytest.approx(
        row["est_minutes_per_epoch"] * 60 * 150 * 4 / 3600)
    text = rc.report([row], options, "cmd")
    assert "mobilenet_v2_150" in text and "within +-5% of Table 2" in text
    assert "DISAGREES" not in text and "command: cmd" in text
    assert f"one run (one flavour) each: {row['est_gpu_hours_total']:.0f} GPU-hours" in text


def test_a_disagreement_with_table2_is_printed():
    row = {"model": "m", "macs": 426e6, "table2_label": "386M", "macs_ratio": 426 / 386,
           "table2_agrees": False, "uncounted_layers": []}
    (line,) = rc.table2_remarks([row])
    assert line.startswith("DISAGREES with Table 2: m") and "1.104" in line


def test_cpu_measurement_runs_real_training_steps():
    median, times = rc.measure_cpu(tiny_model(), 8, batch_size=2, steps=2, warmup_steps=1,
                                   seed=0)
    assert len(times) == 2 and median > 0


def test_script_main_path_writes_the_rows(tmp_path):
    out = tmp_path / "cost.json"
    result = run_script("--recipes=mobilenet_v2_150", "--image_size=64", "--measure_cpu=false",
                        "--crosscheck=false", f"--json={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "mobilenet_v2_150" in result.stdout and "assumptions and method:" in result.stdout
    assert "no Table 2 comparison" in result.stdout  # the size override drops the comparison
    data = json.loads(out.read_text())
    (row,) = data["rows"]
    assert row["image_size"] == 64 and "macs_ratio" not in row and "cpu_images_per_s" not in row
    assert 0 < row["macs"] < 300e6 * (64 / 224) ** 2 * 1.2


@pytest.mark.parametrize("flag, words", [
    ("--gpus=0", "--gpus must be >= 1"),
    ("--peak_tflops=-1", "--peak_tflops must be > 0"),
    ("--gpus=many", "gpus"),
])
def test_bad_flags_give_one_error_line(flag, words):
    result = run_script(flag, "--measure_cpu=false")
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert words in line


def test_a_recipe_that_is_not_imagenet_is_an_error():
    result = run_script("--recipes=digits_small_resnet", "--measure_cpu=false")
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "not ImageNet" in line
