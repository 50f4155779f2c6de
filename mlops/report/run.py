"""The run report: the Markdown of requirements §7.2, then attempts, plots and the timeline."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from mlops.learners.catalog import ALGORITHMS
from mlops.metric_specs import METRICS
from mlops.pipeline.models import Attempt, RunState
from mlops.report.markdown import LONG_LIMIT, code, escape, item, safe_url, section, table
from mlops.report.status import current_version, gate_metric, outcome, status_lines, threshold
from mlops.report.strings import strings_for
from mlops.report.values import (
    format_duration,
    format_param,
    format_threshold,
    format_time,
    format_value,
    metric_label,
    ordered_metrics,
)

EXTRA_KEYS = ("store_uri", "run_url")  # the keys of render_report's `extra` that have a place of their own


def render_report(
    run: RunState, lang: str = "ja", plots: Sequence[str] = (), extra: Mapping[str, Any] | None = None
) -> str:
    """The run's Markdown report, §7.2 section for section, then attempts, plots and the timeline.

    `plots` are image paths relative to the report (see mlops.history.plot_links). `extra` may carry
    `store_uri` (e.g. s3://bucket, prefixed to the model's store key), `run_url` (the Actions run); any other
    key is listed under the basic information as `- key: value`.
    """
    t, extra = strings_for(lang), extra or {}
    sections = [
        f"# {t['title']}",
        section(t["h.basic"], _basic_lines(run, t, extra)),
        section(t["h.dataset"], _dataset_lines(run, t)),
        section(t["h.hyperparameters"], _hyperparameter_lines(run, t)),
        section(t["h.evaluation"], _evaluation_lines(run, t)),
        section(t["h.model"], _model_lines(run, t, extra.get("store_uri"))),
        section(t["h.status"], status_lines(run, lang)),
        section(t["h.attempts"], _attempt_table(run, t)),
    ]
    if plots:
        sections.append(section(t["h.plots"], _plot_lines(plots)))
    sections.append(section(t["h.timeline"], _timeline_lines(run, t)))
    return "\n\n".join(sections) + "\n"


def _basic_lines(run: RunState, t: dict[str, str], extra: Mapping[str, Any]) -> list[str]:
    request = run.request
    lines = [
        item(t["training_id"], escape(run.training_id)),
        item(t["learning_type"], t.get(request.learning_type, escape(request.learning_type))),
        item(t["algorithm"], escape(_algorithm_summary(request.algorithm))),
        item(t["executed_at"], format_time(run.created_at)),
    ]
    if request.task:
        lines.append(item(t["task"], escape(request.task)))
    lines += _link_lines(run, t, extra)
    return lines


def _algorithm_summary(name: str) -> str:
    spec = ALGORITHMS.get(name)
    return (spec.summary or name) if spec else name


def _link_lines(run: RunState, t: dict[str, str], extra: Mapping[str, Any]) -> list[str]:
    lines = []
    if (issue := _issue_text(run)) is not None:
        lines.append(item(t["issue"], issue))
    if url := safe_url(extra.get("run_url")):
        lines.append(item(t["run_url"], url))
    others = {key: value for key, value in extra.items() if key not in EXTRA_KEYS}
    return lines + [item(escape(key), escape(value, LONG_LIMIT)) for key, value in others.items()]


def _issue_text(run: RunState) -> str | None:
    issue = run.issue
    if issue.number is None and not issue.url:
        return None
    name = f"{issue.repository or ''}#{issue.number}" if issue.number is not None else "issue"
    title = f" {escape(issue.title)}" if issue.title else ""
    url = safe_url(issue.url)
    return (f"[{escape(name)}]({url})" if url else escape(name)) + title


def _dataset_lines(run: RunState, t: dict[str, str]) -> list[str]:
    if run.request.learning_type == "reinforcement":
        return _environment_lines(run, t)
    lines = [item(t["dataset_id"], escape(run.request.dataset_id or t["unknown"]))]
    data = run.data
    if data is None:
        return lines
    lines.append(item(t["rows_train"], t["rows"].format(n=data.rows_train)))
    lines.append(item(t["rows_test"], t["rows"].format(n=data.rows_test)))
    if data.target:
        lines.append(item(t["target"], escape(data.target)))
    if data.digest:
        lines.append(item(t["digest"], code(data.digest)))
    return lines


def _environment_lines(run: RunState, t: dict[str, str]) -> list[str]:
    lines = [item(t["environment"], escape(run.request.environment or t["unknown"]))]
    episodes = _effective_hyperparameters(run).get("eval_episodes")
    if isinstance(episodes, int):
        lines.append(item(t["eval_episodes"], f"{episodes:,}"))
    return lines


def _effective_hyperparameters(run: RunState) -> dict[str, Any]:
    """What the final attempt trained with; before any attempt, what the request would train with."""
    if run.attempt is not None:
        return run.attempt.hyperparameters
    try:
        return run.request.effective_hyperparameters()
    except KeyError:  # an algorithm this release does not know: show what was asked for
        return dict(run.request.hyperparameters)


def _hyperparameter_lines(run: RunState, t: dict[str, str]) -> list[str]:
    params = _effective_hyperparameters(run)
    return [item(escape(name), format_param(value)) for name, value in params.items()] or [t["none"]]


def _evaluation_lines(run: RunState, t: dict[str, str]) -> list[str]:
    metrics = run.attempt.metrics if run.attempt else {}
    gated = gate_metric(run)
    lines = []
    for name in ordered_metrics(metrics):
        mark = _gate_mark(run, t) if name == gated else ""
        lines.append(item(metric_label(name), format_value(metrics[name]) + mark))
    return lines or [t["none"]]


def _gate_mark(run: RunState, t: dict[str, str]) -> str:
    spec = METRICS.get(gate_metric(run) or "")
    comparison = run.gate.comparison if run.gate else (spec.comparison if spec else ">=")
    return t["gate_mark"].format(comparison=comparison, threshold=format_threshold(threshold(run)))


def _model_lines(run: RunState, t: dict[str, str], store_uri: Any) -> list[str]:
    model = run.registered
    if model is None:
        return [t["not_registered"]]
    lines = [item(t["model_id"], escape(model.model_id)), item(t["version"], escape(model.version))]
    lines.append(_store_line(model.artifact_key, store_uri, t))
    if model.registry_arn:  # registered in SageMaker's Model Registry (AWS)
        lines.append(item(t["registry_arn"], escape(model.registry_arn, LONG_LIMIT)))
    if outcome(run) == "verification_failed":
        current = t["rolled_back_mark"].format(version=current_version(run, t))
        lines.append(item(t["current_version"], current))
    return lines


def _store_line(artifact_key: str, store_uri: Any, t: dict[str, str]) -> str:
    key = artifact_key if artifact_key.endswith("/") else artifact_key + "/"
    if isinstance(store_uri, str) and store_uri:
        label = t["s3_path"] if store_uri.startswith("s3://") else t["store_path"]
        return item(label, escape(f"{store_uri.rstrip('/')}/{key}", LONG_LIMIT))
    return item(t["store_path"], escape(key, LONG_LIMIT))


def _attempt_table(run: RunState, t: dict[str, str]) -> list[str]:
    if not run.attempts:
        return [t["none"]]
    metric = gate_metric(run)
    headers = [
        t["t.attempt"],
        t["t.overrides"],
        t["t.value"].format(metric=metric_label(metric or "")),
        t["t.result"],
        t["t.duration"],
        t["t.tries"],
    ]
    rows = [_attempt_row(attempt, metric, t) for attempt in run.attempts]
    return [table(rows, headers)]


def _attempt_row(attempt: Attempt, metric: str | None, t: dict[str, str]) -> list[str]:
    value = attempt.value if attempt.value is not None else attempt.metrics.get(metric or "")
    return [
        str(attempt.number),
        _overrides_text(attempt.overrides) if attempt.overrides else t["first_attempt"],
        format_value(value) if value is not None else "-",
        _attempt_result(attempt, t),
        format_duration(attempt.duration_seconds),
        str(attempt.tries),
    ]


def _overrides_text(overrides: Mapping[str, Any]) -> str:
    pairs = (
        f"{key}={value if isinstance(value, str) else json.dumps(value, default=str)}"
        for key, value in overrides.items()
    )
    return escape(", ".join(pairs), LONG_LIMIT)


def _attempt_result(attempt: Attempt, t: dict[str, str]) -> str:
    if attempt.passed is None:
        return "-"
    return t["pass"] if attempt.passed else t["miss"]


def _plot_lines(plots: Sequence[str]) -> list[str]:
    return [f"![{escape(PurePosixPath(path).stem)}]({quote(str(path))})" for path in plots]


def _timeline_lines(run: RunState, t: dict[str, str]) -> list[str]:
    lines = [
        f"- {format_time(e.at)} **{escape(e.state)}** {escape(e.message, LONG_LIMIT)}" for e in run.events
    ]
    return lines or [t["none"]]
