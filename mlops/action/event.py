"""The webhook payloads the action reads, as pydantic models of the subset it uses.

Everything else in a delivery is ignored (GitHub adds fields over time), and the variants seen in real
deliveries are accepted: `body: null`, deliveries through a GitHub App (`installation`, `organization`),
`issues.edited` with `changes: {}`, a repository_dispatch whose `client_payload` is missing, a
workflow_dispatch with no `action` key and its `inputs`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from mlops.errors import UsageError

MAX_EVENT = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class User(_Payload):
    login: str
    type: str = "User"  # User | Bot | Organization

    @property
    def is_bot(self) -> bool:
        return self.type == "Bot" or self.login.endswith("[bot]")


class Label(_Payload):
    name: str


class Issue(_Payload):
    number: int
    title: str = ""
    body: str | None = None
    user: User
    labels: list[Label] = []
    html_url: str = ""
    state: str = "open"
    pull_request: dict[str, Any] | None = None  # issue_comment fires on pull requests too

    @property
    def label_names(self) -> set[str]:
        return {label.name for label in self.labels}


class Comment(_Payload):
    id: int
    body: str | None = None
    user: User
    html_url: str = ""


class IssuesEvent(_Payload):
    action: str
    issue: Issue
    label: Label | None = None  # labeled / unlabeled: the label that changed
    changes: dict[str, Any] | None = None  # edited: what changed (`{}` when only the form's state did)
    sender: User


class IssueCommentEvent(_Payload):
    action: str  # created | edited | deleted
    issue: Issue
    comment: Comment
    sender: User


class RepositoryDispatchEvent(_Payload):
    action: str  # the event_type the sender chose
    client_payload: dict[str, Any] | None = None
    sender: User | None = None


class WorkflowDispatchEvent(_Payload):
    inputs: dict[str, Any] | None = None
    ref: str | None = None
    sender: User | None = None


Event = TypeVar("Event", bound=_Payload)


def load_event(path: Path, name: str, expected: str, model: type[Event]) -> Event:
    """The payload at GITHUB_EVENT_PATH as `model`, refusing a mode run by the wrong event."""
    if name != expected:
        raise UsageError(f"GITHUB_EVENT_NAME: '{name}' does not fit this mode; it handles '{expected}' events")
    try:
        if path.stat().st_size > MAX_EVENT:
            raise UsageError(f"GITHUB_EVENT_PATH: {path} is larger than a webhook payload can be")
        document = json.loads(path.read_text(encoding="utf-8"))
        return model.model_validate(document)
    except OSError as exc:
        raise UsageError(f"GITHUB_EVENT_PATH: cannot read {path} ({exc.strerror})") from None
    except ValueError as exc:  # JSON and pydantic's ValidationError alike
        raise UsageError(
            f"GITHUB_EVENT_PATH: {path} does not hold an '{expected}' delivery ({_first_line(exc)})"
        ) from None


def _first_line(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        return f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
    return str(exc).splitlines()[0][:200]
