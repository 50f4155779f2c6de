"""The agents: plain functions `agent(run, ports) -> run`, one per task state of the flow.

They reach the world only through the ports, so the same functions serve the local runner and (behind thin
Lambda handlers) Step Functions. Each records what it did in the run document's timeline.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from mlops.errors import DatasetError, TrainingError, TrainingRejected
from mlops.metric_specs import METRICS
from mlops.pipeline.artifacts import OUTPUT_ARCHIVE, read_member, read_members
from mlops.pipeline.models import (
    Attempt,
    DataManifest,
    ErrorInfo,
    FileEntry,
    GateResult,
    JobResources,
    ModelRef,
    OperatorDecision,
    RunState,
    TrainingJob,
    VerifyResult,
    try_number,
    utcnow,
)
from mlops.ports import ArtifactStore, History, Notifier, Registry, Trainer
from mlops.settings import Settings
from mlops.training.hyperparameters import MODE_KEY, VERIFICATION, VERIFY_MODE


@dataclass
class Ports:
    settings: Settings
    store: ArtifactStore
    registry: Registry
    trainer: Trainer
    history: History
    notifier: Notifier


Agent = Callable[[RunState, Ports], RunState]


def prepare_data(run: RunState, ports: Ports) -> RunState:
    """Resolve the dataset to its train/test channels, check them, and write the data manifest."""
    if run.request.learning_type == "reinforcement":
        run.log("PrepareData", f"environment {run.request.environment}: no dataset needed")
        return run
    from mlops import data

    dataset_id = run.request.dataset_id or ""
    info = data.dataset_in_store(ports.store, dataset_id)
    target = info.get("target", data.TARGET)
    run.data = _manifest(ports.store, dataset_id, target, info.get("rows") or {})
    task = run.request.task or info.get("task") or _infer_task(ports.store, run.data.train, target)
    run.data.task = task
    if run.request.task is None:
        run.request = run.request.with_task(task)
    run.log("PrepareData", f"{dataset_id}: {run.data.rows_train} train / {run.data.rows_test} test rows ({task})")
    return run


def _infer_task(store: ArtifactStore, files: list[FileEntry], target: str) -> str:
    """From the target column of the train channel, read as a stream (only when nothing says the task)."""
    from mlops import tables  # numpy: only where a table is read

    values: list[float] = []
    for entry in files:
        with store.open(entry.key) as stream:
            reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8", newline=""))
            header = next(reader, [])
            if target not in header:
                raise DatasetError(f"dataset: no '{target}' column in {entry.key} (columns: {', '.join(header)})")
            values.extend(_number(entry.key, row[header.index(target)]) for row in reader if row)
    return str(tables.infer_task(values))


def _number(key: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DatasetError(f"dataset: {key}: the target value '{text}' is not a number") from None


def _manifest(store: ArtifactStore, dataset_id: str, target: str, rows: dict[str, int]) -> DataManifest:
    """Sizes and hashes as the store reports them (no download); row counts as the dataset describes them, or
    counted from a stream when it does not."""
    prefix = f"datasets/{dataset_id}"
    train, test = (_entries(store, f"{prefix}/{channel}/", channel in rows) for channel in ("train", "test"))
    if not train or not test:
        raise DatasetError(f"dataset: {dataset_id} needs CSV files in both {prefix}/train/ and {prefix}/test/")
    digest = hashlib.sha256(json.dumps([e.model_dump() for e in train + test]).encode()).hexdigest()
    return DataManifest(
        dataset_id=dataset_id,
        target=target,
        train=train,
        test=test,
        digest=digest,
        rows_train=rows.get("train", sum(e.rows or 0 for e in train)),
        rows_test=rows.get("test", sum(e.rows or 0 for e in test)),
    )


def _entries(store: ArtifactStore, prefix: str, rows_known: bool) -> list[FileEntry]:
    entries = [store.head(key) for key in store.list(prefix) if key.endswith(".csv")]
    return [
        FileEntry(key=e.key, size=e.size, sha256=e.sha256, rows=None if rows_known else _rows(store, e.key))
        for e in entries
    ]


def _rows(store: ArtifactStore, key: str) -> int:
    """Data rows of one CSV, streamed: a large file is never held in memory."""
    newlines, last = 0, b"\n"
    with store.open(key) as stream:
        while chunk := stream.read(1 << 20):
            newlines, last = newlines + chunk.count(b"\n"), chunk[-1:]
    return max(0, newlines - 1 + (0 if last == b"\n" else 1))  # minus the header; a last line may lack its \n


def build_training_job(run: RunState, ports: Ports) -> RunState:
    """Specify the current attempt's training job for the Train state (the first attempt starts here)."""
    attempt = run.attempt or _first_attempt(run)
    run.job, run.training = training_job(run, attempt, ports), None
    run.log("Train", f"attempt {attempt.number}: {attempt.algorithm} {attempt.hyperparameters}")
    return run


def _first_attempt(run: RunState) -> Attempt:
    request = run.request
    run.attempts.append(
        Attempt(number=1, hyperparameters=request.effective_hyperparameters(), algorithm=request.algorithm)
    )
    return run.attempts[-1]


def training_job(run: RunState, attempt: Attempt, ports: Ports) -> TrainingJob:
    """The trainer's input: hyperparameters plus the `mlops_*` control keys the entry point reads."""
    request, data = run.request, run.data
    control = {
        "mlops_algorithm": request.algorithm,
        "mlops_task": request.task,
        "mlops_metric": request.metric,
        "mlops_target": data.target if data else None,
        "mlops_environment": request.environment,
        "mlops_rejection": "output",  # bad input completes the job with rejected.json: Evaluate fails, no retry
    }
    hps = {**attempt.hyperparameters, **{k: v for k, v in control.items() if v is not None}}
    channels = {name: f"datasets/{data.dataset_id}/{name}" for name in ("train", "test")} if data else {}
    if not channels:  # SageMaker wants at least one input channel: a job without data gets its settings as one
        channels = {"config": f"runs/{run.training_id}/config/attempt-{attempt.number}"}
        ports.store.put_bytes(f"{channels['config']}/hyperparameters.json", json.dumps(hps, sort_keys=True).encode())
    return _job(run, f"{run.training_id}-a{attempt.number}", attempt.number, hps, channels, ports)


def _job(
    run: RunState, name: str, attempt: int, hps: dict[str, Any], channels: dict[str, str], ports: Ports
) -> TrainingJob:
    """A job of this run, the same for training and verifying: where it reads and writes, how long it may run,
    which source runs it (on AWS, the deployment's script-mode bundle: MLOPS_TRAINING_SOURCE) and its labels."""
    store, output_path = ports.store, f"runs/{run.training_id}"
    return TrainingJob(
        name=name,
        training_id=run.training_id,
        attempt=attempt,
        hyperparameters=hps,
        channels=channels,
        channel_uris={channel: store.uri(key) for channel, key in channels.items()},
        output_path=output_path,
        output_uri=store.uri(output_path),
        max_runtime_seconds=_max_runtime(run, ports.settings),
        task=run.request.task if hps.get(MODE_KEY) != VERIFY_MODE else None,
        source_uri=ports.settings.aws.training_source,
        checkpoint_uri=store.uri(f"{output_path}/checkpoints"),
        labels=_labels(run),
        resources=_resources(run, ports.settings),
    )


def _max_runtime(run: RunState, settings: Settings) -> int:
    asked = run.request.resources.max_runtime_seconds if run.request.resources else None
    return asked or max(1, round(settings.train_timeout))


def _resources(run: RunState, settings: Settings) -> JobResources:
    """What the job runs on: what the request asks for in `resources`, else the deployment's defaults (the
    instance type: MLOPS_TRAINING_INSTANCE_TYPE)."""
    asked = run.request.resources.model_dump(exclude_none=True) if run.request.resources else {}
    asked.pop("max_runtime_seconds", None)  # the job's own field: _max_runtime
    return JobResources(**{"instance_type": settings.aws.training_instance_type, **asked})


def _labels(run: RunState) -> dict[str, str]:
    labels = {"mlops:training-id": run.training_id}
    if run.issue.repository and run.issue.number is not None:
        labels |= {"mlops:repository": run.issue.repository, "mlops:issue": str(run.issue.number)}
    return labels


def evaluate(run: RunState, ports: Ports) -> RunState:
    """Record the training job's outcome, read its evaluation.json and gate its metric against the threshold."""
    attempt = _record_training(run)
    evaluation = json.loads(_evaluation(ports.store, f"{attempt.output_key}/{OUTPUT_ARCHIVE}"))
    attempt.metrics = {k: float(v) for k, v in evaluation.get("metrics", {}).items()}
    run.gate = gate(run, attempt)
    attempt.metric, attempt.value, attempt.passed = run.gate.metric, run.gate.value, run.gate.passed
    run.log(
        "Evaluate",
        f"{run.gate.metric} = {run.gate.value:.4f} (threshold {run.gate.comparison} "
        f"{run.gate.threshold}): {run.gate.decision}",
    )
    return run


def _evaluation(store: ArtifactStore, archive: str) -> bytes:
    """evaluation.json from the job's output; TrainingRejected with its message if the job rejected its input."""
    members = read_members(store, archive)
    if "rejected.json" in members:
        error = json.loads(members["rejected.json"]).get("error") or "no reason given"
        raise TrainingRejected(f"training rejected its input (retrying would not help): {error}")
    if "evaluation.json" not in members:
        raise TrainingError(f"training output {archive} has no evaluation.json")
    return members["evaluation.json"]


def gate(run: RunState, attempt: Attempt) -> GateResult:
    metric = run.request.metric or ""
    if metric not in attempt.metrics:
        raise TrainingError(f"evaluation has no '{metric}' (it has {', '.join(attempt.metrics) or 'nothing'})")
    spec, value, threshold = METRICS[metric], attempt.metrics[metric], run.request.evaluation_threshold
    passed = spec.passes(value, threshold)
    left = run.retrains_used < run.request.max_retry
    decision: Literal["pass", "retrain", "exhausted"] = "pass" if passed else ("retrain" if left else "exhausted")
    return GateResult(
        metric=metric,
        value=value,
        threshold=threshold,
        comparison=spec.comparison,
        passed=passed,
        decision=decision,
    )


def _record_training(run: RunState) -> Attempt:
    attempt, outcome, job = run.attempt, run.training, run.job
    if attempt is None or outcome is None or job is None:
        raise TrainingError("no finished training job to evaluate")
    attempt.output_key, attempt.tries = job.output_key(outcome.job_name), outcome.tries
    attempt.duration_seconds, attempt.finished_at = outcome.duration_seconds, utcnow()
    return attempt


def _current(run: RunState) -> Attempt:
    if run.attempt is None or run.attempt.output_key is None:
        raise TrainingError("no finished training attempt to work on")
    return run.attempt


def await_operator(run: RunState, ports: Ports) -> RunState:
    """Pause for an operator: say what missed and exactly how to continue."""
    run.status = "awaiting_operator"
    left = run.request.max_retry - run.retrains_used
    message = (
        f"{run.gate.metric if run.gate else 'metric'} missed the threshold; {left} retrain(s) left. "
        f"Continue with `/mlops retrain key=value ...` or `/mlops abort [reason]`."
    )
    run.log("AwaitOperator", message)
    ports.notifier.notify(run, message)
    return run


def apply_operator_answer(run: RunState, ports: Ports) -> RunState:
    """The wait returned the operator's answer: merge it into the run."""
    if run.answer is None:
        raise TrainingError("the operator's wait ended without an answer")
    run, run.answer = apply_operator_decision(run, run.answer), None
    return run


def expire_operator_wait(run: RunState, ports: Ports) -> RunState:
    """Nobody answered within the wait's timeout: the run ends, and says why."""
    detail = run.error.message if run.error and run.error.message else "the wait timed out"
    reason = f"no operator answer within the wait's timeout ({detail})"
    run.operator = OperatorDecision(action="abort", actor="mlops (timeout)", reason=reason)
    run.status, run.error = "running", None
    run.log("AwaitOperator", reason)
    return run


def check_operator_answer(run: RunState, decision: OperatorDecision) -> None:
    """Refuse an answer whose overrides do not validate, before it reaches the flow (the run stays paused)."""
    if decision.action == "retrain":
        run.request.with_overrides(decision.overrides)


def apply_operator_decision(run: RunState, decision: OperatorDecision) -> RunState:
    """Merge an operator's answer into a paused run. Invalid overrides raise and leave the run paused."""
    if decision.action == "retrain":
        run.request = run.request.with_overrides(decision.overrides)
        run.attempts.append(
            Attempt(
                number=len(run.attempts) + 1,
                overrides=decision.overrides,
                hyperparameters=run.request.effective_hyperparameters(),
                algorithm=run.request.algorithm,
            )
        )
    run.operator, run.status, run.gate = decision, "running", run.gate if decision.action == "abort" else None
    who = decision.actor or "operator"
    run.log("AwaitOperator", f"{who}: {decision.action} {decision.overrides or decision.reason}".rstrip())
    return run


def register(run: RunState, ports: Ports) -> RunState:
    """Register the passing attempt's training output as a new model version (idempotent per training id)."""
    attempt, request = _current(run), run.request
    if request.model_id is None or attempt.metric is None:  # validation names the model; Evaluate sets the metric
        raise TrainingError("nothing to register: the request names no model or the attempt was not evaluated")
    ref, previous = ports.registry.register_training_output(
        output_key=attempt.output_key or "",
        model_id=request.model_id,
        training_id=run.training_id,
        algorithm=request.algorithm,
        learning_type=request.learning_type,
        task=request.task,
        hyperparameters=attempt.hyperparameters,
        metrics=attempt.metrics,
        metric=attempt.metric,
        data_digest=run.data.digest if run.data else "",
        issue=run.issue.model_dump(),
        explicit_version=request.version,
    )
    run.registered, run.previous_version = ModelRef.model_validate(ref.model_dump()), previous
    run.verification_job, run.verification = verification_job(run, run.registered, ports), None
    run.log("Register", f"{ref.model_id} {ref.version} registered (previous: {previous or 'none'})")
    return run


def verification_job(run: RunState, ref: ModelRef, ports: Ports) -> TrainingJob:
    """The job that reloads the registered model in the training runtime (where the ML libraries are: never a
    Lambda) and re-predicts the holdout it recorded, writing verification.json to its output."""
    channels = {"model": ref.artifact_key.rstrip("/")}
    return _job(run, f"{run.training_id}-verify", len(run.attempts), {MODE_KEY: VERIFY_MODE}, channels, ports)


def verify(run: RunState, ports: Ports) -> RunState:
    """Record what the verification job found; a version that passed is marked verified."""
    ref, job, outcome = run.registered, run.verification_job, run.verification
    if ref is None or job is None or outcome is None:
        raise TrainingError("no finished verification job to read")
    found = json.loads(read_member(ports.store, f"{job.output_key(outcome.job_name)}/{OUTPUT_ARCHIVE}", VERIFICATION))
    ok, detail = found.get("ok") is True, str(found.get("detail") or "the verification job gave no detail")
    run.verify = VerifyResult(ok=ok, detail=detail)
    if ok:
        ports.registry.mark_verified(ref.model_id, ref.version)
    run.log("Verify", f"{ref.version}: {'ok' if ok else 'FAILED'}: {detail}")
    return run


def rollback(run: RunState, ports: Ports) -> RunState:
    """Verification failed: make the previous version current again (FR-011 automatic rollback)."""
    if run.verify is None:  # the Verify job or its reading failed: its own reason, not a job description
        error = _readable(run.error)
        run.verify = VerifyResult(ok=False, detail=error.message if error else "verification failed")
    ref = run.registered
    if ref is None or ports.registry.current(ref.model_id) != ref.version:
        # Another run registered after this one: its version is current and is not ours to roll away from.
        run.log("Rollback", f"{ref.version if ref else 'nothing'} is not current; nothing to roll back")
        return run
    record = ports.registry.rollback(
        ref.model_id,
        run.previous_version,
        actor="mlops (automatic)",
        reason=f"verification failed: {run.verify.detail}",
        automatic=True,
    )
    ports.history.record_rollback(record, lang=report_lang(run, ports))
    run.rolled_back_to = record.get("to_version")
    run.log("Rollback", f"current version is now {record.get('to_version') or 'none'}")
    return run


def handle_failure(run: RunState, ports: Ports) -> RunState:
    """A step failed for good: nothing is registered and the current model stays current."""
    # a job that failed names itself in the error; one that completed but was rejected (Evaluate) is run.training
    failed_job = _failed_job_name(run.error) or (run.training.job_name if run.training else None)
    if failed_job and run.attempt:
        run.attempt.tries = try_number(failed_job)
    error = run.error = _readable(run.error)
    run.log("HandleFailure", f"{error.state if error else '?'} failed: {error.message if error else 'unknown'}")
    return run


def _readable(error: ErrorInfo | None) -> ErrorInfo | None:
    """A training job's failure arrives as its description (JSON): keep the job's own reason."""
    cause = _json_object(error.message) if error else {}
    if error is None or "FailureReason" not in cause:
        return error
    return ErrorInfo(state=error.state or "Train", type=error.type, message=str(cause["FailureReason"]))


def _failed_job_name(error: ErrorInfo | None) -> str | None:
    return str(_json_object(error.message).get("TrainingJobName") or "") or None if error else None


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def publish(run: RunState, ports: Ports) -> RunState:
    """Finish the run: its status, the report and its JSON twin in the history, and a notification."""
    from mlops.report import render_report, render_summary

    run.status = "succeeded" if _succeeded(run) else "failed"
    run.finished_at = utcnow()
    lang = report_lang(run, ports)
    plots = _plots(ports.store, run)
    links = [f"{run.training_id}/{name}" for name in plots]
    run.report = ports.history.report_location(run.training_id)
    report = render_report(run, lang=lang, plots=links, extra=_report_extra(ports))
    ports.history.record_training(run, report, plots)
    ports.notifier.notify(run, render_summary(run, lang))
    return run


def _report_extra(ports: Ports) -> dict[str, str]:
    """On S3, §7.2's S3 path and the region the cost estimate prices; a local report has neither."""
    store_uri = ports.store.uri("")
    if not store_uri.startswith("s3://"):
        return {}
    region = ports.settings.aws.region
    return {"store_uri": store_uri, **({"region": region} if region else {})}


def _succeeded(run: RunState) -> bool:
    return bool(
        run.gate
        and run.gate.passed
        and run.verify
        and run.verify.ok
        and not run.rolled_back_to
        and not (run.operator and run.operator.action == "abort")
    )


def _plots(store: ArtifactStore, run: RunState) -> dict[str, bytes]:
    """The last attempt's plots, by file name, from its packed output."""
    attempt = run.attempt
    if attempt is None or attempt.output_key is None:
        return {}
    members = read_members(store, f"{attempt.output_key}/{OUTPUT_ARCHIVE}", "plots/")
    return {name.rsplit("/", 1)[-1]: data for name, data in members.items() if name.endswith(".png")}


def report_lang(run: RunState, ports: Ports) -> str:
    return run.request.report_lang or ports.settings.report_lang


AGENTS: dict[str, Agent] = {
    "prepare_data": prepare_data,
    "build_training_job": build_training_job,
    "evaluate": evaluate,
    "await_operator": await_operator,
    "apply_operator_answer": apply_operator_answer,
    "expire_operator_wait": expire_operator_wait,
    "register": register,
    "verify": verify,
    "rollback": rollback,
    "handle_failure": handle_failure,
    "publish": publish,
}
