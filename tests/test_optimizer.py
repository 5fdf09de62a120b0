"""FixNorm: the norms hold after every real update, in every way Keras trains,
on every Keras backend (tests that need one backend say which)."""

import math

import keras
import numpy as np
import pytest

import tf_fixnorm
from tf_fixnorm import FixNorm, projection
from tests import helpers
from tests.conftest import BACKEND
from tests.helpers import CLASSIFIER, INVARIANT, compile_model, conv_bn_model, data, var

ALPHA = 1.5


def initial_norm(model):
    return helpers.invariant_norm(model)


def assert_held(model, target, alpha=ALPHA, rtol=1e-5):
    assert helpers.invariant_norm(model) == pytest.approx(target, rel=rtol)
    assert float(projection.norm(var(model, CLASSIFIER[0]))) == pytest.approx(alpha, rel=rtol)


def test_fit_holds_norms_after_every_step_and_weights_move():
    keras.utils.set_random_seed(0)
    model = conv_bn_model()
    target = initial_norm(model)
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    opt = FixNorm(keras.optimizers.SGD(0.5, momentum=0.9), model, alpha=ALPHA)
    compile_model(model, opt)
    recorder = helpers.NormRecorder()
    x, y = data()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[recorder])
    assert len(recorder.norms) == 8
    for inv, cls in recorder.norms:
        assert inv == pytest.approx(target, rel=1e-5)
        assert cls == pytest.approx(ALPHA, rel=1e-5)
    # The projection holds norms; it must not freeze directions.
    for path in INVARIANT + CLASSIFIER:
        v = var(model, path)
        cos = np.sum(v.numpy() * before[v.path]) / (
            np.linalg.norm(v.numpy()) * np.linalg.norm(before[v.path]))
        assert cos < 0.999, path
    assert int(opt.iterations) == 8
    assert opt.targets()["scale_invariant"] == pytest.approx(target, rel=1e-6)


def test_without_fixnorm_the_norms_drift():
    """The control for the test above: plain SGD changes the norms."""
    keras.utils.set_random_seed(0)
    model = conv_bn_model()
    target = initial_norm(model)
    compile_model(model, keras.optimizers.SGD(0.5, momentum=0.9))
    x, y = data()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert abs(helpers.invariant_norm(model) - target) / target > 1e-3


def test_other_weights_get_the_plain_inner_update():
    """Biases, gamma/beta: identical to the bare optimizer's first step."""
    keras.utils.set_random_seed(0)
    a = conv_bn_model(name="a")
    b = conv_bn_model(name="b")
    b.set_weights(a.get_weights())
    compile_model(a, FixNorm(keras.optimizers.SGD(0.1), a, alpha=ALPHA))
    compile_model(b, keras.optimizers.SGD(0.1))
    x, y = data(16)
    a.train_on_batch(x, y)
    b.train_on_batch(x, y)
    for va, vb in zip(a.trainable_variables, b.trainable_variables):
        if va.path in INVARIANT + CLASSIFIER:
            continue
        np.testing.assert_allclose(va.numpy(), vb.numpy(), rtol=1e-6, atol=1e-7)
    # and the held kernels are the bare update, rescaled
    for path in INVARIANT:
        ua, ub = var(a, path).numpy(), var(b, path).numpy()
        cos = np.sum(ua * ub) / (np.linalg.norm(ua) * np.linalg.norm(ub))
        assert cos == pytest.approx(1.0, abs=1e-6)


def test_per_kernel_scope_holds_each_kernel():
    keras.utils.set_random_seed(1)
    model = conv_bn_model()
    initial = {p: float(projection.norm(var(model, p))) for p in INVARIANT}
    compile_model(model, FixNorm(keras.optimizers.SGD(0.5, momentum=0.9), model,
                                 alpha=ALPHA, scope="per_kernel"))
    model.fit(*data(), batch_size=16, epochs=1, verbose=0)
    for p in INVARIANT:
        assert float(projection.norm(var(model, p))) == pytest.approx(initial[p], rel=1e-5)


def test_global_scope_lets_kernels_trade_norm():
    keras.utils.set_random_seed(1)
    model = conv_bn_model()
    initial = {p: float(projection.norm(var(model, p))) for p in INVARIANT}
    compile_model(model, FixNorm(keras.optimizers.SGD(0.5, momentum=0.9), model,
                                 alpha=ALPHA, scope="global"))
    model.fit(*data(), batch_size=16, epochs=2, verbose=0)
    moved = [abs(float(projection.norm(var(model, p))) - initial[p]) / initial[p]
             for p in INVARIANT]
    assert max(moved) > 1e-4  # individual norms move; the group norm is held


def test_per_class_alpha():
    keras.utils.set_random_seed(2)
    model = conv_bn_model()
    compile_model(model, FixNorm(keras.optimizers.SGD(0.5), model, alpha=0.7,
                                 alpha_measure="per_class"))
    model.fit(*data(), batch_size=16, epochs=1, verbose=0)
    rows = np.linalg.norm(var(model, "fc/kernel").numpy(), axis=0)
    np.testing.assert_allclose(rows, 0.7, rtol=1e-5)


@pytest.mark.backends("tensorflow")
def test_custom_training_loop_tensorflow():
    import tensorflow as tf

    keras.utils.set_random_seed(3)
    model = conv_bn_model()
    target = initial_norm(model)
    opt = FixNorm(keras.optimizers.SGD(0.3, momentum=0.9, nesterov=True), model, alpha=ALPHA)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x, y = data(32)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    for _ in range(3):
        step(x, y)
        assert_held(model, target)
    # Targets were read once, when training began, not at every traced call.
    assert opt.targets()["scale_invariant"] == pytest.approx(target, rel=1e-6)


@pytest.mark.backends("jax")
def test_custom_training_loop_jax_jitted_stateless_apply():
    """JAX's own loop: a jitted step calling `stateless_apply`; FixNorm's
    projection runs inside it (the values come back already held)."""
    import jax

    keras.utils.set_random_seed(3)
    model = conv_bn_model()
    target = initial_norm(model)
    opt = FixNorm(keras.optimizers.SGD(0.3, momentum=0.9, nesterov=True), model, alpha=ALPHA)
    opt.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x, y = data(32)

    def loss_of(trainable, non_trainable, x, y):
        logits, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        return loss_fn(y, logits), non_trainable

    @jax.jit
    def step(state, x, y):
        trainable, non_trainable, optimizer_variables = state
        (loss, non_trainable), grads = jax.value_and_grad(loss_of, has_aux=True)(
            trainable, non_trainable, x, y)
        trainable, optimizer_variables = opt.stateless_apply(optimizer_variables, grads,
                                                             trainable)
        return loss, (trainable, non_trainable, optimizer_variables)

    state = ([v.value for v in model.trainable_variables],
             [v.value for v in model.non_trainable_variables],
             [v.value for v in opt.variables])
    for _ in range(3):
        _, state = step(state, x, y)
        for variable, value in zip(model.trainable_variables, state[0]):
            variable.assign(value)
        assert_held(model, target)
    for variable, value in zip(opt.variables, state[2]):
        variable.assign(value)
    assert int(opt.iterations) == 3
    assert opt.targets()["scale_invariant"] == pytest.approx(target, rel=1e-6)


@pytest.mark.backends("torch")
def test_custom_training_loop_torch():
    import torch

    keras.utils.set_random_seed(3)
    model = conv_bn_model()
    target = initial_norm(model)
    opt = FixNorm(keras.optimizers.SGD(0.3, momentum=0.9, nesterov=True), model, alpha=ALPHA)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x, y = (torch.as_tensor(a) for a in data(32))
    for _ in range(3):
        model.zero_grad()
        loss = loss_fn(y, model(x, training=True))
        loss.backward()
        grads = [v.value.grad for v in model.trainable_variables]
        with torch.no_grad():
            opt.apply(grads, model.trainable_variables)
        assert_held(model, target)
    assert opt.targets()["scale_invariant"] == pytest.approx(target, rel=1e-6)


@pytest.mark.parametrize("make_inner", [
    lambda: keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    lambda: keras.optimizers.Adam(1e-2),
    lambda: keras.optimizers.AdamW(1e-2, weight_decay=0.0),
    lambda: keras.optimizers.Lion(1e-3),
    lambda: keras.optimizers.Lamb(1e-2),
    lambda: keras.optimizers.RMSprop(1e-2),
], ids=["sgd_nesterov", "adam", "adamw", "lion", "lamb", "rmsprop"])
def test_any_inner_optimizer(make_inner):
    keras.utils.set_random_seed(4)
    model = conv_bn_model()
    target = initial_norm(model)
    compile_model(model, FixNorm(make_inner(), model, alpha=ALPHA))
    model.fit(*data(32), batch_size=16, epochs=1, verbose=0)
    assert_held(model, target)


def test_jit_compile():
    keras.utils.set_random_seed(5)
    model = conv_bn_model()
    target = initial_norm(model)
    compile_model(model, FixNorm(keras.optimizers.SGD(0.5, momentum=0.9), model, alpha=ALPHA),
                  jit_compile=True)
    model.fit(*data(32), batch_size=16, epochs=1, verbose=0)
    assert model.jit_compile
    assert_held(model, target)


def test_mixed_precision_wraps_fixnorm_in_loss_scale_optimizer():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(6)
        model = conv_bn_model()
        target = initial_norm(model)
        compile_model(model, FixNorm(keras.optimizers.SGD(0.2, momentum=0.9), model,
                                     alpha=ALPHA))
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(model.optimizer.inner_optimizer, FixNorm)
    model.fit(*data(32), batch_size=16, epochs=1, verbose=0)
    assert var(model, "c1/kernel").dtype == "float32"
    assert_held(model, target)
    assert int(model.optimizer.iterations) == 2


def test_skipped_nonfinite_step_does_not_project():
    """A LossScaleOptimizer step with inf gradients changes no weight."""
    keras.utils.set_random_seed(7)
    model = conv_bn_model()
    inner = FixNorm(keras.optimizers.SGD(0.2), model, alpha=ALPHA)
    opt = keras.optimizers.LossScaleOptimizer(inner)
    opt.build(model.trainable_variables)
    before = [v.numpy().copy() for v in model.trainable_variables]
    grads = [keras.ops.convert_to_tensor(np.full(v.shape, np.inf, "float32"))
             for v in model.trainable_variables]
    if BACKEND == "jax":  # JAX steps are stateless: the step's new values come back
        after, _ = opt.stateless_apply([v.value for v in opt.variables], grads,
                                       [v.value for v in model.trainable_variables])
        after = [np.asarray(a) for a in after]
    else:
        opt.apply(grads, model.trainable_variables)
        after = [v.numpy() for v in model.trainable_variables]
    for b, a in zip(before, after):
        np.testing.assert_array_equal(b, a)


def test_gradient_clipping_on_inner():
    keras.utils.set_random_seed(8)
    model = conv_bn_model()
    target = initial_norm(model)
    compile_model(model, FixNorm(keras.optimizers.SGD(0.5, global_clipnorm=0.1), model,
                                 alpha=ALPHA))
    model.fit(*data(32), batch_size=16, epochs=1, verbose=0)
    assert_held(model, target)


def test_gradient_accumulation_projects_only_on_update_steps():
    keras.utils.set_random_seed(9)
    model = conv_bn_model()
    target = initial_norm(model)
    opt = FixNorm(keras.optimizers.SGD(0.5, momentum=0.9, gradient_accumulation_steps=2),
                  model, alpha=ALPHA)
    compile_model(model, opt)
    x, y = data(16)
    before = [v.numpy().copy() for v in model.trainable_variables]
    model.train_on_batch(x, y)  # accumulates only: weights untouched, bit for bit
    for b, v in zip(before, model.trainable_variables):
        np.testing.assert_array_equal(b, v.numpy())
    model.train_on_batch(x, y)  # updates and projects
    assert_held(model, target)
    changed = [not np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables)]
    assert all(changed)


def test_ema_norms_held_during_and_after_training():
    keras.utils.set_random_seed(10)
    model = conv_bn_model()
    target = initial_norm(model)
    inner = keras.optimizers.SGD(0.5, momentum=0.9, use_ema=True, ema_momentum=0.9,
                                 ema_overwrite_frequency=3)
    compile_model(model, FixNorm(inner, model, alpha=ALPHA))
    recorder = helpers.NormRecorder()
    model.fit(*data(), batch_size=16, epochs=2, verbose=0, callbacks=[recorder])
    for inv, cls in recorder.norms:  # overwrite steps included
        assert inv == pytest.approx(target, rel=1e-5)
        assert cls == pytest.approx(ALPHA, rel=1e-5)
    # fit ends by swapping the EMA averages in; FixNorm holds those too.
    ema = [v.numpy() for v in inner._model_variables_moving_average]
    fc = var(model, "fc/kernel").numpy()
    assert_held(model, target)
    index = [v.path for v in model.trainable_variables].index(var(model, "fc/kernel").path)
    cos = np.sum(fc * ema[index]) / (np.linalg.norm(fc) * np.linalg.norm(ema[index]))
    assert cos == pytest.approx(1.0, abs=1e-6)


@pytest.mark.backends("tensorflow")
def test_mirrored_strategy_replicas_identical_and_norms_held():
    import tensorflow as tf

    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    assert len(devices) == 2, "conftest sets up two logical CPUs"
    strategy = tf.distribute.MirroredStrategy(devices)
    keras.utils.set_random_seed(11)
    with strategy.scope():
        model = conv_bn_model()
        target = initial_norm(model)
        compile_model(model, FixNorm(keras.optimizers.SGD(0.5, momentum=0.9), model,
                                     alpha=ALPHA))
    model.fit(*data(), batch_size=16, epochs=2, verbose=0)
    assert_held(model, target)
    for v in model.trainable_variables:
        copies = [c.numpy() for c in v.value.values]
        assert len(copies) == 2
        np.testing.assert_array_equal(copies[0], copies[1], err_msg=v.path)
    for v in model.optimizer.variables:
        copies = [c.numpy() for c in v.value.values] if hasattr(v.value, "values") else []
        for c in copies[1:]:
            np.testing.assert_array_equal(copies[0], c, err_msg=v.path)


def test_save_and_load_keras_format_resumes_with_same_targets(tmp_path):
    keras.utils.set_random_seed(12)
    model = conv_bn_model()
    target = initial_norm(model)
    compile_model(model, FixNorm(keras.optimizers.SGD(0.5, momentum=0.9), model,
                                 alpha=ALPHA, scope="per_kernel"))
    x, y = data()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    opt = loaded.optimizer
    assert isinstance(opt, FixNorm) and opt.scope == "per_kernel" and opt.alpha == ALPHA
    np.testing.assert_array_equal(opt.target_norms.numpy(), model.optimizer.target_norms.numpy())
    assert int(opt.iterations) == 4
    for a, b in zip(model.optimizer.inner_optimizer.variables, opt.inner_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # momentum restored
    loaded.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert int(opt.iterations) == 8
    assert_held(loaded, target)


def test_alpha_as_a_variable_changes_without_a_new_step_and_round_trips(tmp_path):
    """A tuner sets alpha between trials by assigning to it; the traced step
    reads the variable, and a saved model brings the variable back."""
    keras.utils.set_random_seed(3)
    model = conv_bn_model()
    target = initial_norm(model)
    alpha = keras.Variable(ALPHA, dtype="float32", trainable=False, name="alpha")
    opt = FixNorm(keras.optimizers.SGD(0.5, momentum=0.9), model, alpha=alpha)
    assert [v is alpha for v in opt.variables].count(True) == 1  # tracked, once
    compile_model(model, opt)
    x, y = data()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert_held(model, target)
    step = model.train_function
    alpha.assign(4.0)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert model.train_function is step  # the same step, not a new one
    assert_held(model, target, alpha=4.0)
    assert opt.targets()["classifier"] == pytest.approx(4.0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    restored = loaded.optimizer.alpha
    assert isinstance(restored, keras.Variable) and float(restored.numpy()) == 4.0
    for a, b in zip(opt.inner_optimizer.variables, loaded.optimizer.inner_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # momentum restored
    restored.assign(2.0)
    loaded.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert_held(loaded, target, alpha=2.0)
    with pytest.raises(ValueError, match="float scalar"):
        FixNorm(keras.optimizers.SGD(0.1), model, alpha=keras.Variable([1.0, 2.0]))


@pytest.mark.backends("tensorflow")
def test_tf_train_checkpoint_restores_and_resumes(tmp_path):
    import tensorflow as tf

    keras.utils.set_random_seed(13)
    x, y = data()

    def make():
        model = conv_bn_model()
        compile_model(model, FixNorm(keras.optimizers.SGD(0.5, momentum=0.9), model,
                                     alpha=ALPHA))
        return model

    model = make()
    target = initial_norm(model)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    prefix = tf.train.Checkpoint(model=model, optimizer=model.optimizer).save(
        str(tmp_path / "ckpt"))

    keras.utils.set_random_seed(99)  # a fresh model with other initial norms
    fresh = make()
    assert initial_norm(fresh) != pytest.approx(target, rel=1e-3)
    fresh.optimizer.build(fresh.trainable_variables)
    tf.train.Checkpoint(model=fresh, optimizer=fresh.optimizer).restore(prefix) \
        .assert_existing_objects_matched()
    assert float(fresh.optimizer.target_norms.numpy()) == pytest.approx(target, rel=1e-6)
    assert int(fresh.optimizer.iterations) == 4
    fresh.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert_held(fresh, target)


def test_config_round_trip():
    model = conv_bn_model()
    opt = FixNorm(keras.optimizers.SGD(0.25, momentum=0.8), model, alpha=2.0,
                  scope="per_kernel", alpha_measure="per_class")
    config = opt.get_config()
    clone = FixNorm.from_config(config)
    assert clone.get_config() == config
    assert clone.roles == tf_fixnorm.analyze(model).roles
    assert isinstance(clone.inner_optimizer, keras.optimizers.SGD)
    assert float(clone.inner_optimizer.learning_rate) == pytest.approx(0.25)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(again, FixNorm) and again.get_config() == config


def test_learning_rate_callbacks_reach_the_inner_optimizer(tmp_path):
    keras.utils.set_random_seed(14)
    model = conv_bn_model()
    inner = keras.optimizers.SGD(0.5, momentum=0.9)
    compile_model(model, FixNorm(inner, model, alpha=ALPHA))
    x, y = data(32)
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[schedule])
    assert float(inner.learning_rate) == pytest.approx(0.05)
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0,
                                                min_delta=1e9)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[plateau])
    assert float(inner.learning_rate) == pytest.approx(0.025)
    if BACKEND != "tensorflow":
        return  # reading the TensorBoard files back needs TensorFlow
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[
        keras.callbacks.TensorBoard(str(tmp_path / "tb"))])
    assert helpers.read_scalars(tmp_path / "tb" / "train")["epoch_learning_rate"] == \
        pytest.approx([0.025])


def test_zero_initialized_classifier_gives_no_nan():
    keras.utils.set_random_seed(15)
    model = conv_bn_model(classifier_init="zeros")
    opt = FixNorm(keras.optimizers.SGD(0.5), model, alpha=ALPHA)
    compile_model(model, opt)
    x, y = data(16)
    opt.build(model.trainable_variables)
    opt.project()  # norm zero: left at zero, not NaN
    assert np.all(var(model, "fc/kernel").numpy() == 0)
    model.train_on_batch(x, y)
    assert np.all(np.isfinite(var(model, "fc/kernel").numpy()))
    assert float(projection.norm(var(model, "fc/kernel"))) == pytest.approx(ALPHA, rel=1e-5)


@pytest.mark.parametrize("inner, message", [
    (lambda: keras.optimizers.SGD(0.1, weight_decay=1e-4), "weight_decay=0.0001"),
    (lambda: keras.optimizers.AdamW(1e-3), "AdamW defaults to 0.004"),
])
def test_refuses_weight_decay(inner, message):
    with pytest.raises(ValueError, match=message):
        FixNorm(inner(), conv_bn_model(), alpha=1.0)


def test_refuses_regularizers():
    model = conv_bn_model()
    model.get_layer("c2").kernel.regularizer = keras.regularizers.L2(1e-4)
    with pytest.raises(ValueError, match="c2/kernel"):
        FixNorm(keras.optimizers.SGD(0.1), model, alpha=1.0)


@pytest.mark.parametrize("alpha", [0.0, -1.0, math.nan, math.inf, "big"])
def test_refuses_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha must be a positive"):
        FixNorm(keras.optimizers.SGD(0.1), conv_bn_model(), alpha=alpha)


def test_refuses_misplaced_arguments():
    model = conv_bn_model()
    with pytest.raises(ValueError, match="set clipnorm on the inner optimizer"):
        FixNorm(keras.optimizers.SGD(0.1), model, alpha=1.0, clipnorm=1.0)
    with pytest.raises(ValueError, match="scope must be one of"):
        FixNorm(keras.optimizers.SGD(0.1), model, alpha=1.0, scope="layer")
    with pytest.raises(ValueError, match="wrap the plain optimizer"):
        FixNorm(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1)), model)
    with pytest.raises(ValueError, match="needs the model"):
        FixNorm(keras.optimizers.SGD(0.1), alpha=1.0)


def test_unbuilt_model_is_analysed_at_build():
    model = keras.Sequential([
        keras.layers.Conv2D(4, 3, use_bias=False, name="conv"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, name="head"),
    ], name="seq")
    opt = FixNorm(keras.optimizers.SGD(0.1), model, alpha=0.5)
    compile_model(model, opt)
    model.fit(*data(16, num_classes=3), batch_size=8, epochs=1, verbose=0)
    assert opt.roles["seq/conv/kernel"] == "scale_invariant"
    assert opt.roles["seq/head/kernel"] == "classifier"
    assert float(projection.norm(model.get_layer("head").kernel)) == pytest.approx(0.5, rel=1e-5)


class SubclassedNet(keras.Model):
    def __init__(self):
        super().__init__(name="sub")
        self.conv = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv")
        self.bn = keras.layers.BatchNormalization(momentum=0.9, name="bn")
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(4, name="head")

    def call(self, x, training=False):
        return self.head(self.pool(keras.ops.relu(self.bn(self.conv(x), training=training))))


def test_subclassed_model_with_sample():
    keras.utils.set_random_seed(16)
    model = SubclassedNet()
    x, y = data(32)
    model(x[:2])
    with pytest.raises(ValueError, match="needs sample="):
        FixNorm(keras.optimizers.SGD(0.1), model, alpha=1.0)
    opt = FixNorm(keras.optimizers.SGD(0.3, momentum=0.9), model, alpha=1.0, sample=x[:8])
    assert opt.roles == {"sub/conv/kernel": "scale_invariant", "sub/bn/gamma": "other",
                         "sub/bn/beta": "other", "sub/head/kernel": "classifier",
                         "sub/head/bias": "other"}
    start = float(projection.norm(model.conv.kernel))
    compile_model(model, opt)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert float(projection.norm(model.conv.kernel)) == pytest.approx(start, rel=1e-5)
    assert float(projection.norm(model.head.kernel)) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("scope", ["global", "per_kernel"])
def test_zero_initialized_invariant_kernel_gives_no_nan(scope):
    keras.utils.set_random_seed(17)
    model = conv_bn_model()
    var(model, "c2/kernel").assign(np.zeros(var(model, "c2/kernel").shape, "float32"))
    compile_model(model, FixNorm(keras.optimizers.SGD(0.5, momentum=0.9), model,
                                 alpha=ALPHA, scope=scope))
    model.fit(*data(32), batch_size=16, epochs=2, verbose=0)
    for v in model.trainable_variables:
        assert np.all(np.isfinite(v.numpy())), v.path


@pytest.mark.backends("tensorflow", "jax")
def test_projection_is_traced_into_the_step_not_run_per_step(monkeypatch):
    """No per-step Python: `project` runs while tracing (tf.function, jax.jit),
    then only inside the compiled step."""
    keras.utils.set_random_seed(18)
    model = conv_bn_model()
    target = initial_norm(model)
    calls = []
    original = FixNorm.project

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FixNorm, "project", counted)
    compile_model(model, FixNorm(keras.optimizers.SGD(0.5, momentum=0.9), model, alpha=ALPHA))
    model.fit(*data(), batch_size=16, epochs=1, verbose=0)
    traced = len(calls)
    assert 1 <= traced <= 2  # a step may be traced twice; never once per step
    model.fit(*data(), batch_size=16, epochs=3, verbose=0)  # 12 more steps
    assert len(calls) == traced
    assert_held(model, target)


def _se_model():
    from fixnorm_experiments.models import small_resnet

    return small_resnet((8, 8, 1), 4, width=8, blocks=(1, 1), se=True)


@pytest.mark.parametrize("other_kernels", ["free", "held"])
def test_other_kernels_free_or_held_at_their_initial_norm(other_kernels):
    import tf_fixnorm

    keras.utils.set_random_seed(0)
    model = _se_model()
    roles = tf_fixnorm.analyze(model).roles
    se_kernels = [v for v in model.trainable_variables if "_se_" in v.path and v.path.endswith("kernel")]
    assert se_kernels and all(roles[v.path] == "other" for v in se_kernels)
    before = [float(np.linalg.norm(v.numpy())) for v in se_kernels]
    biases_before = [v.numpy().copy() for v in model.trainable_variables if v.path.endswith("bias")]
    opt = FixNorm(keras.optimizers.SGD(0.5, momentum=0.9), model, alpha=2.0,
                  other_kernels=other_kernels)
    model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8, 8, 1)).astype("float32"), rng.integers(0, 4, 64)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    after = [float(np.linalg.norm(v.numpy())) for v in se_kernels]
    if other_kernels == "held":
        np.testing.assert_allclose(after, before, rtol=1e-5)
        assert opt.norm_report()["other"] == pytest.approx(opt.targets()["other"], rel=1e-5)
    else:  # they move (held ones stay within 1e-6 of their norms)
        assert max(abs(a / b - 1) for a, b in zip(after, before)) > 1e-4
        assert "other" not in opt.targets()
    # Biases are never held: they move either way.
    biases_after = [v.numpy() for v in model.trainable_variables if v.path.endswith("bias")]
    assert any(not np.allclose(a, b) for a, b in zip(biases_after, biases_before))


def test_other_kernels_round_trips_and_rejects_bad_values():
    model = _se_model()
    opt = FixNorm(keras.optimizers.SGD(0.1), model, other_kernels="held")
    clone = FixNorm.from_config(opt.get_config())
    assert clone.other_kernels == "held"
    with pytest.raises(ValueError, match="other_kernels must be one of"):
        FixNorm(keras.optimizers.SGD(0.1), model, other_kernels="frozen")
