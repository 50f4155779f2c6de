"""The Lambdas' structured logs and metrics, with aws-lambda-powertools (imported by mlops/handlers.py only: the
action and the local engine never load it).

Logs: every line an invocation writes, its own and the adapters' (the `mlops` logger, which the powertools Logger
of service "mlops" is), is one JSON object carrying `training_id`, `issue` (`owner/repo#n`), `agent` and
`run_status`, plus `request_id` (Lambda's) when there is one. The event is never logged: AwaitOperator's holds
the task token.

Metrics: the Embedded Metric Format, one JSON object printed to stdout that CloudWatch Logs turns into metrics
(no cloudwatch:PutMetricData call, no extra permission). Namespace `MlopsIssueOps`:
- Publish: `RunsSucceeded` or `RunsFailed` (Count, 1) and `RunDuration` (Seconds, created to finished), with the
  dimension `service`, so one alarm covers every model;
- Evaluate: `EvaluationScore` (the gate metric's value), with `service`, `model` and `metric` (accuracy and RMSE
  are not one scale).
Each carries `training_id` and `issue` as metadata (searchable in the log line, not dimensions).
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from mlops.pipeline.models import RunState

NAMESPACE = "MlopsIssueOps"
SERVICE = "mlops"  # also the logger's name: the adapters' `logging.getLogger("mlops")`

Measure = tuple[str, MetricUnit, float]


class _Stdout:
    """The process's stdout as it is when a line is written (Lambda sends it to CloudWatch Logs)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@dataclass(frozen=True)
class _Logging:
    logger: Logger
    level: int  # the level of the `mlops` logger during an invocation (POWERTOOLS_LOG_LEVEL, default INFO)


@cache
def _logging() -> _Logging:
    """Made on the first invocation of a container. The handler is on the `mlops` logger only during an
    invocation (`invocation`): code that imports this module but runs no handler logs as it did."""
    std = logging.getLogger(SERVICE)
    level = std.level
    made = Logger(service=SERVICE, stream=_Stdout())  # type: ignore[arg-type]  # a text stream is all it needs
    invocation_level = std.level
    std.removeHandler(made.logger_handler)
    std.setLevel(level)
    return _Logging(made, invocation_level)


def logger() -> Logger:
    return _logging().logger


@cache
def metrics() -> Metrics:
    return Metrics(namespace=NAMESPACE, service=SERVICE)


def issue_of(run: RunState) -> str | None:
    issue = run.issue
    return f"{issue.repository}#{issue.number}" if issue.repository and issue.number is not None else None


def observe(agent: str, run: RunState, work: Callable[[RunState], RunState], context: Any = None) -> RunState:
    """Run `work` on `run` with the invocation's keys on every log line, then emit the agent's metrics."""
    with invocation(agent, run.training_id, issue_of(run), context, run_status=run.status) as log:
        try:
            done = work(run)
        except Exception as exc:
            # The name is the one the flow's Retry and Catch match; the message is ours (no secret in it).
            log.error("%s failed: %s: %s", agent, type(exc).__name__, exc)
            raise
        log.append_keys(run_status=done.status)
        log.info("%s finished", agent)
        emit(agent, done)
    return done


@contextmanager
def invocation(agent: str, training_id: str, issue: str | None, context: Any, **keys: Any) -> Iterator[Logger]:
    """The logger, with this invocation's keys on every line of the `mlops` logger meanwhile."""
    setup, std = _logging(), logging.getLogger(SERVICE)
    log, level = setup.logger, std.level
    std.addHandler(log.logger_handler)
    std.setLevel(setup.level)
    added = {"training_id": training_id, "issue": issue, "agent": agent,
             "request_id": getattr(context, "aws_request_id", None), **keys}
    log.append_keys(**added)
    try:
        log.info("%s started", agent)
        yield log
    finally:
        log.remove_keys(list(added))
        std.removeHandler(log.logger_handler)
        std.setLevel(level)


def emit(agent: str, run: RunState) -> None:
    """Print the agent's metrics in the Embedded Metric Format (nothing for an agent that has none)."""
    measure = AGENT_METRICS.get(agent)
    measures, dimensions = measure(run) if measure else ([], {})
    measures = [(name, unit, value) for name, unit, value in measures if math.isfinite(value)]
    if not measures:
        return
    board = metrics()
    for dimension, label in dimensions.items():
        board.add_dimension(name=dimension, value=label)
    for name, unit, value in measures:
        board.add_metric(name=name, unit=unit, value=value)
    board.add_metadata(key="training_id", value=run.training_id)
    board.add_metadata(key="issue", value=issue_of(run) or "")
    board.flush_metrics()


def _run_end(run: RunState) -> tuple[list[Measure], dict[str, str]]:
    measures: list[Measure] = [("RunsSucceeded" if run.status == "succeeded" else "RunsFailed", MetricUnit.Count, 1)]
    if run.finished_at:
        seconds = (run.finished_at - run.created_at).total_seconds()
        measures.append(("RunDuration", MetricUnit.Seconds, round(max(0.0, seconds), 3)))
    return measures, {}


def _evaluation(run: RunState) -> tuple[list[Measure], dict[str, str]]:
    if run.gate is None:
        return [], {}
    dimensions = {"model": run.request.model_id or run.request.algorithm, "metric": run.gate.metric}
    return [("EvaluationScore", MetricUnit.NoUnit, run.gate.value)], dimensions


AGENT_METRICS: dict[str, Callable[[RunState], tuple[list[Measure], dict[str, str]]]] = {
    "publish": _run_end,
    "evaluate": _evaluation,
}
