"""One training run of any recipe: what `fixnorm-train` does after checking its flags.

The run writes under ``model_dir``: ``backup/`` (so a killed run restarted
with the same config resumes from its last finished loop), ``checkpoints/``
(one per loop), ``logs/`` (TensorBoard) and, at the end, ``metrics.json``.

Under the multi_worker strategy it trains with the custom loop
(`custom_loop.py`), because Keras 3's `fit` fails there
(keras-team/keras#20585): it resumes from ``backup/`` too, but writes no
per-loop checkpoints or TensorBoard logs; each non-chief worker writes under
``model_dir/worker_<index>``.
"""

import dataclasses
import os

import keras

from fixnorm_experiments import tasks
from fixnorm_experiments.config import check_sync_batch_norm
from fixnorm_experiments.train import checkpoints, distribution
from fixnorm_experiments.train.custom_loop import custom_loop_fit
from fixnorm_experiments.train.optimizers import make_optimizer
from tf_fixnorm import find_fixnorm
from tf_fixnorm.jsonio import write_json_atomically


def resolve_sync_batch_norm(config):
    """Whether BatchNorm is synchronized: the config's, else the recipe's except
    under multi_worker (with a printed note); a UsageError for the combination
    that hangs."""
    if config.sync_batch_norm is not None:
        check_sync_batch_norm(config.sync_batch_norm, config.strategy)
        return config.sync_batch_norm
    wanted = config.recipe.sync_batch_norm
    if wanted and config.strategy == "multi_worker":
        print("note: BatchNorm statistics stay per worker: synchronized BN hangs a worker "
              "under --strategy=multi_worker (TF 2.21)", flush=True)
        return False
    return wanted


def train(config):
    """Train, score and record one run of ``config`` (a `config.TrainConfig`).

    Returns:
      The metrics written to ``metrics.json``.
    """
    distribution.require_tensorflow_backend("fixnorm-train")
    recipe = config.recipe
    task = tasks.make(recipe)
    sync_batch_norm = resolve_sync_batch_norm(config)
    if config.logical_cpus:
        distribution.split_cpu(config.logical_cpus)
    strategy = distribution.make_strategy(config.strategy)
    multi_worker = distribution.is_multi_worker(strategy)
    distribution.check_global_batch(config.global_batch_size, strategy)
    model_dir = distribution.worker_model_dir(config.model_dir)
    if not multi_worker:  # the custom loop checks its own checkpoints
        repaired = checkpoints.check_backup(model_dir)
        if repaired:
            print(repaired, flush=True)
    keras.utils.set_random_seed(config.seed)
    data = task.load_data(config.global_batch_size, seed=config.seed, source=config.data)
    plan = task.plan(data, config.length, config.steps_per_loop)
    if data.num_classes != recipe.num_classes:  # image folders and TFDS say how many
        recipe = dataclasses.replace(recipe, num_classes=data.num_classes)
        task = tasks.make(recipe)
    with strategy.scope():
        model = task.build_model(sync_batch_norm=sync_batch_norm)
        if config.backbone_weights:  # a resumed run then restores its own state over them
            task.load_backbone_weights(model, config.backbone_weights)
        optimizer = make_optimizer(config.flavour, model, task.schedule(config.lr, plan),
                                   alpha=config.alpha, weight_decay=config.weight_decay,
                                   scope=config.scope, **task.fixnorm_options())
        task.compile(model, optimizer)
    train_ds = data.train.repeat()  # every loop is exactly plan.steps_per_loop batches
    if multi_worker:
        start, losses = custom_loop_fit(
            model, task.replica_loss(model, config.global_batch_size,
                                     strategy.num_replicas_in_sync),
            train_ds, plan, strategy, os.path.join(model_dir, "backup"),
            chief_backup_dir=os.path.join(config.model_dir, "backup"))
        history = {"loss": losses}
    else:
        start = checkpoints.resumed_loop(model_dir)
        if start:
            done, total = plan.position(start)
            print(f"resuming from {plan.unit[:-1]} {done} of {total} "
                  f"(state in {model_dir}/backup)")
        history = model.fit(train_ds, epochs=plan.loops, steps_per_epoch=plan.steps_per_loop,
                            validation_data=data.evaluation, verbose=config.verbose,
                            callbacks=checkpoints.make_callbacks(
                                model_dir, **task.fixnorm_options())).history
    # Every worker holds the same weights and scores the whole evaluation set.
    scored = task.score(model, data, config.eval_batches, local=multi_worker)
    fixnorm = find_fixnorm(model.optimizer)
    metrics = {
        "recipe": recipe.name, "task": recipe.task, "flavour": config.flavour,
        **plan.record(start),
        "global_batch_size": config.global_batch_size,
        "replicas": strategy.num_replicas_in_sync, "sync_batch_norm": sync_batch_norm,
        "lr": config.lr, "schedule": recipe.schedule,
        "alpha": getattr(fixnorm, "alpha", None),
        "weight_decay": getattr(model.optimizer, "l2", None),
        "metric_name": recipe.metric, "metric": scored["metric"],
        "paper": recipe.paper(config.flavour),
        "evaluation": {k: v for k, v in scored.items() if k != "metric"},
        **task.record(scored),
        "history": {k: [float(x) for x in v] for k, v in history.items()},
        "held_norms": {"targets": fixnorm.targets(), "achieved": fixnorm.norm_report()}
        if fixnorm else None,
        "weights_sha256": checkpoints.weights_digest(model),
    }
    write_json_atomically(os.path.join(model_dir, "metrics.json"), metrics, indent=2,
                          sort_keys=True)
    paper = metrics["paper"]
    print(f"{recipe.metric} {metrics['metric']:.2f}"
          + (f" (paper: {paper:g})" if paper is not None else "")
          + f"; metrics in {model_dir}/metrics.json")
    return metrics
