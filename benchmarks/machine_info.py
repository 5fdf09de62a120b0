"""The machine a benchmark ran on, as the benchmark scripts print and save it."""

import os
import platform


def machine():
    """Platform, CPU, Python, TensorFlow and Keras versions, and visible GPUs."""
    import keras
    import tensorflow as tf

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
    }
