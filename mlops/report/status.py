"""What became of a run: one word for it (`outcome`), and the status lines that say it."""

from __future__ import annotations

from typing import Any

from mlops.pipeline.models import RunState
from mlops.report.markdown import LONG_LIMIT, escape
from mlops.report.strings import strings_for
from mlops.report.values import format_threshold, format_value, metric_label


def outcome(run: RunState) -> str:
    """What became of the run, as one word the status lines, the summary and the JSON twin all agree on."""
    if run.status != "failed":
        return run.status
    if run.operator is not None and run.operator.action == "abort":
        return "aborted"
    if run.rolled_back_to or run.registered is not None or (run.verify is not None and not run.verify.ok):
        return "verification_failed"  # only a failed Verify leaves a failed run with a registered model
    if run.gate is not None and run.gate.decision == "exhausted":
        return "exhausted"
    return "training_failed" if run.error is not None else "failed"


def gate_metric(run: RunState) -> str | None:
    if run.gate is not None:
        return run.gate.metric
    return run.attempt.metric if run.attempt and run.attempt.metric else run.request.metric


def threshold(run: RunState) -> float:
    return run.gate.threshold if run.gate is not None else run.request.evaluation_threshold


def current_version(run: RunState, t: dict[str, str]) -> str:
    return escape(run.rolled_back_to) if run.rolled_back_to else t["no_previous"]


def status_lines(run: RunState, lang: str = "ja") -> list[str]:
    """The status: one line saying what became of the run, plus what to do next when it waits."""
    t, kind = strings_for(lang), outcome(run)
    line = t[f"s.{kind}"].format(**_status_fields(run, t))
    if kind == "awaiting_operator":
        return [line, "", t["s.awaiting_hint"]]
    if kind == "verification_failed" and run.verify is not None:
        return [line, "", t["s.verify_detail"].format(detail=escape(run.verify.detail, LONG_LIMIT))]
    return [line]


def _status_fields(run: RunState, t: dict[str, str]) -> dict[str, Any]:
    decision = run.operator
    return {
        "threshold": format_threshold(threshold(run)),
        "metric": metric_label(gate_metric(run) or ""),
        "value": format_value(run.gate.value) if run.gate else "-",
        "used": run.retrains_used,
        "max": run.request.max_retry,
        "left": max(0, run.request.max_retry - run.retrains_used),
        "reason": escape(decision.reason, LONG_LIMIT) if decision and decision.reason else t["no_reason"],
        "actor": escape(decision.actor) if decision and decision.actor else t["unknown"],
        "state": escape(run.error.state) if run.error and run.error.state else t["unknown"],
        "error": _error_text(run),
        "version": escape(run.registered.version) if run.registered else "-",
        "current": current_version(run, t),
    }


def _error_text(run: RunState) -> str:
    if run.error is None:
        return "-"
    return escape(f"{run.error.type}: {run.error.message}", LONG_LIMIT)
