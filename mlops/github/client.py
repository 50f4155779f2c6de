"""GitHub's REST API as the action uses it; the one module that imports PyGithub.

Every call goes through `_call`, which turns PyGithub's and requests' exceptions into GitHubError, with a
problem that says what failed and what to check. Retries are bounded: GithubRetry retries 5xx answers and rate
limits with back-off, and a rate limit whose reset is further away than `max_rate_wait` fails instead of
sleeping (when retries run out, PyGithub raises requests' RetryError, not a GithubException).

PyGithub is imported when the first call is made (it costs about 0.28 s), not when this module is.
The Actions token cannot read `GET /user`, so nothing here asks who "I" am: the action finds its own comments by
the hidden marker they carry.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlops.errors import GitHubError

WRITE_ROLES = frozenset({"admin", "maintain", "write"})
BASE_ROLES = frozenset({"admin", "maintain", "write", "triage", "read", "none"})
# Hints for the answers a user can fix (the token, the workflow's permissions, the repository's name).
HINTS = {
    401: "the token was refused; check the action's github-token input",
    403: "the token may not do this; the workflow needs `issues: write` and `contents: write` permissions",
    404: "not found, or the token cannot see it; check GITHUB_REPOSITORY and the token's repository access",
}


@dataclass(frozen=True)
class Connection:
    """Where and how to reach the API; every number bounds how long one call may take in the worst case."""

    token: str
    api_url: str
    repository: str  # owner/name
    retries: int = 5  # tries after the first, for 5xx answers and rate limits
    backoff: float = 1.0  # seconds: the first retry waits this, then twice as long each time
    max_rate_wait: float = 300.0  # seconds a rate limit may make us wait for its reset; longer fails at once
    timeout: int = 30  # seconds per request


@dataclass(frozen=True)
class IssueData:
    number: int
    title: str
    body: str
    author: str
    url: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class CommentData:
    id: int
    body: str
    url: str
    updated_at: datetime | None = None  # when the comment was last edited (what find_comment saw)


class GitHubClient:
    """One repository, through one PyGithub connection made on first use."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._repository: Any = None

    @property
    def _repo(self) -> Any:
        if self._repository is None:
            self._repository = _connect(self.connection).get_repo(self.connection.repository)
        return self._repository

    # -- issues and comments --

    def issue(self, number: int) -> IssueData:
        with self._call(f"reading issue #{number}"):
            issue = self._repo.get_issue(number)
            return IssueData(
                number=issue.number,
                title=issue.title or "",
                body=issue.body or "",
                author=issue.user.login,
                url=issue.html_url,
                labels=tuple(label.name for label in issue.labels),
            )

    def find_comment(self, number: int, marker: str) -> CommentData | None:
        """The first comment of the issue whose body holds `marker` (the action's own, whoever posted it)."""
        with self._call(f"listing the comments of issue #{number}"):
            for comment in self._repo.get_issue(number).get_comments():
                if marker in (comment.body or ""):
                    return CommentData(comment.id, comment.body, comment.html_url, comment.updated_at)
        return None

    def comment(self, number: int, body: str) -> CommentData:
        with self._call(f"commenting on issue #{number}"):
            created = self._repo.get_issue(number).create_comment(body)
            return CommentData(created.id, created.body, created.html_url)

    def edit_comment(self, number: int, comment_id: int, body: str) -> None:
        with self._call(f"editing comment {comment_id} of issue #{number}"):
            self._repo.get_issue(number).get_comment(comment_id).edit(body)

    def upsert_comment(self, number: int, marker: str, body: str) -> CommentData:
        """Edit the issue's comment that carries `marker` (which `body` must hold), or post it: never a second."""
        existing = self.find_comment(number, marker)
        if existing is None:
            return self.comment(number, body)
        if existing.body != body:
            self.edit_comment(number, existing.id, body)
        return CommentData(existing.id, body, existing.url)

    def react(self, number: int, comment_id: int, content: str) -> None:
        with self._call(f"reacting to comment {comment_id}"):
            self._repo.get_issue(number).get_comment(comment_id).create_reaction(content)

    def dispatch(self, event_type: str, client_payload: Mapping[str, Any]) -> None:
        """Send a `repository_dispatch` event (a workflow `on: repository_dispatch` with this type answers it)."""
        what = f"sending the repository_dispatch {event_type}"
        with self._call(what):
            accepted = self._repo.create_repository_dispatch(event_type, dict(client_payload))
        if not accepted:  # PyGithub answers False, not an exception, for anything but 204
            raise GitHubError(f"GitHub API: {what}: refused (the token needs `contents: write` on the repository)")

    # -- labels --

    def ensure_label(self, name: str, color: str, description: str) -> None:
        """Create the repository label when it is missing (adding it to an issue would make it grey and bare)."""
        with self._call(f"creating the label {name}"):
            try:
                self._repo.get_label(name).color  # noqa: B018 - reading it fetches the label
            except _github().UnknownObjectException:
                self._repo.create_label(name, color, description)

    def labels(self, number: int) -> list[str]:
        with self._call(f"reading the labels of issue #{number}"):
            return [label.name for label in self._repo.get_issue(number).get_labels()]

    def add_label(self, number: int, name: str) -> None:
        with self._call(f"labelling issue #{number} {name}"):
            self._repo.get_issue(number).add_to_labels(name)

    def remove_label(self, number: int, name: str) -> None:
        """Remove the label from the issue; one that is already gone is fine."""
        with self._call(f"removing the label {name} from issue #{number}"):
            try:
                self._repo.get_issue(number).remove_from_labels(name)
            except _github().UnknownObjectException:
                pass

    # -- who may do what --

    def role(self, username: str) -> str:
        """The user's role on the repository: admin, maintain, write, triage, read or none.

        The API's `permission` field folds maintain into write and triage into read; `role_name` is the real
        role, or an organisation's custom role, whose base permission `permission` then gives.
        """
        with self._call(f"reading {username}'s permission"):
            try:
                role = self._repo.get_collaborator_role_name(username)
                return role if role in BASE_ROLES else self._repo.get_collaborator_permission(username)
            except _github().UnknownObjectException:
                return "none"  # not a collaborator (or no such user)

    # -- Actions variables (`mlops aws deploy --set-variables`) --

    def set_variable(self, name: str, value: str) -> str:
        """Create or update a repository variable: returns created, updated or unchanged.

        Needs a token that may write variables (a fine-grained token with "Variables: write", or a classic one
        with `repo`): the Actions token cannot.
        """
        github = _github()
        with self._call(f"setting the repository variable {name}"):
            try:
                current = self._repo.get_variable(name).value
            except github.UnknownObjectException:
                self._repo.create_variable(name, value)
                return "created"
            if current == value:
                return "unchanged"
            if not self._repo.get_variable(name).edit(value):  # PyGithub answers False instead of raising
                raise GitHubError(f"GitHub API: setting the repository variable {name}: the update was refused")
            return "updated"

    # -- commits --

    def commit_files(self, files: Mapping[str, bytes], message: str, *, attempts: int = 5) -> str | None:
        """Add or replace `files` (repository path -> content) on the default branch in ONE commit.

        The ref moves without force; when another commit landed meanwhile (422), the tree and commit are made
        again on the new head, up to `attempts` times. Returns the commit's sha, or None when the branch
        already holds exactly these files (recording the same thing twice is a no-op).
        """
        with self._call("committing to the default branch"):
            branch = self._repo.default_branch
            blobs = {path: self._blob(data) for path, data in files.items()}
            for _ in range(attempts):
                try:
                    return self._commit_on_head(branch, blobs, message)
                except _BranchMoved:
                    continue
        raise GitHubError(
            f"GitHub API: committing to {branch}: the branch moved on every one of {attempts} tries; run again"
        )

    def _blob(self, data: bytes) -> str:
        return str(self._repo.create_git_blob(base64.b64encode(data).decode("ascii"), "base64").sha)

    def _commit_on_head(self, branch: str, blobs: Mapping[str, str], message: str) -> str | None:
        """One try: a tree on the head's tree, a commit on the head, the ref moved (_BranchMoved: it moved)."""
        github = _github()
        ref = self._repo.get_git_ref(f"heads/{branch}")
        head = self._repo.get_git_commit(ref.object.sha)
        elements = [github.InputGitTreeElement(path, "100644", "blob", sha=sha) for path, sha in blobs.items()]
        tree = self._repo.create_git_tree(elements, base_tree=head.tree)
        if tree.sha == head.tree.sha:  # trees are content-addressed: the head already has these files
            return None
        commit = self._repo.create_git_commit(message, tree, [head])
        try:
            ref.edit(commit.sha, force=False)
        except github.GithubException as exc:
            if exc.status == 422:  # "Update is not a fast forward": someone else committed since we read it
                raise _BranchMoved from None
            raise
        return str(commit.sha)

    # -- error translation --

    @contextmanager
    def _call(self, what: str) -> Iterator[None]:
        github = _github()
        import requests

        try:
            yield
        except github.RateLimitExceededExceedsMaxWait as exc:
            raise GitHubError(
                f"GitHub API: {what}: rate limited for another {exc.wait:.0f} s, longer than the "
                f"{self.connection.max_rate_wait:g} s the action waits (MLOPS_GITHUB_MAX_RATE_WAIT); run it again"
            ) from None
        except github.GithubException as exc:
            raise GitHubError(f"GitHub API: {what}: {_describe(exc)}") from None
        except requests.exceptions.RetryError as exc:
            raise GitHubError(
                f"GitHub API: {what}: still failing after {self.connection.retries} retries ({_reason(exc)}); "
                "GitHub may be having trouble: run the workflow again"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise GitHubError(
                f"GitHub API: {what}: cannot reach {self.connection.api_url} ({type(exc).__name__}: {_reason(exc)})"
            ) from None


class _BranchMoved(Exception):
    """The default branch got a new head between reading it and moving it."""


def _github() -> Any:
    import github

    return github


def _connect(connection: Connection) -> Any:
    github = _github()
    retry = github.GithubRetry(
        total=connection.retries,
        backoff_factor=connection.backoff,
        max_rate_limit_wait=connection.max_rate_wait,
        secondary_rate_wait=min(60.0, connection.max_rate_wait),
    )
    # No client-side throttling (PyGithub waits 1 s between writes by default): a job makes a few dozen calls,
    # far below GitHub's secondary limits, and GithubRetry waits out a secondary limit if one comes.
    return github.Github(
        auth=github.Auth.Token(connection.token),
        base_url=connection.api_url.rstrip("/"),
        retry=retry,
        timeout=connection.timeout,
        per_page=100,
        lazy=True,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def _describe(exc: Any) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    message = str(data.get("message") or exc.data or "no message")[:300]
    hint = HINTS.get(exc.status)
    return f"{exc.status} {message}" + (f" ({hint})" if hint else "")


def _reason(exc: Exception) -> str:
    reason = exc.args[0] if exc.args else exc
    return str(getattr(reason, "reason", reason))[:300]
