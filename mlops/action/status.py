"""The status comment: one per run, found again by its hidden marker and edited in place as the run moves.

Stages: awaiting approval, validated, training, evaluated, awaiting the operator (with the metrics and the exact
commands to answer), retraining, registered, then succeeded or failed with the report (cut to GitHub's comment
limit, linking the committed file) and the history chain's head after the run, a witness of the chain kept
outside the repository.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from mlops.action.context import HISTORY_PATH
from mlops.errors import GitHubError
from mlops.github.client import GitHubClient
from mlops.metric_specs import METRICS
from mlops.pipeline.models import RunState
from mlops.report import code, escape, render_summary
from mlops.report.values import format_threshold, format_value, metric_label
from mlops.request import TrainingRequest

MAX_COMMENT = 65_536  # GitHub refuses a longer comment body
STAGES = {
    "awaiting_approval": ("⏳", "awaiting approval"),
    "validated": ("✅", "validated"),
    "training": ("🏋️", "training"),
    "evaluated": ("📏", "evaluated"),
    "awaiting_operator": ("⏸️", "awaiting the operator"),
    "retraining": ("🔁", "retraining"),
    "registered": ("📦", "registered, verifying"),
    "succeeded": ("🎉", "succeeded"),
    "failed": ("❌", "failed"),
}
# The engine's states at which the comment moves to a new stage (the runner reports each state as it enters it).
STAGE_AT_STATE = {"Train": "training", "Gate": "evaluated", "Verify": "registered"}


STATUS_PREFIX = "<!-- mlops:status training_id="
AWAITING_APPROVAL_HEADING = f"{STAGES['awaiting_approval'][0]} MLOps run "


def status_marker(training_id: str) -> str:
    return f"{STATUS_PREFIX}{training_id} -->"


def marked_training_id(body: str) -> str | None:
    """The training id a status comment's marker names (None: not a status comment)."""
    match = re.search(re.escape(STATUS_PREFIX) + r"([A-Za-z0-9_.-]+) -->", body)
    return match.group(1) if match else None


def awaits_approval(body: str) -> bool:
    """Whether a status comment shows a request that waits for `/mlops approve` (nothing started yet)."""
    heading = next((line for line in body.splitlines() if line.startswith("### ")), "")
    return heading.startswith(f"### {AWAITING_APPROVAL_HEADING}") and heading.endswith(STAGES["awaiting_approval"][1])


@dataclass(frozen=True)
class StatusView:
    """Everything the comment shows; each stage fills in more."""

    training_id: str
    stage: str
    request: TrainingRequest
    run_url: str | None = None
    author: str | None = None  # awaiting approval: who asked
    run: RunState | None = None
    report: str | None = None  # the end: the report's Markdown, its committed file and its plots' folder
    report_url: str | None = None
    plots_url: str | None = None
    head: dict[str, Any] | None = None  # the end: the history chain's head after the run
    note: str | None = None
    note_command: str | None = None  # what to run about the note, shown as code under it
    lang: str = "ja"  # of the report's parts, unless the request asks for another (MLOPS_REPORT_LANG)


def render_status(view: StatusView) -> str:
    emoji, label = STAGES[view.stage]
    parts = [
        status_marker(view.training_id),
        f"### {emoji} MLOps run {code(view.training_id)}: {label}",
        _request_table(view.run.request if view.run else view.request),  # a retrain may have changed it
        *_STAGE_BLOCKS.get(view.stage, _progress)(view),
    ]
    if view.note:
        parts.append(_warning(view.note, view.note_command))
    parts.append(_footer(view))
    body = "\n\n".join(part for part in parts if part) + "\n"
    return _with_report(body, view) if view.report is not None else body


def _warning(note: str, command: str | None) -> str:
    warning = f"> [!WARNING]\n> {escape(note, 1000)}"
    return warning + (f"\n>\n> ```console\n> {command}\n> ```" if command else "")


def _request_table(request: TrainingRequest) -> str:
    data = request.dataset_id or request.environment or "-"
    metric = request.metric or "-"
    comparison = METRICS[metric].comparison if metric in METRICS else ">="
    row = [
        escape(request.model_id or "-"),
        escape(request.algorithm),
        escape(data),
        f"{metric_label(metric)} {comparison} {format_threshold(request.evaluation_threshold)}",
        str(request.max_retry),
    ]
    header = "| model | algorithm | data | gate | max retrains |\n| --- | --- | --- | --- | --- |\n"
    return header + "| " + " | ".join(row) + " |"


def _awaiting_approval(view: StatusView) -> list[str]:
    who = escape(view.author or "the author")
    return [
        f"{who} does not have write access to this repository, so this run waits for approval. Anyone with "
        "write, maintain or admin permission can start it by answering:",
        "```\n/mlops approve\n```",
    ]


def _progress(view: StatusView) -> list[str]:
    if view.stage == "validated" or view.run is None:
        return ["The request is valid; the run is starting."]
    run, attempt = view.run, view.run.attempt
    number = attempt.number if attempt else 1  # the first attempt is made when training starts
    line = f"Attempt {number} of up to {view.request.max_retry + 1}: {escape(run.request.algorithm)}"
    if attempt and attempt.overrides:
        line += f" with {code(_assignments(attempt.overrides))}"
    lines = [line]
    if run.registered:
        lines.append(f"Registered {code(run.registered.version)} of {code(run.registered.model_id)}; verifying it.")
    return [*lines, _metrics_table(run)]


def _awaiting_operator(view: StatusView) -> list[str]:
    run = view.run
    assert run is not None and run.gate is not None
    gate, left = run.gate, run.request.max_retry - run.retrains_used
    return [
        f"The model missed its threshold: {metric_label(gate.metric)} = {format_value(gate.value)}, needs "
        f"{gate.comparison} {format_threshold(gate.threshold)}. {left} retrain(s) left.",
        _metrics_table(run),
        "Someone with write access can answer with a comment: retrain with new settings (edit the values), or end "
        "the run.",
        f"```\n{retrain_example(run)}\n```",
        "```\n/mlops abort <reason>\n```",
    ]


def _finished(view: StatusView) -> list[str]:
    assert view.run is not None
    # The report's path in the repository, not on the runner.
    run = view.run.model_copy(update={"report": f"{HISTORY_PATH}/{view.training_id}.md"})
    lines = [render_summary(run, run.request.report_lang or view.lang, history_url=view.report_url).strip()]
    if view.head:
        sha = str(view.head.get("sha256"))
        lines.append(
            f"History chain head after this run: seq {view.head.get('seq')}, sha256 {code(sha)}. Check a checkout "
            f"with `mlops history verify --expect-head {sha}`."
        )
    return lines


_STAGE_BLOCKS: dict[str, Callable[[StatusView], list[str]]] = {
    "awaiting_approval": _awaiting_approval,
    "awaiting_operator": _awaiting_operator,
    "succeeded": _finished,
    "failed": _finished,
}


def _metrics_table(run: RunState | None) -> str:
    attempt = run.attempt if run else None
    if run is None or attempt is None or not attempt.metrics:
        return ""
    rows = [
        f"| {metric_label(name)}{' (gate)' if run.gate and name == run.gate.metric else ''} | {format_value(value)} |"
        for name, value in attempt.metrics.items()
    ]
    return "| metric | value |\n| --- | --- |\n" + "\n".join(rows)


def retrain_example(run: RunState) -> str:
    """`/mlops retrain` with the hyperparameters the user chose (or the first defaults) at their current values."""
    current = run.attempt.hyperparameters if run.attempt else run.request.effective_hyperparameters()
    chosen = {key: current[key] for key in run.request.hyperparameters if key in current} or dict(
        list(current.items())[:2]
    )
    return f"/mlops retrain {_assignments(chosen)}" if chosen else "/mlops retrain key=value"


def _assignments(values: dict[str, Any]) -> str:
    return " ".join(f"{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in values.items())


def _footer(view: StatusView) -> str:
    links = [f"[Actions run]({view.run_url})"] if view.run_url else []
    links.append("`/mlops status` · `/mlops help`")
    return "<sub>" + " · ".join(links) + "</sub>"


def _with_report(body: str, view: StatusView) -> str:
    """The body with the report folded in at its end, cut so the whole stays within GitHub's limit."""
    report = view.report or ""
    if view.plots_url:  # the report's plot links are relative to its file; the comment needs them absolute
        report = report.replace(f"]({view.training_id}/", f"]({view.plots_url}/{view.training_id}/")
    opening, closing = "\n<details><summary>Report</summary>\n\n", "\n</details>\n"
    budget = MAX_COMMENT - len(body) - len(opening) - len(closing)
    return body + opening + cut(report, budget, view.report_url) + closing


def cut(text: str, budget: int, link: str | None) -> str:
    """`text`, or as many whole lines of it as fit in `budget` characters with a note pointing to the rest."""
    if len(text) <= budget:
        return text
    notice = "\n\n… cut to fit GitHub's comment limit; " + (
        f"the whole report: {link}\n" if link else "the whole report is in training_history/\n"
    )
    kept = text[: max(0, budget - len(notice))]
    return kept[: kept.rfind("\n") + 1] + notice


class StatusComment:
    """The run's status comment on one issue, edited only when what it shows changes."""

    def __init__(self, gh: GitHubClient, number: int, view: StatusView) -> None:
        self.gh, self.number, self.view = gh, number, view
        self.url: str | None = None
        self._comment_id: int | None = None
        self._shown: str | None = None

    def show(self, stage: str, **changes: Any) -> None:
        self.view = replace(self.view, stage=stage, **changes)
        body = render_status(self.view)
        if body == self._shown:
            return
        if self._comment_id is None:
            comment = self.gh.upsert_comment(self.number, status_marker(self.view.training_id), body)
            self._comment_id, self.url = comment.id, comment.url
        else:
            self.gh.edit_comment(self.number, self._comment_id, body)
        self._shown = body

    def follow(self, warn: Callable[[str], None]) -> Callable[[str, RunState], None]:
        """An on_step hook for the runner: a new stage edits the comment; GitHub failing here does not stop the
        training (the final update reports it)."""

        def on_step(state: str, run: RunState) -> None:
            stage = STAGE_AT_STATE.get(state)
            if stage == "training" and run.retrains_used:
                stage = "retraining"
            if stage is None or stage == self.view.stage:
                return
            try:
                self.show(stage, run=run.model_copy(deep=True))
            except GitHubError as exc:
                warn(f"the status comment could not be updated: {exc}")

        return on_step
