"""The machine a benchmark ran on, as the benchmark scripts print and save it."""

import os
import platform


def machine():
    """Platform, CPU, Python, the Keras backend and versions, and visible accelerators."""
    import keras

    backend = keras.backend.backend()
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": backend,
    }
    if backend == "tensorflow":
        import tensorflow as tf

        info.update(tensorflow=tf.__version__,
                    gpus=[d.name for d in tf.config.list_physical_devices("GPU")])
    elif backend == "jax":
        import jax

        info.update(jax=jax.__version__, devices=[str(d) for d in jax.devices()])
    elif backend == "torch":
        import torch

        info.update(torch=torch.__version__, cuda=torch.cuda.is_available())
    return info
