"""Test set-up: two logical CPU devices (MirroredStrategy on TensorFlow, Keras'
DataParallel on JAX) and quiet logs. The backend is KERAS_BACKEND's (default
TensorFlow); the core tests run on each (see the Makefile)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")

if BACKEND == "jax":
    # Must happen before JAX initializes its devices.
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_force_host_platform_device_count=2").strip()
elif BACKEND == "tensorflow":
    import tensorflow as tf

    # Must happen before TensorFlow initializes its devices.
    _cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "backends(*names): run only on these Keras backends (KERAS_BACKEND)")
    config.addinivalue_line(
        "markers", "fault: kills processes on 127.0.0.1 and checks what survives (BUILD.md, "
                   "'On preemptible machines'); run alone with -m fault")


def pytest_collection_modifyitems(config, items):
    import pytest

    for item in items:
        marker = item.get_closest_marker("backends")
        if marker is not None and BACKEND not in marker.args:
            item.add_marker(pytest.mark.skip(reason=f"runs on {', '.join(marker.args)}, "
                                                    f"not {BACKEND}"))
