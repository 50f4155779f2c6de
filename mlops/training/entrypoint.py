"""`python -m mlops.training`: the training entry point, following the SageMaker script-mode contract.

The very same code runs inside a SageMaker scikit-learn container and locally in a subprocess.

Inputs (environment):
    SM_MODEL_DIR, SM_OUTPUT_DATA_DIR      where outputs go
    SM_CHANNEL_TRAIN, SM_CHANNEL_TEST     directories of CSV files (not used by reinforcement learning)
    SM_HPS                                JSON object; values may all be strings, as SageMaker sends them
        mlops_algorithm   (required) a catalog algorithm name
        mlops_task        task for algorithms that do several; inferred from the target column otherwise
        mlops_target      target column (default "target"); dropped for unsupervised algorithms
        mlops_environment gymnasium environment id (reinforcement learning; default: the algorithm's first)
        mlops_metric      primary metric (default: the task's default metric)
        mlops_seed        seed (default 42), used for random_state/seed unless those are set explicitly
        mlops_rejection   "output": on input that retrying cannot fix, write SM_OUTPUT_DATA_DIR/rejected.json
                          ({"error": ...}) and exit 0 instead of exiting 2 (the pipeline sets it: see main)
        mlops_mode        "verify": reload the registered model in SM_CHANNEL_MODEL, re-predict the holdout its
                          evaluation.json recorded and write SM_OUTPUT_DATA_DIR/verification.json
                          ({"ok": ..., "detail": ...}); exit 0 whatever it found (the pipeline's Verify job)
        mlops_fail        TEST HOOK ONLY: "crash" exits 1 to simulate a training crash in pipeline tests
        anything else     a hyperparameter of the algorithm
Outputs:
    SM_MODEL_DIR/model.skops (or the RL policy files), model_info.json, evaluation.json
    SM_OUTPUT_DATA_DIR/evaluation.json and plots/*.png
    stdout: "[mlops] progress <step> <message>" and "[mlops] metric <name>=<float>" lines
Exit status: 0 success; 2 bad input ("[mlops] error <message>" on stderr); 1 training failure.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import InvalidRequest, MlopsError, TrainingError
from mlops.learners.catalog import AlgorithmSpec, get_algorithm
from mlops.metric_specs import metrics_for
from mlops.training import console, outputs
from mlops.training.environment import ScriptModeEnvironment
from mlops.training.hyperparameters import (
    CRASH,
    MODE_KEY,
    REJECTION_AS_OUTPUT,
    VERIFICATION,
    VERIFY_MODE,
    Control,
    decode_params,
    parse_hps,
    split_control,
)
from mlops.training.job import Job, Outcome, effective_params, resolve_metric, resolve_task
from mlops.training.plotter import Plotter

if TYPE_CHECKING:
    from mlops.training.tabular import Split

# Exit 2 says "retrying would give the same result" (bad input, or a deterministic failure such as a metric that
# cannot be computed); exit 1 is a crash, which the pipeline retries with back-off.
EXIT_OK, EXIT_TRAINING_FAILED, EXIT_NOT_RETRYABLE = 0, 1, 2
# What saving a scikit-learn model (and verifying it afterwards, in the training worker) imports.
SAVING_MODULES = ("skops.io",)


class SimulatedCrash(TrainingError):
    """Raised by the mlops_fail=crash test hook."""


def main(environ: Mapping[str, str] | None = None) -> int:
    """Run one training job from the environment; return the process exit status."""
    try:
        run(ScriptModeEnvironment.from_environ(environ))
    except SimulatedCrash as exc:
        console.error(_describe(exc))
        return EXIT_TRAINING_FAILED
    except MlopsError as exc:
        console.error(_describe(exc))
        return _reject(environ, exc)
    except Exception as exc:  # an unexpected failure: one error line, then the traceback for whoever debugs it
        console.error(f"training failed: {type(exc).__name__}: {exc}")
        traceback.print_exc(file=sys.stderr)
        return EXIT_TRAINING_FAILED
    return EXIT_OK


def _describe(error: MlopsError) -> str:
    return "; ".join(error.problems)


def _reject(environ: Mapping[str, str] | None, error: MlopsError) -> int:
    """Exit 2, or, when the job asks for it (mlops_rejection=output), write rejected.json and exit 0.

    A failed SageMaker job reaches Step Functions only as States.TaskFailed, which the flow retries: a job
    that completes with rejected.json instead lets Evaluate fail the run at once, with the message."""
    env = os.environ if environ is None else environ
    try:
        wanted = parse_hps(env.get("SM_HPS")).get("mlops_rejection") == REJECTION_AS_OUTPUT
    except MlopsError:
        wanted = False
    output_dir = env.get("SM_OUTPUT_DATA_DIR")
    if not wanted or not output_dir:
        return EXIT_NOT_RETRYABLE
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    Path(output_dir, outputs.REJECTED).write_text(json.dumps({"error": _describe(error)}))
    return EXIT_OK


def run(env: ScriptModeEnvironment) -> None:
    hps = parse_hps(env.hps_json)
    if hps.get(MODE_KEY) == VERIFY_MODE:
        verify_registered(env)
        return
    control = split_control(hps)
    job, train = _prepare(env, control)
    console.progress("setup", f"{job.spec.name}: task {job.task}, metric {job.metric}, seed {job.seed}")
    if control.fail == CRASH:
        raise SimulatedCrash("simulated training crash (mlops_fail=crash test hook)")
    plotter = Plotter.start()  # inputs are checked: from here on matplotlib loads beside the training
    try:
        started = time.monotonic()
        outcome = train(job)
        duration = time.monotonic() - started
        _require_finite(outcome.metrics)
        _report_metrics(job, outcome)
        _write_outputs(env, job, outcome, duration, plotter)
    finally:
        plotter.finish()
    console.progress("done", f"{job.metric}={console.format_float(outcome.metrics[job.metric])}")


def verify_registered(env: ScriptModeEnvironment) -> None:
    """A failed check is this job's result, not its failure: the pipeline reads it and rolls back."""
    from mlops.training.verify import verify_model

    model_dir = env.channel("model")
    console.progress("verify", f"reloading the model in {model_dir} and re-predicting its recorded holdout")
    ok, detail = verify_model(model_dir)
    outputs.write_json(env.output_dir / VERIFICATION, {"ok": ok, "detail": detail})
    console.progress("done", f"verification {'passed' if ok else 'FAILED'}: {detail}")


Trainer = Callable[[Job], Outcome]


def _prepare(env: ScriptModeEnvironment, control: Control) -> tuple[Job, Trainer]:
    """(the resolved Job, the function that trains it), with every input checked before any training."""
    spec = get_algorithm(control.algorithm)
    user_params = decode_params(spec, control.algorithm_params)
    params, seed = effective_params(spec, user_params, control.seed)
    if spec.learning_type == "reinforcement":
        from mlops.training.reinforcement import run_reinforcement

        job = Job(
            spec,
            resolve_task(spec, control.task, None),
            params,
            resolve_metric(control.metric, "reinforcement"),
            seed,
            environment=_environment(spec.environments, control.environment),
        )
        return job, run_reinforcement
    return _prepare_tabular(env, control, spec, params, seed)


def _prepare_tabular(
    env: ScriptModeEnvironment, control: Control, spec: AlgorithmSpec, params: dict[str, Any], seed: int
) -> tuple[Job, Trainer]:
    from mlops.training.tabular import load_split

    if control.environment is not None:
        raise InvalidRequest(f"mlops_environment: {spec.name} is not a reinforcement learning algorithm")
    supervised = spec.learning_type == "supervised"
    console.progress("load", "reading the train and test channels")
    split = load_split(env, control.target, need_target=supervised)
    task = resolve_task(spec, control.task, split.y_train if supervised else None)
    job = Job(
        spec,
        task,
        params,
        resolve_metric(control.metric, task),
        seed,
        target=control.target if supervised else None,
    )
    return job, lambda job: _train_tabular(job, split)


def _train_tabular(job: Job, split: Split) -> Outcome:
    from mlops.learners.sklearn_learner import import_implementation
    from mlops.training.fitter import fit_while_importing

    if job.spec.learning_type == "supervised":
        from mlops.training.supervised import run_supervised as train
    else:
        from mlops.training.unsupervised import run_unsupervised as train
    import_implementation(job.spec.implementation[job.task])  # before the fork, so that both processes have it
    return fit_while_importing(lambda: train(job, split), SAVING_MODULES, split.x_train.nbytes)


def _environment(allowed: tuple[str, ...], requested: str | None) -> str:
    environment = requested or allowed[0]
    if environment not in allowed:
        raise InvalidRequest(f"mlops_environment: '{environment}' is not supported (valid: {', '.join(allowed)})")
    return environment


def _require_finite(metrics: dict[str, float]) -> None:
    broken = [name for name, value in metrics.items() if not math.isfinite(value)]
    if broken:
        raise TrainingError(f"evaluation produced non-finite metrics: {', '.join(broken)} (is the test set too small?)")


def _report_metrics(job: Job, outcome: Outcome) -> None:
    missing = [name for name in metrics_for(job.task) if name not in outcome.metrics]
    if job.metric in missing:
        raise TrainingError(f"the primary metric {job.metric} could not be computed for this model")
    for name, value in outcome.metrics.items():
        console.metric(name, value)
    if missing:
        console.warning(f"metrics not computed: {', '.join(missing)}")


def _write_outputs(env: ScriptModeEnvironment, job: Job, outcome: Outcome, duration: float, plotter: Plotter) -> None:
    console.progress("plot", f"drawing plots into {env.plots_dir}")
    plotter.draw(outcome.figures, env.plots_dir)
    console.progress("save", f"writing the model to {env.model_dir}")
    env.model_dir.mkdir(parents=True, exist_ok=True)
    outcome.save(env.model_dir)
    outputs.write_json(env.model_dir / outputs.MODEL_INFO, outputs.model_info(job, outcome))
    evaluation = outputs.evaluation(job, outcome, duration)
    outputs.write_json(env.output_dir / outputs.EVALUATION, evaluation)
    outputs.write_json(env.model_dir / outputs.EVALUATION, evaluation)
