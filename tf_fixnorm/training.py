"""Training plumbing shared by the binaries: strategy, schedule, optimizer, callbacks.

Nothing here knows a dataset or a model architecture: `recipes/train.py`
passes those in.
"""

import hashlib
import json
import os

import keras
import tensorflow as tf

from tf_fixnorm.callbacks import NormMonitor
from tf_fixnorm.coupled_l2 import SGDCoupledL2
from tf_fixnorm.optimizer import FixNorm

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu")
MOMENTUM = 0.9


def make_strategy(name):
    """A tf.distribute strategy by name; a ValueError saying what to do otherwise."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        device = "/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0"
        return tf.distribute.OneDeviceStrategy(device)
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy=multi_worker needs TF_CONFIG (the cluster and this "
                             "task) in the environment of every worker")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError) as error:
            raise ValueError(f"--strategy=tpu found no TPU: {error}") from None
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")


def worker_model_dir(model_dir):
    """`model_dir` for the chief; `model_dir/worker_<index>` for other workers.

    Multi-worker runs read TF_CONFIG; every worker writes checkpoints (saving
    is collective), and only the chief's go where the user asked.
    """
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = config.get("task", {})
    chief = (not task or task.get("type") == "chief"
             or (task.get("type") == "worker" and task.get("index") == 0
                 and "chief" not in config.get("cluster", {})))
    return model_dir if chief else os.path.join(
        model_dir, f"{task.get('type')}_{task.get('index')}")


def synchronize_batch_norm(model):
    """Make every BatchNormalization in `model` use statistics over all replicas.

    With a few images per replica (Cityscapes: 8 crops over 8 GPUs), per-replica
    statistics are poor; mmseg trains with synchronized BN. Keras 3 does not
    even average per-replica statistics: under MirroredStrategy the moving
    statistics follow the first replica's batch (measured: replicas seeing 0s
    and 2s give moving mean 0, variance 0; synchronized, 1 and 1). Set before
    the first training step (the flag is read when the step is traced).

    Returns:
      How many layers were changed, nested layers (keras-hub's) included.
    """
    norms = [layer for layer in model._flatten_layers(include_self=False)
             if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.synchronized = True
    return len(norms)


def check_global_batch(global_batch_size, strategy):
    """The global batch must split evenly over the replicas."""
    replicas = strategy.num_replicas_in_sync
    if global_batch_size < 1 or global_batch_size % replicas:
        raise ValueError(f"global batch {global_batch_size} does not split over {replicas} "
                         f"replicas: use a positive multiple of {replicas}")
    return global_batch_size // replicas


@keras.saving.register_keras_serializable(package="tf_fixnorm")
class WarmupStepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak`, then x`factor` at each boundary step."""

    def __init__(self, peak, warmup_steps, boundaries, factor=0.1):
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.boundaries = [int(b) for b in boundaries]
        self.factor = float(factor)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        drops = tf.add_n([tf.cast(step >= b, tf.float32) for b in self.boundaries]) \
            if self.boundaries else 0.0
        decayed = self.peak * tf.pow(self.factor, drops)
        if not self.warmup_steps:
            return decayed
        warm = self.peak * (step + 1.0) / float(self.warmup_steps)
        return tf.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps,
                "boundaries": self.boundaries, "factor": self.factor}


def lr_schedule(peak_lr, steps_per_epoch, epochs, warmup_epochs=0, kind="cosine"):
    """Linear warm-up for `warmup_epochs`, then cosine decay to 0 or step decay.

    Step decay divides by 10 at 1/3, 2/3 and 8/9 of training (30/60/80 of 90).
    """
    total = steps_per_epoch * epochs
    warmup = min(steps_per_epoch * warmup_epochs, total - 1)
    if kind == "cosine":
        if warmup:
            return keras.optimizers.schedules.CosineDecay(
                0.0, decay_steps=total - warmup, warmup_target=peak_lr, warmup_steps=warmup)
        return keras.optimizers.schedules.CosineDecay(peak_lr, decay_steps=total)
    if kind == "step":
        return WarmupStepDecay(peak_lr, warmup, [round(total * f) for f in (1 / 3, 2 / 3, 8 / 9)])
    raise ValueError(f"schedule must be 'cosine' or 'step', got {kind!r}")


@keras.saving.register_keras_serializable(package="tf_fixnorm")
class WarmupPolyDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak`, then `(peak - end) * (1 - t/T)**power + end`
    (mmseg's "poly" schedule: power 0.9, end 1e-4)."""

    def __init__(self, peak, total_steps, warmup_steps=0, power=0.9, end=1e-4):
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.power = float(power)
        self.end = float(end)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        done = tf.minimum(step / float(self.total_steps), 1.0)
        decayed = (self.peak - self.end) * tf.pow(1.0 - done, self.power) + self.end
        if not self.warmup_steps:
            return decayed
        warm = self.peak * (step + 1.0) / float(self.warmup_steps)
        return tf.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "power": self.power, "end": self.end}


def iteration_schedule(peak_lr, iterations, warmup_iterations=0, kind="poly"):
    """Schedules of the segmentation and detection recipes, in iterations.

    "poly": mmseg's (power 0.9 down to 1e-4); "step": /10 at 2/3 and 8/9 of
    training (mmdet's 1x: 60k and 80k of 90k); "cosine": cosine decay to 0.
    Each after a linear warm-up of `warmup_iterations`.
    """
    warmup = min(int(warmup_iterations), iterations - 1)
    if kind == "poly":
        return WarmupPolyDecay(peak_lr, iterations, warmup)
    if kind == "step":
        return WarmupStepDecay(peak_lr, warmup, [round(iterations * f) for f in (2 / 3, 8 / 9)])
    if kind == "cosine":
        if warmup:
            return keras.optimizers.schedules.CosineDecay(
                0.0, decay_steps=iterations - warmup, warmup_target=peak_lr,
                warmup_steps=warmup)
        return keras.optimizers.schedules.CosineDecay(peak_lr, decay_steps=iterations)
    raise ValueError(f"schedule must be 'poly', 'step' or 'cosine', got {kind!r}")


def make_optimizer(flavour, model, schedule, alpha=None, weight_decay=None, scope="global",
                   alpha_measure="frobenius", other_kernels="free", **analysis):
    """FixNorm(SGD momentum) for "fixnorm"; SGD momentum + coupled L2 for "reference".

    `analysis` (overrides=, classifier_outputs=, sample=) goes to FixNorm.
    """
    if flavour == "fixnorm":
        return FixNorm(keras.optimizers.SGD(schedule, momentum=MOMENTUM), model, alpha=alpha,
                       scope=scope, alpha_measure=alpha_measure, other_kernels=other_kernels,
                       **analysis)
    if flavour == "reference":
        return SGDCoupledL2(schedule, momentum=MOMENTUM, l2=weight_decay)
    raise ValueError(f"flavour must be 'fixnorm' or 'reference', got {flavour!r}")


def resumed_epoch(model_dir):
    """The epoch a BackupAndRestore backup under `model_dir` resumes from (0: none)."""
    path = os.path.join(model_dir, "backup", "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as f:
        return int(json.load(f).get("epoch", 0))


def weights_digest(model):
    """sha256 of the trainable weights: equal digests, equal models."""
    digest = hashlib.sha256()
    for v in model.trainable_variables:
        digest.update(v.numpy().tobytes())
    return digest.hexdigest()


def make_callbacks(model_dir):
    """Resume, checkpoints every epoch, norms and TensorBoard logs, under `model_dir`.

    BackupAndRestore comes first so a restarted run restores before anything
    else; NormMonitor before TensorBoard so its values reach the logs.
    """
    return [
        keras.callbacks.BackupAndRestore(os.path.join(model_dir, "backup")),
        NormMonitor(),
        keras.callbacks.ModelCheckpoint(
            os.path.join(model_dir, "checkpoints", "epoch_{epoch:03d}.weights.h5"),
            save_weights_only=True),
        keras.callbacks.TensorBoard(os.path.join(model_dir, "logs")),
    ]



def custom_loop_fit(model, loss_fn, train_ds, epochs, steps_per_epoch, global_batch_size,
                    strategy, backup_dir, replica_loss=None):
    """Train with `strategy.run` and resume from `backup_dir`: the multi-worker path.

    Keras 3's `fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585);
    TensorFlow's documented custom loop does not. Every worker saves a
    checkpoint after every epoch (saving is collective): the chief into
    `backup_dir`, the others into their own directories.

    The loss is `loss_fn(y, y_pred)` per example, averaged over the global
    batch; or, where `replica_loss(x, y, y_pred)` is given (models whose
    loss is not per example, like keras-hub's RetinaNet `compute_loss`), that
    replica's mean loss, divided by the number of replicas.

    Returns:
        (first epoch run, list of per-epoch mean training losses).
    """
    optimizer = model.optimizer
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch)
    manager = tf.train.CheckpointManager(checkpoint, backup_dir, max_to_keep=1)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint)
    first = int(epoch.numpy())
    distributed = strategy.experimental_distribute_dataset(train_ds)

    @tf.function
    def train_steps(iterator, steps):
        def step(x, y):
            with tf.GradientTape() as tape:
                y_pred = model(x, training=True)
                if replica_loss is not None:
                    loss = replica_loss(x, y, y_pred) / strategy.num_replicas_in_sync
                else:
                    loss = tf.nn.compute_average_loss(loss_fn(y, y_pred),
                                                      global_batch_size=global_batch_size)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        total = tf.constant(0.0)
        for _ in tf.range(steps):
            total += strategy.reduce("SUM", strategy.run(step, args=next(iterator)), axis=None)
        return total / tf.cast(steps, tf.float32)

    losses = []
    iterator = iter(distributed)
    for _ in range(first, epochs):
        losses.append(float(train_steps(iterator, tf.constant(steps_per_epoch))))
        epoch.assign_add(1)
        manager.save()
        print(f"epoch {int(epoch.numpy())}/{epochs}: loss {losses[-1]:.4f}", flush=True)
    return first, losses


def evaluate_locally(model, dataset, loss_fn):
    """(mean loss, accuracy) of a logits classifier, in plain eager batches.

    For the multi-worker path, where `model.evaluate` fails like `fit`
    (keras-team/keras#20585): every worker holds the same weights, so each
    evaluates the whole eval set on its own copy. Labels may be integers or
    one-hot; `loss_fn` must sum over the batch (reduction "sum").
    """
    total_loss, correct, count = 0.0, 0, 0
    for x, y in dataset:
        logits = model(x, training=False)
        total_loss += float(loss_fn(y, logits))
        labels = tf.argmax(y, axis=-1) if len(y.shape) == 2 else y
        correct += int(tf.reduce_sum(tf.cast(
            tf.equal(tf.argmax(logits, axis=-1), tf.cast(labels, tf.int64)), tf.int32)))
        count += int(tf.shape(y)[0])
    return total_loss / count, correct / count
