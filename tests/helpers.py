"""Small models and checks shared by the optimizer tests."""

import keras
import numpy as np
from keras import layers

from tf_fixnorm import projection


def conv_bn_model(num_classes=4, width=8, name="net", classifier_init="glorot_uniform"):
    """A conv-BN-ReLU network with a residual Add: 3 invariant kernels + classifier."""
    inp = keras.Input((8, 8, 3))
    x = layers.Conv2D(width, 3, padding="same", use_bias=False, name="c1")(inp)
    x = layers.BatchNormalization(momentum=0.9, name="bn1")(x)
    x = layers.ReLU()(x)
    y = layers.Conv2D(width, 3, padding="same", use_bias=False, name="c2")(x)
    y = layers.BatchNormalization(momentum=0.9, name="bn2")(y)
    x = layers.ReLU()(layers.Add()([x, y]))
    x = layers.Conv2D(width * 2, 1, name="c3")(x)  # bias before BN: still invariant
    x = layers.BatchNormalization(momentum=0.9, name="bn3")(x)
    x = layers.GlobalAveragePooling2D()(layers.ReLU()(x))
    out = layers.Dense(num_classes, kernel_initializer=classifier_init, name="fc")(x)
    return keras.Model(inp, out, name=name)


INVARIANT = ("c1/kernel", "c2/kernel", "c3/kernel")
CLASSIFIER = ("fc/kernel",)


def data(n=64, num_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8, 8, 3)).astype("float32")
    y = rng.integers(0, num_classes, n).astype("int32")
    return x, y


def var(model, path):
    return next(v for v in model.trainable_variables if v.path.endswith(path))


def invariant_norm(model):
    return float(np.sqrt(sum(float(projection.squared_norm(var(model, p))) for p in INVARIANT)))


def compile_model(model, optimizer, **kwargs):
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], **kwargs)
    return model


class NormRecorder(keras.callbacks.Callback):
    """Records (invariant group norm, classifier norm) after every batch."""

    def __init__(self):
        super().__init__()
        self.norms = []

    def on_train_batch_end(self, batch, logs=None):
        self.norms.append((invariant_norm(self.model),
                           float(projection.norm(var(self.model, CLASSIFIER[0])))))


def read_scalars(log_dir):
    """dict: tag -> list of scalar values written by tf.summary under `log_dir`."""
    import glob

    import tensorflow as tf

    scalars = {}
    for path in sorted(glob.glob(str(log_dir) + "/events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name != "scalars":
                    continue
                scalars.setdefault(value.tag, []).append(float(tf.make_ndarray(value.tensor)))
    return scalars
