"""What a run leaves in its model_dir to resume from and to look at later."""

import hashlib
import json
import os

import keras

from tf_fixnorm import NormMonitor


def make_callbacks(model_dir, **analysis):
    """Resume, checkpoints every loop, norms and TensorBoard logs, under `model_dir`.

    BackupAndRestore comes first so a restarted run restores before anything
    else; NormMonitor before TensorBoard so its values reach the logs.
    ``analysis`` (the task's `fixnorm_options`) tells NormMonitor how to
    analyze a model trained without FixNorm.
    """
    return [
        keras.callbacks.BackupAndRestore(os.path.join(model_dir, "backup")),
        NormMonitor(**analysis),
        keras.callbacks.ModelCheckpoint(
            os.path.join(model_dir, "checkpoints", "epoch_{epoch:03d}.weights.h5"),
            save_weights_only=True),
        keras.callbacks.TensorBoard(os.path.join(model_dir, "logs")),
    ]


def resumed_loop(model_dir):
    """The loop (epoch) a BackupAndRestore backup under `model_dir` resumes from (0: none)."""
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
