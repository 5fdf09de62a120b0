"""A tuning session: every method and seed of a `config.TuneConfig`, reported.

What `fixnorm-tune` runs after checking its flags. One keras-tuner project
per method and seed lives under ``directory/<recipe>/``; a session killed
and started again with the same config resumes each project (finished
trials are kept and not re-run). ``results.json`` there is rewritten after
every finished search, and at the end the session prints the comparison
table and writes two plots: best score so far against trials, and the score
landscape over the searched knobs. Warnings from other libraries go to
``warnings.log`` there, and the end of the output says how many.

Distributed: with keras-tuner's ``KERASTUNER_TUNER_ID``,
``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` set, the same
command runs once as the chief (``KERASTUNER_TUNER_ID=chief``) and once per
worker (``tuner0``, ``tuner1``, ...). Workers run the trials; the chief runs
the oracle and writes the results.
"""

import datetime
import os
import platform
import time

import keras_tuner

from fixnorm_experiments import report, tasks
from fixnorm_experiments.report import warnings_log
from fixnorm_experiments.train.distribution import require_tensorflow_backend
from fixnorm_experiments.tuning.hypermodel import RecipeHyperModel
from fixnorm_experiments.tuning.tuner import RecipeTuner, make_oracle, trial_records


def distributed_role():
    """"chief", "worker", or None (one process), from keras-tuner's variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


def project_name(method, seed):
    return f"{method}_seed{seed}"


def search_names(config):
    """Every search's project name, in the order `run_searches` runs them."""
    return [project_name(method, seed) for seed in config.seeds for method in config.methods]


def run_search(config, task, data, plan, method, seed, out_dir):
    """One method, one seed: search (or resume), print live lines; the run record
    (None on a worker)."""
    hypermodel = RecipeHyperModel(task, data, method, plan, ranges=config.ranges,
                                  scope=config.scope, alpha_measure=config.alpha_measure,
                                  other_kernels=config.other_kernels,
                                  score_batches=config.score_batches,
                                  reuse=config.executions_per_trial == 1)
    objective = keras_tuner.Objective(config.objective, config.direction)
    oracle = make_oracle(method, config.ranges, objective, max_trials=config.max_trials,
                         seed=seed, lr_start=config.lr_start, alpha_start=config.alpha_start,
                         bo_initial_points=config.bo_initial_points,
                         worker_timeout=config.worker_timeout)
    run = {"method": method, "seed": seed, "trials": []}

    def live(record):
        run["trials"].append(record)
        print(report.trial_line(run, record, config.direction), flush=True)

    started = time.monotonic()
    tuner = RecipeTuner(oracle, hypermodel, seed=seed, on_result=live, directory=out_dir,
                        project_name=project_name(method, seed), overwrite=config.overwrite,
                        executions_per_trial=config.executions_per_trial,
                        heartbeat_interval=(config.worker_timeout / 4
                                            if distributed_role() == "worker" else None),
                        chief_timeout=config.chief_timeout, searches=search_names(config))
    if distributed_role() != "worker" and oracle.trials:
        print(f"[{method} seed {seed}] resuming: {len(oracle.trials)} trial(s) already in "
              f"{tuner.project_dir}", flush=True)
    if distributed_role() == "chief" and oracle.search_finished():
        # A restarted chief does not serve a finished search again: its workers
        # have moved on, or will (`tf_fixnorm.tuning.reconnect`).
        print(f"[{method} seed {seed}] finished already", flush=True)
    else:
        tuner.search(verbose=0)
    if distributed_role() == "worker":
        return None
    run["trials"] = trial_records(tuner.oracle, tuner.names, tuner.seconds)
    run["seconds"] = round(time.monotonic() - started, 1)
    return run


def tune(config, native_lines=()):
    """Run every search of ``config``, print its tables, write results and plots.

    Args:
      config: a `TuneConfig`.
      native_lines: stderr lines caught while TensorFlow loaded, for the
        session's warnings.log (`cli.common.native_stderr_captured`).

    Returns:
      The results dict (None on a worker).
    """
    require_tensorflow_backend("fixnorm-tune")
    recipe = config.recipe
    task = tasks.make(recipe)
    # The same split for every seed and method.
    data = task.load_data(config.global_batch_size, seed=0, source=config.data,
                          validation_fraction=config.validation_fraction)
    plan = task.tuning_plan(data, config.epochs, config.steps_per_epoch)
    out_dir = os.path.join(config.directory, recipe.name)
    os.makedirs(out_dir, exist_ok=True)
    results = {
        "recipe": recipe.name, "objective": config.objective, "direction": config.direction,
        "margin": config.margin, "runs": [], "command": config.command,
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, "
                   f"Python {platform.python_version()}",
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "epochs": plan.loops, "steps_per_epoch": plan.steps_per_loop,
        "global_batch_size": config.global_batch_size, "lr_start": config.lr_start,
        "alpha_start": config.alpha_start,
    }
    results_path = os.path.join(out_dir, "results.json")
    warnings_path = os.path.join(out_dir, "warnings.log")
    with warnings_log.to_file(warnings_path, native_lines) as warned:
        finished = run_searches(config, task, data, plan, out_dir, results, results_path)
    if not finished:
        return None
    summary = report.summarize(results)
    trials = sum(len(run["trials"]) for run in results["runs"])
    seconds = sum(run["seconds"] for run in results["runs"])
    print(f"\n{trials} trials in {len(results['runs'])} searches, {seconds:.0f} s of searching "
          f"in this invocation")
    print(report.format_summary_table(summary, config.margin))
    print(f"\nresults: {results_path}")
    if config.plots:
        curves = report.plot_best_so_far(results, os.path.join(out_dir, "best_so_far.png"))
        landscape = report.plot_landscape(results, os.path.join(out_dir, "landscape.png"))
        print(f"plots: {curves} {landscape}")
    line = warnings_log.summary_line(warned, warnings_path)
    if line:
        print(line)
    ours = next((row for row in summary if row["method"] == "fixnorm"), None)
    peers = [row for row in summary if row["method"] not in ("fixnorm", "reference")]
    if ours is not None and peers:  # the last line: what the comparison found
        print("\n" + report.finding(ours, peers, ours["target"], config.margin,
                                    config.direction))
    return results


def run_searches(config, task, data, plan, out_dir, results, results_path):
    """Every method and seed, one search each; False on a worker (the chief reports)."""
    for seed in config.seeds:
        for method in config.methods:
            print(f"== {config.recipe.name}: {method}, seed {seed} ==", flush=True)
            run = run_search(config, task, data, plan, method, seed, out_dir)
            if run is None:
                continue
            results["runs"].append(run)
            print(report.format_trial_table(run, config.direction), flush=True)
            report.write_results(results_path, results)
    if distributed_role() == "worker":
        print("worker finished: the chief writes the results")
        return False
    return True
