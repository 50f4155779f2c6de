"""`mlops init`: set a repository up for mlops-issueops: the Issue Form and the workflows, the action pinned.

The files are the very ones this project runs on (bundled under mlops/templates/github/, and kept identical to
its .github/ by a test). Only one thing changes on the way: the workflows here use the action from this
checkout (`uses: ./action`); a user's repository uses it from this project's repository, pinned to a ref.
An existing file that differs is never overwritten without `force`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mlops import __version__
from mlops.errors import UsageError

TEMPLATES = Path(__file__).parent / "templates" / "github"
# What init copies, relative to .github/ (the project's own ci.yml stays behind).
FILES = (
    "ISSUE_TEMPLATE/train.yml",
    "ISSUE_TEMPLATE/config.yml",
    "workflows/mlops-train.yml",
    "workflows/mlops-callback.yml",
    "workflows/mlops-rollback.yml",
)
# Where this project (and so its action, in action/) is published on GitHub.
ACTION_REPOSITORY = "mlops-issueops/mlops-issueops"
DEFAULT_REF = f"v{__version__}"

LOCAL_ACTION = re.compile(r"^(?P<indent>[ \t]*(?:-[ \t]+)?uses:[ \t]+)\./action[ \t]*$", re.MULTILINE)
REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
REF = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_./-]*")
FULL_SHA = re.compile(r"[0-9a-f]{40}")

CREATED, UNCHANGED, OVERWRITTEN, WOULD_OVERWRITE = "created", "unchanged", "overwritten", "would overwrite"


@dataclass(frozen=True)
class Variable:
    name: str
    meaning: str
    default: str


# The repository variables the workflows read (Settings > Secrets and variables > Actions > Variables).
VARIABLES = (
    Variable("MLOPS_RUNNER", "the label of the runner that runs the jobs", "self-hosted"),
    Variable("MLOPS_BACKEND", "local (train on that runner) or aws", "local"),
    Variable("MLOPS_HOME", "the runner's directory for the models, registry and runs", "$HOME/.mlops"),
)


@dataclass(frozen=True)
class FileResult:
    path: str  # relative to the repository, e.g. .github/workflows/mlops-train.yml
    status: str  # created | unchanged | overwritten | would overwrite


@dataclass(frozen=True)
class InitResult:
    root: Path
    action: str  # the `uses:` the workflows got, e.g. owner/repo/action@<sha>
    files: tuple[FileResult, ...]

    @property
    def pinned(self) -> bool:
        return FULL_SHA.fullmatch(self.action.rpartition("@")[2]) is not None

    @property
    def left_alone(self) -> list[str]:
        return [f.path for f in self.files if f.status == WOULD_OVERWRITE]


def init_repository(path: str | Path, *, force: bool = False, action_ref: str = DEFAULT_REF) -> InitResult:
    """Copy the form and the workflows into the repository at `path`; report what happened to each file."""
    root = _directory(Path(path))
    action = action_reference(action_ref)
    results = tuple(_install(root, name, _render(name, action), force) for name in FILES)
    return InitResult(root=root, action=action, files=results)


def action_reference(ref: str) -> str:
    """`REF` (a tag, branch or commit of this project's repository) or `OWNER/REPO@REF` (a fork or a mirror)."""
    repository, _, version = ref.rpartition("@") if "@" in ref else (ACTION_REPOSITORY, "", ref)
    if not REPOSITORY.fullmatch(repository) or not REF.fullmatch(version) or ".." in version:
        raise UsageError(
            f"--action-ref: '{ref}' is not a reference to the action; give a commit SHA, a tag such as "
            f"{DEFAULT_REF}, or OWNER/REPO@REF for a fork"
        )
    return f"{repository}/action@{version}"


def _directory(root: Path) -> Path:
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a directory"
        raise UsageError(f"PATH: '{root}' {what}; give the root of your repository's working tree")
    return root


def _render(name: str, action: str) -> bytes:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    return LOCAL_ACTION.sub(lambda m: f"{m['indent']}{action}", text).encode("utf-8")


def _install(root: Path, name: str, content: bytes, force: bool) -> FileResult:
    relative = f".github/{name}"
    target = root / relative
    try:
        existing = target.read_bytes() if target.is_file() else None
        if existing == content:
            return FileResult(relative, UNCHANGED)
        if existing is not None and not force:
            return FileResult(relative, WOULD_OVERWRITE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    except OSError as exc:  # not writable, or a file where a directory must go
        raise UsageError(f"PATH: cannot write {relative} in '{root}' ({exc.strerror or exc})") from None
    return FileResult(relative, CREATED if existing is None else OVERWRITTEN)
