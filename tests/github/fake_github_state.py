"""What the fake GitHub remembers about its one repository: issues, comments, reactions, labels, permissions,
dispatches, Actions variables and the Git database. Plain records; the HTTP routes change them, the tests read them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fake_github_git import FILE_MODE, GitDatabase, Signature, TreeEntry

ACTIONS_BOT = "github-actions[bot]"
# What GitHub answers for each role: maintain reads as write and triage as read (role_name keeps the real role).
PERMISSION_OF_ROLE = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read",
                      "none": "none"}
DEFAULT_LABEL_COLOR = "ededed"  # what GitHub gives a label it creates on the fly


def now_iso(epoch: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if epoch is None else epoch))


@dataclass
class Account:
    login: str
    type: str = "User"  # "User" | "Bot" | "Organization"


@dataclass
class Label:
    id: int
    name: str
    color: str
    description: str | None


@dataclass
class Issue:
    id: int
    number: int
    title: str
    body: str | None
    author: Account
    labels: list[str]
    created_at: str
    updated_at: str


@dataclass
class Reaction:
    id: int
    content: str
    user: Account
    created_at: str


@dataclass
class Comment:
    id: int
    issue_number: int
    body: str
    user: Account
    created_at: str
    updated_at: str
    reactions: list[Reaction] = field(default_factory=list)


@dataclass
class Variable:
    """An Actions repository variable (Settings > Secrets and variables > Actions > Variables)."""

    name: str  # as GitHub keeps it: upper case (names are case-blind)
    value: str
    created_at: str
    updated_at: str


@dataclass
class RateBudget:
    """The primary rate limit GitHub reports on every answer (the fake counts but never runs out by itself)."""

    limit: int = 5000
    used: int = 0
    reset: int = field(default_factory=lambda: int(time.time()) + 3600)

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


@dataclass
class RepositoryState:
    owner: str
    name: str
    default_branch: str
    issues: dict[int, Issue] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)  # by lower-case name: GitHub's names are case-blind
    roles: dict[str, str] = field(default_factory=dict)
    dispatches: list[dict[str, Any]] = field(default_factory=list)
    variables: dict[str, Variable] = field(default_factory=dict)  # by upper-case name
    git: GitDatabase = field(default_factory=GitDatabase)
    rate: RateBudget = field(default_factory=RateBudget)
    _next_id: int = 1000

    def __post_init__(self) -> None:
        self.roles.setdefault(self.owner, "admin")
        self.commit_files(self.default_branch, {"README.md": b"# Hello-World\n"}, "Initial commit")

    def new_id(self) -> int:
        """Ids grow with time across every kind of object, as GitHub's do."""
        self._next_id += 1
        return self._next_id

    def role(self, login: str) -> str:
        return self.roles.get(login, "none")

    def label(self, name: str, color: str = DEFAULT_LABEL_COLOR, description: str | None = None) -> Label:
        """The repository's label by that name, created (as GitHub does when an issue is labelled) if missing."""
        key = name.lower()
        if key not in self.labels:
            self.labels[key] = Label(self.new_id(), name, color, description)
        return self.labels[key]

    def commit_files(self, branch: str, files: dict[str, bytes | None], message: str,
                     author: Signature | None = None) -> str:
        """Commit ``files`` (``None`` deletes) on top of ``branch`` (created if missing) and move the branch."""
        head = self.git.refs.get(f"heads/{branch}")
        base_tree = self.git.commits[head].tree if head else None
        changes = {path: None if content is None else TreeEntry(FILE_MODE, "blob", self.git.put_blob(content))
                   for path, content in files.items()}
        tree = self.git.tree_with(base_tree, changes)
        signature = author or signature_now("Monalisa Octocat", "octocat@github.com")
        sha = self.git.put_commit(tree, [head] if head else [], message, signature, signature)
        self.git.refs[f"heads/{branch}"] = sha
        return sha


def signature_now(name: str, email: str, date: str | None = None) -> Signature:
    """A git signature; ``date`` as the API takes it (ISO 8601), else now."""
    epoch = int(time.time()) if date is None else int(datetime.fromisoformat(date.replace("Z", "+00:00")).timestamp())
    return Signature(name, email, now_iso(epoch), epoch)
