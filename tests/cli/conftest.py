"""The real `mlops` command, run in subprocesses against a temporary MLOPS_HOME and history directory.

Every call goes through `Mlops`, which also checks the one thing every command must honour: whatever happens,
no output shows a bug (an internal error or a Python traceback). Training is the slow part (3-7 s a run on a
loaded machine), so the two iris runs most tests read are made once per session (`served_iris`); a test that
changes anything works on a copy of them (`served_iris.copy(tmp_path)`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops.settings import Settings
from tests.pipeline.conftest import mlops_cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "mlops" / "examples"
IRIS_REQUEST = EXAMPLES / "iris-request.yml"
TIMEOUT = 300


@dataclass(repr=False)
class Result:
    """What a user sees of one `mlops` command: its exit code and its two streams."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """The stdout of a `--json` command: exactly one JSON document and nothing else."""
        return json.loads(self.stdout)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __repr__(self) -> str:  # what an assertion message shows
        return f"mlops {' '.join(self.args)} -> {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


class Mlops:
    """One user's `mlops`: a home (MLOPS_HOME) and a history directory under `root`, commands run from `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.history = root / "training_history"
        root.mkdir(parents=True, exist_ok=True)

    @property
    def settings(self) -> Settings:
        return Settings(home=self.home, history_dir=self.history, retry_base_delay=0.01)

    def __call__(self, *args: str, **env: str) -> Result:
        """Run `mlops *args` to completion."""
        done = mlops_cli(list(args), self.settings, self.root, **env)
        return _checked(Result(tuple(args), done.returncode, done.stdout, done.stderr))

    def start(self, *args: str, **env: str) -> Started:
        """Start `mlops *args` without waiting (in its own process group, so a test can kill all of it)."""
        environ = {
            **os.environ,
            "MLOPS_HOME": str(self.home),
            "MLOPS_HISTORY_DIR": str(self.history),
            "MLOPS_RETRY_DELAY": "0.01",
            **env,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "mlops.cli", *args],
            cwd=self.root,
            env=environ,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        return Started(tuple(args), process)

    def copy(self, root: Path) -> Mlops:
        """An independent copy of this home and history (for a test that changes them)."""
        shutil.copytree(self.root, root, dirs_exist_ok=True)
        return Mlops(root)

    def run_rows(self) -> list[dict[str, Any]]:
        """The run checkpoints as they sit in the database: training_id, status, next_state."""
        path = self.home / "mlops.db"
        if not path.exists():
            return []
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
            try:
                rows = db.execute("SELECT training_id, status, next_state FROM runs ORDER BY rowid").fetchall()
            except sqlite3.OperationalError:  # the table is not created yet
                return []
        return [{"training_id": r[0], "status": r[1], "next_state": r[2]} for r in rows]

    def versions(self, model_id: str) -> list[dict[str, Any]]:
        result = self("models", "list", model_id, "--json")
        assert result.returncode == 0, result
        versions: list[dict[str, Any]] = result.json()
        return versions


@dataclass
class Started:
    args: tuple[str, ...]
    process: subprocess.Popen[str]

    def wait(self, timeout: float = TIMEOUT) -> Result:
        stdout, stderr = self.process.communicate(timeout=timeout)
        return _checked(Result(self.args, self.process.returncode, stdout, stderr))

    def kill_group(self) -> None:
        """Kill whatever is left of the command's process group (the training subprocess it started)."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.communicate(timeout=TIMEOUT)


def _checked(result: Result) -> Result:
    """No output of any command shows a bug: the CLI turns one into an `internal error: ...` line (exit 1, the
    traceback in a file), so that is what to look for; a Python traceback would mean it escaped even that."""
    assert "internal error:" not in result.stderr, result
    assert "Traceback" not in result.output, result
    return result


def current_versions(versions: list[dict[str, Any]]) -> list[str]:
    return [v["version"] for v in versions if v["current"]]


def request_file(path: Path, name: str, body: dict[str, Any]) -> Path:
    """A §7.1 request file (title, labels, body) for `mlops run`."""
    document = {"title": f"[MLOps] モデル学習リクエスト: {name}", "labels": "mlops:train", "body": body}
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class ServedIris:
    """iris-request.yml run twice in one home: v1.0.0 (report in Japanese), then v1.0.1 (MLOPS_REPORT_LANG=en)."""

    mlops: Mlops
    first: Result
    second: Result

    def copy(self, root: Path) -> Mlops:
        return self.mlops.copy(root)


@pytest.fixture(scope="session")
def served_iris(tmp_path_factory: pytest.TempPathFactory) -> ServedIris:
    """Read-only for tests: copy it before changing anything."""
    mlops = Mlops(tmp_path_factory.mktemp("served-iris"))
    first = mlops("run", str(IRIS_REQUEST), "--json")
    assert first.returncode == 0, first
    second = mlops("run", str(IRIS_REQUEST), "--json", MLOPS_REPORT_LANG="en")
    assert second.returncode == 0, second
    return ServedIris(mlops, first, second)


@pytest.fixture
def mlops(tmp_path: Path) -> Mlops:
    """A fresh, empty home and history."""
    return Mlops(tmp_path / "user")
