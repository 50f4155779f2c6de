"""An issue's request, validated with the repository's own form, and what the issue is told about it.

Invalid: ONE comment lists every problem with how to fix it (found again by its marker and edited on the next
attempt), the issue gets `mlops:invalid`, and every problem becomes an `::error::` annotation. Valid again: the
label goes and the comment says the problems are fixed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from mlops.action import labels
from mlops.action.context import ActionContext
from mlops.action.outcome import Outcome
from mlops.action.summary import job_summary, links_line
from mlops.github.actions_io import ActionsIO
from mlops.github.client import GitHubClient, IssueData
from mlops.intake import LocalDatasets, request_from_body
from mlops.report import escape
from mlops.request import TrainingRequest

VALIDATION_MARKER = "<!-- mlops:validation -->"
FIXED_HEADING = "### ✅ The training request is valid now"


def validate_issue(ctx: ActionContext, issue: IssueData) -> TrainingRequest:
    """The issue's request (InvalidRequest with every problem, its dataset's on this machine among them).

    With backend aws the dataset lives in S3 and is not looked at here (the job may only start executions):
    the run's PrepareData finds a missing one, and the run fails saying which."""
    datasets = LocalDatasets(ctx.settings.store_dir) if ctx.settings.backend == "local" else None
    return request_from_body(issue.body, title=issue.title, template=form_template(ctx.workspace), datasets=datasets)


def form_template(workspace: Path) -> Path | None:
    """The repository's form that applies the `mlops:train` label; None: the bundled form."""
    folder = workspace / ".github" / "ISSUE_TEMPLATE"
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        try:
            form = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue  # not ours to judge: GitHub itself reports a broken form
        if isinstance(form, dict) and labels.TRIGGER in _labels_of(form) and isinstance(form.get("body"), list):
            return path
    return None


def _labels_of(form: dict[str, Any]) -> list[str]:
    found = form.get("labels") or []
    return [part.strip() for part in found.split(",")] if isinstance(found, str) else [str(x) for x in found]


def request_digest(repository: str, number: int, request: TrainingRequest) -> str:
    """One value per distinct request of an issue: redeliveries and edits that change nothing share it."""
    document = {"repository": repository, "issue": number, "request": request.model_dump(mode="json")}
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def report_invalid(
    ctx: ActionContext, io: ActionsIO, gh: GitHubClient, issue: IssueData, problems: list[str]
) -> Outcome:
    comment = gh.upsert_comment(issue.number, VALIDATION_MARKER, render_problems(problems, ctx.run_url))
    labels.set_status_label(gh, issue.number, labels.INVALID)
    for problem in problems:
        io.error(problem, title="invalid training request")
    links = links_line({"issue": issue.url, "comment": comment.url, "Actions run": ctx.run_url})
    listed = "\n".join(f"- {escape(problem, 500)}" for problem in problems)
    io.add_summary(job_summary(f"Training request #{issue.number}", "invalid, nothing started", listed, links))
    return Outcome("invalid")


def render_problems(problems: list[str], run_url: str | None) -> str:
    listed = "\n".join(f"- {escape(problem, 500)}" for problem in problems)
    footer = f"\n\n<sub>[Actions run]({run_url})</sub>" if run_url else ""
    return (
        f"{VALIDATION_MARKER}\n### ❌ This training request cannot start yet\n\n"
        f"Fix {'this' if len(problems) == 1 else f'these {len(problems)} problems'} by editing the issue; "
        "the request is checked again after every edit.\n\n"
        f"{listed}{footer}\n"
    )


def mark_valid(gh: GitHubClient, number: int) -> None:
    """Take `mlops:invalid` off, and turn an earlier problem list into a note that they are fixed."""
    labels.set_status_label(gh, number, None)
    comment = gh.find_comment(number, VALIDATION_MARKER)
    if comment is not None and FIXED_HEADING not in comment.body:
        fixed = (
            f"{VALIDATION_MARKER}\n{FIXED_HEADING}\n\nThe problems listed here before are fixed; the run's "
            "progress is in its status comment.\n"
        )
        gh.edit_comment(number, comment.id, fixed)
