"""Training progress on the status comment, from EventBridge's "SageMaker Training Job State Change" events.

SageMaker sends one event per change of a training job's status or secondary status (Starting, Downloading,
Training, Uploading, Completed, Failed...), with the job's tags. A job is ours when it carries the tags
training_job.py gives it (`mlops:training-id`, `mlops:repository`, `mlops:issue`); any other job's event is
ignored. For ours, the status comment (found by its hidden marker) gets the training stage and a line with the
job's status: nothing else of the run is needed, so the agent reads no run document.

Events may arrive late or out of order, so an event older than the comment's last edit changes nothing (a late
"Training" must not overwrite "awaiting the operator"), and a comment showing the end of the run is never edited.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlops.action.status import STAGES, status_marker
from mlops.github.client import CommentData, GitHubClient
from mlops.report import code, escape

log = logging.getLogger("mlops")
DETAIL_TYPE = "SageMaker Training Job State Change"
TAG_TRAINING_ID, TAG_REPOSITORY, TAG_ISSUE = "mlops:training-id", "mlops:repository", "mlops:issue"
FINAL_STAGES = ("succeeded", "failed")
JOB_NAME = re.compile(r"-a(?P<attempt>\d+)(?:-t(?P<try>\d+))?$")  # <training_id>-a<attempt>-t<try>


@dataclass(frozen=True)
class JobChange:
    """One state change of one of our training jobs."""

    training_id: str
    repository: str
    issue: int
    job_name: str
    status: str
    secondary: str | None
    message: str | None  # the latest secondary status transition's message
    failure: str | None
    time: datetime | None

    @property
    def attempt(self) -> int:
        found = JOB_NAME.search(self.job_name)
        return int(found["attempt"]) if found else 1

    @property
    def try_number(self) -> int:
        found = JOB_NAME.search(self.job_name)
        return int(found["try"]) if found and found["try"] else 1


def job_change(event: Any) -> JobChange | None:
    """The change an event reports, or None when it is not a training job state change of one of our jobs."""
    if not isinstance(event, dict) or event.get("detail-type") != DETAIL_TYPE:
        return None
    detail = _mapping(event.get("detail"))
    tags = _mapping(detail.get("Tags"))
    training_id, repository, issue = (str(tags.get(name) or "") for name in (TAG_TRAINING_ID, TAG_REPOSITORY,
                                                                             TAG_ISSUE))
    if not (training_id and repository and issue.isdigit() and detail.get("TrainingJobName")):
        return None
    transitions = [_mapping(step) for step in detail.get("SecondaryStatusTransitions") or [{}]]
    return JobChange(
        training_id=training_id, repository=repository, issue=int(issue), job_name=str(detail["TrainingJobName"]),
        status=str(detail.get("TrainingJobStatus") or "Unknown"), secondary=detail.get("SecondaryStatus"),
        message=transitions[-1].get("StatusMessage"), failure=detail.get("FailureReason"),
        time=_time(event.get("time")),
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def show_progress(change: JobChange, gh: GitHubClient) -> str:
    """Edit the run's status comment for `change`; returns what was done, for the log."""
    comment = gh.find_comment(change.issue, status_marker(change.training_id))
    if comment is None:
        return "no status comment yet: nothing to update"
    if _older(change, comment):
        return "the event is older than the comment's last edit: ignored"
    body = progress_body(comment.body, change)
    if body is None:
        return "the comment shows the end of the run, or is not a status comment: left alone"
    if body != comment.body:
        gh.edit_comment(change.issue, comment.id, body)
    return f"status comment updated: {change.status} / {change.secondary}"


def _older(change: JobChange, comment: CommentData) -> bool:
    return bool(change.time and comment.updated_at and change.time < comment.updated_at)


def progress_body(body: str, change: JobChange) -> str | None:
    """The status comment with the training stage and the job's status, or None to leave it as it is.

    Kept from the comment: its marker, the request table and the footer (render_status writes them as the first,
    third and last of its blank-line-separated parts); the stage's own blocks give way to the job's line.
    """
    parts = body.rstrip("\n").split("\n\n")
    if len(parts) < 4:
        return None
    marker, heading, table, footer = parts[0], parts[1], parts[2], parts[-1]
    if marker != status_marker(change.training_id) or not table.startswith("| model |"):
        return None
    if _stage_of(heading) in (None, *FINAL_STAGES) or not footer.startswith("<sub>"):
        return None
    stage = "retraining" if change.attempt > 1 else "training"
    return "\n\n".join([marker, stage_heading(change.training_id, stage), table, job_line(change), footer]) + "\n"


def stage_heading(training_id: str, stage: str) -> str:
    """The heading render_status gives a stage (tests/aws/test_progress.py holds the two to each other)."""
    emoji, label = STAGES[stage]
    return f"### {emoji} MLOps run {code(training_id)}: {label}"


def _stage_of(heading: str) -> str | None:
    label = heading.rsplit(": ", 1)[-1]
    return next((stage for stage, (_, shown) in STAGES.items() if shown == label), None)


def job_line(change: JobChange) -> str:
    attempt = f"Attempt {change.attempt}" + (f", try {change.try_number}" if change.try_number > 1 else "")
    state = change.status + (f" — {change.secondary}" if change.secondary else "")
    line = f"{attempt}: SageMaker training job {code(change.job_name)} is **{escape(state)}**."
    if change.failure:
        line += f" {escape(change.failure, 500)}"
    elif change.message:
        line += f" {escape(change.message, 500)}"
    return line
