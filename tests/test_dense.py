"""Segmentation and detection: DeepLabV3 R-50-D8 and keras-hub's RetinaNet, their
analysis, schedules, scoring."""

import dataclasses
import math

import keras
import numpy as np
import pytest

import tf_fixnorm
from fixnorm_experiments import recipes, tasks
from fixnorm_experiments.config import DataSource
from fixnorm_experiments.tasks.base import Plan
from fixnorm_experiments.train import schedules

keras_hub = pytest.importorskip("keras_hub")  # the [dense] extra; `make test` installs it
from fixnorm_experiments.models import deeplab_v3, dense  # noqa: E402
from tests.dense_fixtures import write_cityscapes_fixture, write_coco_fixture  # noqa: E402


def kernels(analysis):
    return [e for e in analysis.entries if len(e.shape) >= 2]


@pytest.fixture(scope="module")
def deeplab():
    keras.utils.set_random_seed(0)
    return dense.deeplab_v3(19, (32, 48, 3))


@pytest.fixture(scope="module")
def retinanet():
    keras.utils.set_random_seed(0)
    return dense.retinanet(5, (128, 128, 3))


@pytest.fixture(scope="module")
def retinanet_analysis(retinanet):
    return tf_fixnorm.analyze(retinanet)


@pytest.mark.parametrize("method", ["graph", "sample"])
def test_deeplab_analysis_every_conv_invariant_but_the_two_classifiers(deeplab, method):
    """Backbone (dilated stages included), ASPP (image pooling and the dilated
    branches included) and auxiliary convs all feed a BatchNorm; the two 1x1
    classifiers are the classifier. The graph rules and the probe agree."""
    if method == "sample":  # each kernel costs 4 forward passes: the smallest useful size
        keras.utils.set_random_seed(0)
        deeplab = dense.deeplab_v3(19, (16, 24, 3))
    sample = np.random.default_rng(0).standard_normal((2, *deeplab.input_shape[1:])).astype(
        "float32")
    analysis = tf_fixnorm.analyze(deeplab, method=method, sample=sample,
                                  classifier_outputs=dense.CLASSIFIER_OUTPUTS["deeplab_v3"])
    roles = {e.path: e.role for e in kernels(analysis)}
    assert sorted(p for p, r in roles.items() if r == "classifier") == \
        ["auxiliary_logits/kernel", "segmentation_logits/kernel"]
    invariant = {p for p, r in roles.items() if r == "scale_invariant"}
    assert invariant == set(roles) - {"auxiliary_logits/kernel", "segmentation_logits/kernel"}
    assert {"aspp_image_pool_conv/kernel", "aspp_1x1_conv/kernel", "aspp_3x3_d12_conv/kernel",
            "aspp_3x3_d24_conv/kernel", "aspp_3x3_d36_conv/kernel", "aspp_fuse_conv/kernel",
            "auxiliary_head_conv/kernel", "stage4_block3_conv2/kernel",
            "stage3_block1_shortcut_conv/kernel"} <= invariant
    # 3 stem + 16 blocks x 3 + 4 shortcuts, 6 ASPP, 1 auxiliary, 2 classifiers.
    assert len(roles) == 3 + 48 + 4 + 6 + 1 + 2


def test_deeplab_is_resnet50_d8_with_aspp_and_an_auxiliary_head(deeplab):
    """Dilations 2 and 4 (each stage's first block at half), stride 8, the
    parameters counted by hand, outputs at the input size for any size."""
    rates = {layer.name: layer.dilation_rate[0] for layer in deeplab.layers
             if isinstance(layer, keras.layers.Conv2D)}
    assert [rates[f"stage3_block{k}_conv2"] for k in (1, 2, 6)] == [1, 2, 2]
    assert [rates[f"stage4_block{k}_conv2"] for k in (1, 2, 3)] == [2, 4, 4]
    assert [rates[f"aspp_3x3_d{d}_conv"] for d in (12, 24, 36)] == [12, 24, 36]
    assert deeplab.get_layer("stage4_block3_out").output.shape[1:] == (4, 6, 2048)  # 32x48 / 8
    assert deeplab.get_layer("aspp_concat").output.shape[-1] == 5 * 512
    trainable = sum(int(np.prod(v.shape)) for v in deeplab.trainable_variables)
    backbone = 25_576_264 - (2048 * 1000 + 1000)  # ResNet50-D's, less its classifier
    aspp = (2 * 2048 * 512 + 3 * 9 * 2048 * 512 + 9 * 5 * 512 * 512  # pool, 1x1, 3x3s, fuse
            + 6 * 2 * 512 + 512 * 19 + 19)  # BN gammas and betas, classifier
    auxiliary = 9 * 1024 * 256 + 2 * 256 + 256 * 19 + 19
    assert trainable == backbone + aspp + auxiliary == 68_113_030
    odd = dense.deeplab_v3(19, (37, 50, 3))  # not a multiple of 8
    assert {k: tuple(v.shape) for k, v in odd.output.items()} == \
        {"segmentation": (None, 37, 50, 19), "auxiliary": (None, 37, 50, 19)}
    main = deeplab_v3.main_output(deeplab)
    assert main.output.shape == (None, 32, 48, 19)
    assert len(main.trainable_variables) < len(deeplab.trainable_variables)


def test_retinanet_alpha_governs_the_class_logits_not_the_box_regression(retinanet_analysis):
    roles = {e.path: e for e in kernels(retinanet_analysis)}
    assert [p for p, e in roles.items() if e.role == "classifier"] == \
        ["classification_head/logits_layer/kernel"]
    box = roles["box_head/logits_layer/kernel"]
    assert box.role == "other"
    # FPN and head hidden convs: no normalization after them.
    for path, entry in roles.items():
        if path.startswith(("fpn/", "box_head/", "classification_head/conv")):
            assert entry.role == "other", path
    backbone = [e for p, e in roles.items() if "_conv/kernel" in p and "/" not in p[:-7]]
    assert backbone and all(e.role == "scale_invariant" for e in backbone)


def test_retinanet_heads_start_as_in_the_paper(retinanet):
    prior = retinanet.classification_head.prediction_layer.bias.numpy()
    np.testing.assert_allclose(prior, -math.log(99), rtol=1e-6)
    np.testing.assert_array_equal(retinanet.box_head.prediction_layer.bias.numpy(), 0)
    for kernel in (retinanet.box_head.conv_layers[0].kernel,
                   retinanet.classification_head.conv_layers[3].kernel):
        assert 0.009 < float(np.std(kernel.numpy())) < 0.011  # keras-hub's: 0.05


def test_builders_refuse_sizes_the_models_cannot_take():
    with pytest.raises(ValueError, match="multiples of 128"):
        dense.retinanet(3, (96, 128, 3))
    with pytest.raises(ValueError, match="fixed image size"):
        dense.retinanet(3, (None, None, 3))
    with pytest.raises(ValueError, match="built on resnet50_d8"):
        dense.deeplab_v3(3, (64, 64, 3), backbone="vgg")
    with pytest.raises(ValueError, match="fixed height and width"):
        dense.deeplab_v3(3, (None, None, 3))


class _TwoHeads(keras.layers.Layer):
    """A custom layer (hidden from the graph) with a logits and a box conv."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Conv2D(4, 3, padding="same", name="hidden")
        self.logits = keras.layers.Conv2D(3, 1, name="logits")
        self.box = keras.layers.Conv2D(4, 1, name="box")

    def call(self, x):
        h = keras.ops.relu(self.hidden(x))
        return self.logits(h), self.box(h)


def test_sample_analysis_finds_one_classifier_per_logits_output():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    scores, boxes = _TwoHeads(name="heads")(x)
    model = keras.Model(inputs, {"scores": scores, "box_deltas": boxes})
    roles = tf_fixnorm.analyze(model).roles
    assert roles["stem/kernel"] == "scale_invariant"
    assert roles["heads/logits/kernel"] == "classifier"
    assert roles["heads/box/kernel"] == "other"  # "box" in the output name
    assert roles["heads/hidden/kernel"] == "other"
    both = tf_fixnorm.analyze(model, classifier_outputs=["scores", "box_deltas"]).roles
    assert both["heads/box/kernel"] == "classifier"
    assert both["heads/logits/kernel"] == "classifier"
    # By variable-path prefix: keras-hub's two heads both call theirs "logits_layer".
    chosen = tf_fixnorm.analyze(model, overrides={"heads/box": "classifier"}).roles
    assert chosen["heads/box/kernel"] == "classifier" and chosen["heads/box/bias"] == "other"
    with pytest.raises(ValueError, match="not an output"):
        tf_fixnorm.analyze(model, classifier_outputs="boxes")


@pytest.mark.parametrize("kind,checks", [
    # (step, lr) for peak 0.1 over 900 iterations, warm-up 100 where given.
    ("poly", [(0, 0.1), (450, (0.1 - 1e-4) * 0.5 ** 0.9 + 1e-4), (900, 1e-4)]),
    ("step", [(0, 0.1 / 100), (99, 0.1), (599, 0.1), (600, 0.01), (800, 0.001)]),
    ("cosine", [(0, 0.1), (450, 0.05), (900, 0.0)]),
])
def test_iteration_schedules(kind, checks):
    warmup = 100 if kind == "step" else 0
    schedule = schedules.build(kind, 0.1, 900, warmup, step_fractions=(2 / 3, 8 / 9))
    for step, expected in checks:
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-4, abs=1e-7), step
    again = type(schedule).from_config(schedule.get_config())
    assert float(again(450)) == pytest.approx(float(schedule(450)))


def test_dense_tasks_schedule_in_iterations_with_mmdets_steps():
    detection = tasks.make(dataclasses.replace(recipes.get("coco_retinanet_90k"),
                                               warmup_iterations=100))
    schedule = detection.schedule(0.1, Plan(9, 100, "iterations"))
    for step, expected in [(0, 0.1 / 100), (99, 0.1), (599, 0.1), (600, 0.01), (800, 0.001)]:
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-4, abs=1e-7), step


def test_dense_recipes_carry_the_seed_tables():
    dense_recipes = recipes.of_task("segmentation", "detection")
    rows = {(r.name, f): (r.settings(f), r.paper(f))
            for r in dense_recipes for f in ("fixnorm", "reference")}
    assert rows[("cityscapes_deeplab_v3_40k", "fixnorm")] == \
        (recipes.FixNormSettings(0.0335, 1.0), 79.4)
    assert rows[("cityscapes_deeplab_v3_40k_cosine", "fixnorm")] == \
        (recipes.FixNormSettings(0.043, 1.0), 79.7)
    assert rows[("cityscapes_deeplab_v3_40k_cosine", "reference")] == \
        (recipes.ReferenceSettings(0.01, 5e-4), 78.3)
    assert rows[("coco_retinanet_90k", "reference")] == \
        (recipes.ReferenceSettings(0.01, 1e-4), 36.5)
    assert rows[("coco_retinanet_90k_cosine", "fixnorm")] == \
        (recipes.FixNormSettings(0.0145, 0.5), 37.1)
    assert {r.iterations for r in dense_recipes} == {40_000, 90_000}
    assert {r.task for r in dense_recipes} == {"segmentation", "detection"}


class _OracleSegmenter:
    """Answers every image with the one-hot of its own labels."""

    def __init__(self, labels, num_classes):
        self.labels, self.num_classes = iter(labels), num_classes
        self.input_shape = (None, *labels[0].shape[1:3], 3)  # no twin to build

    def predict_on_batch(self, images):
        labels = next(self.labels)
        return np.eye(self.num_classes)[np.where(labels == 255, 0, labels)]


class _OracleDetector:
    """Answers every batch with its ground truth, in resized-image pixels."""

    def __init__(self, truths):
        self.truths = iter(truths)

    def __call__(self, images, training=False):
        return None

    def decode_predictions(self, outputs, images):
        truth = next(self.truths)
        boxes = truth["boxes"] * np.tile(truth["scale"], 2)[:, None, :]
        keep = ~truth["is_crowd"] & (truth["labels"] >= 0)
        first = np.argsort(~keep, axis=1, kind="stable")  # kept boxes first, like NMS
        take = lambda a: np.take_along_axis(a, first if a.ndim == 2 else first[..., None], 1)  # noqa: E731
        return {"boxes": take(np.where(keep[..., None], boxes, -1)),
                "labels": take(np.where(keep, truth["labels"], -1)),
                "confidence": take(keep.astype("float32")),
                "num_detections": keep.sum(axis=1)}


def test_score_gives_100_for_perfect_answers(tmp_path):
    write_cityscapes_fixture(str(tmp_path), height=64, width=128)
    write_coco_fixture(str(tmp_path))
    seg = tasks.make(dataclasses.replace(recipes.get("cityscapes_deeplab_v3_40k"),
                                         image_size=(32, 64)))
    data = seg.load_data(2, source=DataSource(str(tmp_path)))
    labels = [y.numpy() for _, y in data.scoring]
    assert labels[0].shape[1:] == (64, 128)  # whole images, not crops
    result = seg.score(_OracleSegmenter(labels, 19), data)
    assert result["metric"] == pytest.approx(100.0)

    det = tasks.make(dataclasses.replace(recipes.get("coco_retinanet_90k"),
                                         image_size=(128, 128)))
    data = det.load_data(2, source=DataSource(str(tmp_path)))
    truths = [{k: v.numpy() for k, v in t.items()} for _, t in data.scoring]
    assert any(t["is_crowd"].any() for t in truths)
    result = det.score(_OracleDetector(truths), data)
    assert result["metric"] == pytest.approx(100.0)
    assert result["AP50"] == pytest.approx(1.0)


def test_load_data_needs_a_data_dir():
    with pytest.raises(ValueError, match="needs --data_dir"):
        tasks.make(recipes.get("coco_retinanet_90k")).load_data(2)


def test_imagenet_resnet50_d_weights_load_into_the_dilated_backbone(deeplab, tmp_path):
    """A classification ResNet50-D (what the ImageNet recipes train) seeds the
    dilated backbone layer by layer; the heads keep their own weights."""
    from fixnorm_experiments.models.resnet_d import resnet50_d

    keras.utils.set_random_seed(1)
    classifier = resnet50_d(num_classes=7, input_shape=(64, 64, 3))
    path = str(tmp_path / "resnet50_d.weights.h5")
    classifier.save_weights(path)
    before = deeplab.get_layer("aspp_fuse_conv").kernel.numpy()
    task = tasks.make(recipes.get("cityscapes_deeplab_v3_40k"))
    task.load_backbone_weights(deeplab, path)
    for name in ("stem_conv1", "stage3_block1_conv2", "stage4_block3_norm3"):
        for a, b in zip(deeplab.get_layer(name).weights, classifier.get_layer(name).weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(deeplab.get_layer("aspp_fuse_conv").kernel.numpy(), before)
    with pytest.raises(ValueError, match="is not a file"):
        task.load_backbone_weights(deeplab, str(tmp_path / "missing.weights.h5"))


def _norms(model):
    return [layer for layer in model._flatten_layers()
            if isinstance(layer, keras.layers.BatchNormalization)]


def test_cityscapes_models_synchronize_batch_norm_as_mmseg_does():
    seg = recipes.get("cityscapes_deeplab_v3_40k")
    assert seg.sync_batch_norm and not recipes.get("coco_retinanet_90k").sync_batch_norm
    task = tasks.make(dataclasses.replace(seg, image_size=(64, 64)))
    model = task.build_model()
    norms = _norms(model)
    assert len(norms) > 50 and all(layer.synchronized for layer in norms)
    plain = task.build_model(sync_batch_norm=False)
    assert not any(layer.synchronized for layer in _norms(plain))


@pytest.mark.parametrize("size,dilation,kernel", [
    ((4, 6), 36, 3), ((4, 6), 4, 3), ((8, 16), 12, 3), ((9, 9), 2, 3), ((6, 20), 4, 5),
    ((8, 8), 2, 2), ((20, 20), 3, 4), ((5, 5), 7, (3, 1))])
def test_atrous_conv_is_conv2d_without_the_taps_that_see_only_padding(size, dilation, kernel):
    """Same outputs and kernel gradient as Conv2D, taps beyond the map included."""
    import tensorflow as tf

    from fixnorm_experiments.models.blocks import AtrousConv2D

    x = tf.constant(np.random.default_rng(0).standard_normal((2, *size, 5)), tf.float32)
    atrous = AtrousConv2D(3, kernel, padding="same", dilation_rate=dilation, use_bias=True)
    plain = keras.layers.Conv2D(3, kernel, padding="same", dilation_rate=dilation,
                                use_bias=True)
    atrous.build(x.shape)
    plain.build(x.shape)
    plain.set_weights([np.random.default_rng(1).standard_normal(w.shape)
                       for w in plain.get_weights()])
    atrous.set_weights(plain.get_weights())
    gradients = []
    for layer in (atrous, plain):
        with tf.GradientTape() as tape:
            y = layer(x)
            loss = tf.reduce_sum(y * y)
        gradients.append((y.numpy(), tape.gradient(loss, layer.kernel).numpy()))
    np.testing.assert_allclose(gradients[0][0], gradients[1][0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gradients[0][1], gradients[1][1], rtol=1e-4, atol=1e-4)


def test_retinanet_losses_sum_over_classes_and_coordinates_with_alpha():
    """The RetinaNet paper's (and mmdet's) losses: focal with alpha 0.25 and gamma
    2 summed over classes, L1 summed over the 4 box coordinates; keras-hub's
    defaults average both and leave alpha out."""
    from fixnorm_experiments.train import detection_losses

    logits = np.array([[[2.0, -1.0, 0.5], [-3.0, 0.0, 1.0]]], "float32")
    labels = np.array([[[1, 0, 0], [0, 0, 1]]], "float32")
    p = 1 / (1 + np.exp(-logits.astype("float64")))
    expected = np.where(labels == 1, -0.25 * (1 - p) ** 2 * np.log(p),
                        -0.75 * p ** 2 * np.log(1 - p)).sum(axis=-1)
    got = keras.ops.convert_to_numpy(detection_losses.sigmoid_focal_loss(labels, logits))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    boxes, predicted = np.zeros((1, 2, 4), "float32"), np.array([[[1, -2, 0.5, 0],
                                                                  [0, 0, 0, -0.25]]], "float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(detection_losses.box_l1_loss(boxes, predicted)),
        [[3.5, 0.25]])


def test_retinanet_keeps_detections_from_score_0_05_and_compiles_the_reference_losses(
        retinanet):
    assert retinanet.prediction_decoder.confidence_threshold == dense.SCORE_THRESHOLD == 0.05
    task = tasks.make(dataclasses.replace(recipes.get("coco_retinanet_90k"),
                                          image_size=(128, 128)))
    task.compile(retinanet, keras.optimizers.SGD(0.01))
    names = [type(loss).__name__ for loss in keras.tree.flatten(retinanet._compile_loss._user_loss)]
    functions = {getattr(loss, "fn", None) for loss in
                 keras.tree.flatten(retinanet._compile_loss._user_loss)}
    from fixnorm_experiments.train import detection_losses

    assert names and {detection_losses.sigmoid_focal_loss,
                      detection_losses.box_l1_loss} <= functions


def test_whole_images_of_any_size_are_scored_by_a_twin_with_the_same_weights():
    """Evaluation at full resolution: the model is rebuilt at the image's size
    (any size, not a multiple of the stride) with the trained weights, and
    predicts the main output only."""
    task = tasks.make(dataclasses.replace(recipes.get("cityscapes_deeplab_v3_40k"),
                                          image_size=(32, 48)))
    keras.utils.set_random_seed(0)
    model = task.build_model(sync_batch_norm=False)
    twin = task._at_size(model, (44, 70))
    assert twin.output.shape == (None, 44, 70, 19)
    for a, b in zip(twin.trainable_variables,
                    deeplab_v3.main_output(model).trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    same = task._at_size(model, (32, 48))
    assert same.output.shape == (None, 32, 48, 19) and same.layers[1] is model.layers[1]


def test_segmentation_replica_losses_add_up_to_the_global_weighted_mean():
    """Under a 2-replica MirroredStrategy the replicas' shares of the custom
    loop's loss sum to the global mean of main + 0.4 x auxiliary cross-entropy
    (Keras already scales a mean loss by 1 / replicas inside a replica)."""
    import tensorflow as tf

    from fixnorm_experiments.tasks import segmentation

    task = tasks.make(recipes.get("cityscapes_deeplab_v3_40k"))
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 19, (4, 3, 5)).astype("int32")
    logits = {name: rng.standard_normal((4, 3, 5, 19)).astype("float32")
              for name in segmentation.LOSS_WEIGHTS}
    cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                               ignore_class=255)
    expected = sum(weight * float(cross_entropy(labels, logits[name]))
                   for name, weight in segmentation.LOSS_WEIGHTS.items())
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    loss = task.replica_loss(None, 4, strategy.num_replicas_in_sync)

    def share():
        i = tf.distribute.get_replica_context().replica_id_in_sync_group
        y = tf.gather(labels, [2 * i, 2 * i + 1])
        y_pred = {name: tf.gather(value, [2 * i, 2 * i + 1]) for name, value in logits.items()}
        return loss(None, {name: y for name in logits}, y_pred)

    with strategy.scope():
        total = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(share), axis=None)
    assert float(total) == pytest.approx(expected, rel=1e-5)
