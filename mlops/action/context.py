"""What the action knows about where it runs: the environment GitHub Actions sets, resolved once at start-up.

The engine's own settings (MLOPS_BACKEND, MLOPS_HOME, MLOPS_HISTORY_DIR, ...) are mlops.settings.Settings,
resolved from the same environment; the GitHub-specific ones live here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops.errors import UsageError
from mlops.github.client import Connection
from mlops.settings import Settings

REQUIRED = ("GITHUB_EVENT_NAME", "GITHUB_EVENT_PATH", "GITHUB_REPOSITORY", "GITHUB_TOKEN")
HISTORY_PATH = "training_history"  # where the history goes in the repository, whatever MLOPS_HISTORY_DIR says


@dataclass(frozen=True)
class ActionContext:
    event_name: str
    event_path: Path
    repository: str  # owner/name
    connection: Connection
    server_url: str
    run_id: str | None
    workspace: Path
    output_path: Path | None
    summary_path: Path | None
    actor: str | None
    settings: Settings

    @property
    def run_url(self) -> str | None:
        """The Actions run this job belongs to, for links in comments and summaries."""
        if not self.run_id:
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    def file_url(self, kind: str, ref: str, path: str) -> str:
        """A file of the repository on the web: `blob` (the page) or `raw` (the bytes), at a commit or ref."""
        return f"{self.server_url}/{self.repository}/{kind}/{ref}/{path}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ActionContext:
        env = os.environ if env is None else env
        missing = [name for name in REQUIRED if not env.get(name)]
        if missing:
            raise UsageError(
                "the action needs the environment GitHub Actions sets",
                [f"{name}: not set (run inside GitHub Actions, or set it yourself)" for name in missing],
            )
        return cls(
            event_name=env["GITHUB_EVENT_NAME"],
            event_path=Path(env["GITHUB_EVENT_PATH"]),
            repository=_repository(env["GITHUB_REPOSITORY"]),
            connection=_connection(env),
            server_url=env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/"),
            run_id=env.get("GITHUB_RUN_ID") or None,
            workspace=Path(env.get("GITHUB_WORKSPACE") or "."),
            output_path=_optional_path(env, "GITHUB_OUTPUT"),
            summary_path=_optional_path(env, "GITHUB_STEP_SUMMARY"),
            actor=env.get("GITHUB_ACTOR") or None,
            settings=Settings.from_env(env),
        )


def _repository(text: str) -> str:
    owner, slash, name = text.partition("/")
    if not owner or not slash or not name or "/" in name:
        raise UsageError(f"GITHUB_REPOSITORY: '{text}' is not owner/name")
    return text


def _connection(env: Mapping[str, str]) -> Connection:
    return Connection(
        token=env["GITHUB_TOKEN"],
        api_url=env.get("GITHUB_API_URL") or "https://api.github.com",
        repository=env["GITHUB_REPOSITORY"],
        retries=int(_number(env, "MLOPS_GITHUB_RETRIES", Connection.retries)),
        backoff=_number(env, "MLOPS_GITHUB_BACKOFF", Connection.backoff),
        max_rate_wait=_number(env, "MLOPS_GITHUB_MAX_RATE_WAIT", Connection.max_rate_wait),
    )


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name) or ""
    if not text:
        return float(default)
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{name}: '{text}' is not a number") from None
    if value < 0:
        raise UsageError(f"{name}: must not be negative (got {text})")
    return value


def _optional_path(env: Mapping[str, str], name: str) -> Path | None:
    text = env.get(name)
    return Path(text) if text else None
