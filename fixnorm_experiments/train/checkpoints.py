"""What a run leaves in its model_dir to resume from and to look at later."""

import hashlib
import json
import os
import shutil

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
        # Two backups: if the latest is damaged, the one before it (`check_backup`).
        keras.callbacks.BackupAndRestore(os.path.join(model_dir, "backup"),
                                         double_checkpoint=True),
        NormMonitor(**analysis),
        keras.callbacks.ModelCheckpoint(
            os.path.join(model_dir, "checkpoints", "epoch_{epoch:03d}.weights.h5"),
            save_weights_only=True),
        keras.callbacks.TensorBoard(os.path.join(model_dir, "logs")),
    ]


def _backup_damage(weights, metadata):
    """What is wrong with one BackupAndRestore backup (its two files), or None."""
    if not os.path.exists(metadata):
        return None  # no backup yet (weights alone: killed before the first metadata)
    try:
        with open(metadata, encoding="utf-8") as f:
            epoch = json.load(f)["epoch"]
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch {epoch!r}")
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"{metadata} is unreadable ({type(error).__name__}: {error})"
    if not os.path.exists(weights):
        return f"{weights} is missing"
    try:
        import h5py

        def read(name, item):
            if isinstance(item, h5py.Dataset):
                item[()]
            # None: go on (visititems stops at the first callback that returns something)

        with h5py.File(weights, "r") as f:
            f.visititems(read)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        return f"{weights} is unreadable ({' '.join(str(error).split())})"
    return None


def check_backup(model_dir):
    """Before a run resumes: is the backup it resumes from readable?

    A backup damaged by a full disk or a kill mid-write cannot be resumed
    from. If the one before it (BackupAndRestore's ``.bkp`` pair) is sound,
    it is put back in place of the damaged one and the run resumes from it,
    one loop earlier; otherwise a ValueError names the file and says what to
    do. Nothing else in ``model_dir`` is touched.

    Returns:
      None, or a line saying that the run resumes from the earlier backup.
    """
    backup = os.path.join(model_dir, "backup")
    latest = (os.path.join(backup, "latest.weights.h5"),
              os.path.join(backup, "training_metadata.json"))
    damage = _backup_damage(*latest)
    if damage is None:
        return None
    previous = tuple(f"{path}.bkp" for path in latest)
    if os.path.exists(previous[1]) and _backup_damage(*previous) is None:
        for source, target in zip(previous, latest):
            shutil.copyfile(source, target)
        return (f"the latest backup is damaged: {damage}; resuming from the one before it "
                f"({previous[0]})")
    raise ValueError(f"{damage}: the backup in {backup} cannot be resumed from and there is "
                     f"no sound one before it; delete {backup} to train from the start (the "
                     f"finished epochs' weights in {os.path.join(model_dir, 'checkpoints')} "
                     f"are kept)")


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
