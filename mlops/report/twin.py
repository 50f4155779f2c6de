"""The report's JSON twin: its essentials as plain JSON, for tools and the history chain."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from mlops.pipeline.models import Attempt, RunState
from mlops.report.status import outcome


def report_json(run: RunState) -> dict[str, Any]:
    """The report's essentials as plain JSON (finite floats only, ISO timestamps), for tools and the chain."""
    document = {
        "training_id": run.training_id,
        "status": run.status,
        "outcome": outcome(run),
        "request": run.request.model_dump(mode="json", exclude_none=True),
        "issue": run.issue.model_dump(mode="json", exclude_none=True) or None,
        "metrics": dict(run.attempt.metrics) if run.attempt else {},
        "gate": _dump(run.gate),
        "model": _model_json(run),
        "data": _data_json(run),
        "attempts": [_attempt_json(attempt) for attempt in run.attempts],
        "verify": _dump(run.verify),
        "operator": _dump(run.operator),
        "error": _dump(run.error),
        "created_at": _iso(run.created_at),
        "finished_at": _iso(run.finished_at),
    }
    return _finite(document)


def _dump(model: Any) -> Any:
    return None if model is None else model.model_dump(mode="json")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _model_json(run: RunState) -> dict[str, Any] | None:
    if run.registered is None and run.rolled_back_to is None:
        return None
    registered = {k: v for k, v in (_dump(run.registered) or {}).items() if k != "registry_arn" or v}
    return {
        **registered,  # the ARN only where there is one: a local run's twin stays as it was
        "previous_version": run.previous_version,
        "rolled_back_to": run.rolled_back_to,
    }


def _data_json(run: RunState) -> dict[str, Any] | None:
    data = run.data
    if data is None:
        return {"environment": run.request.environment} if run.request.environment else None
    return {
        "dataset_id": data.dataset_id,
        "task": data.task,
        "target": data.target,
        "digest": data.digest,
        "rows_train": data.rows_train,
        "rows_test": data.rows_test,
    }


def _attempt_json(attempt: Attempt) -> dict[str, Any]:
    fields = (
        "number",
        "overrides",
        "hyperparameters",
        "algorithm",
        "metric",
        "value",
        "passed",
        "tries",
        "duration_seconds",
        "started_at",
        "finished_at",
    )
    return attempt.model_dump(mode="json", include=set(fields))


def _finite(value: Any) -> Any:
    """NaN and infinity are not JSON: they become null, so every consumer (and the hash chain) parses it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value
