"""Where a run trains: tf.distribute strategies, replicas, per-worker directories."""

import json
import os

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu")


def require_tensorflow_backend(binary):
    """The recipes train with tf.data and tf.distribute: a ValueError saying so
    on another Keras backend (the tf_fixnorm library runs on every backend)."""
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ValueError(f"{binary} runs on Keras' TensorFlow backend (tf.data, tf.distribute), "
                         f"not {backend}: unset KERAS_BACKEND or set it to tensorflow. FixNorm "
                         "itself (the tf_fixnorm library) runs on every backend")


def split_cpu(count):
    """Make the first CPU `count` logical devices (to try `mirrored` on a CPU).

    Must run before TensorFlow initializes its devices.
    """
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def make_strategy(name):
    """A tf.distribute strategy by name; a ValueError saying what to do otherwise."""
    import tensorflow as tf

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


def is_multi_worker(strategy):
    """Whether `strategy` spans workers (Keras 3's fit fails there: keras-team/keras#20585)."""
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


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


def check_global_batch(global_batch_size, strategy):
    """The per-replica batch; a ValueError if the global batch does not split evenly."""
    replicas = strategy.num_replicas_in_sync
    if global_batch_size < 1 or global_batch_size % replicas:
        raise ValueError(f"global batch {global_batch_size} does not split over {replicas} "
                         f"replicas: use a positive multiple of {replicas}")
    return global_batch_size // replicas


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
    import keras

    norms = [layer for layer in model._flatten_layers(include_self=False)
             if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.synchronized = True
    return len(norms)
