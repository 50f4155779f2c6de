"""A real local engine in a temporary MLOPS_HOME: real training subprocesses, SQLite, files and history."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mlops.pipeline.models import OperatorDecision, RunState, new_training_id
from mlops.request import validate_request
from mlops.services import Services, build_services
from mlops.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        history_dir=tmp_path / "training_history",
        retry_base_delay=0.01,
        train_timeout=600,
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = Engine(settings)
    yield engine
    engine.close()


class Engine:
    """The local engine as a user drives it, with a handle on its parts for assertions."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services: Services = build_services(settings)
        self._derived: list[Engine] = []

    def with_settings(self, **changes: Any) -> Engine:
        derived = Engine(replace(self.settings, **changes))
        self._derived.append(derived)  # closed with this one
        return derived

    def close(self) -> None:
        """Stop the training worker a paused or finished run may still hold."""
        for engine in [self, *self._derived]:
            engine.services.close()

    def run(self, **request: Any) -> RunState:
        run = RunState(training_id=new_training_id(), request=validate_request(request))
        return self.services.runner.start(run)

    def retrain(self, run: RunState, **overrides: Any) -> RunState:
        decision = OperatorDecision(action="retrain", overrides=overrides, actor="octocat")
        return self.services.runner.resume(run.training_id, decision)

    def abort(self, run: RunState, reason: str) -> RunState:
        decision = OperatorDecision(action="abort", reason=reason, actor="octocat")
        return self.services.runner.resume(run.training_id, decision)

    @property
    def registry(self) -> Any:
        return self.services.ports.registry

    @property
    def history(self) -> Any:
        return self.services.ports.history


def mlops_cli(args: list[str], settings: Settings, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The real `mlops` command in a subprocess, against `settings`' home and history."""
    environ = {
        **os.environ,
        "MLOPS_HOME": str(settings.home),
        "MLOPS_HISTORY_DIR": str(settings.history_dir),
        "MLOPS_RETRY_DELAY": "0.01",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "mlops.cli", *args],
        cwd=cwd,
        env=environ,
        text=True,
        capture_output=True,
        timeout=600,
    )


def wrapper_script(path: Path, body: str) -> str:
    """A training command that wraps the real entry point (to crash or slow it down), as MLOPS_TRAIN_COMMAND."""
    path.write_text(
        "import os, sys, time, runpy\n"
        + body
        + "\nsys.argv = ['mlops.training']\nrunpy.run_module('mlops.training', run_name='__main__')\n"
    )
    return f"{sys.executable} {path}"


IRIS: dict[str, Any] = {
    "learning_type": "supervised",
    "algorithm": "random_forest",
    "dataset_id": "iris",
    "hyperparameters": {"n_estimators": 20, "max_depth": 5},
    "evaluation_threshold": 0.85,
    "model_id": "iris-classifier",
}
WEAK_TREE: dict[str, Any] = {
    "learning_type": "supervised",
    "algorithm": "decision_tree",
    "dataset_id": "iris",
    "hyperparameters": {"max_depth": 1},
    "evaluation_threshold": 0.9,
    "model_id": "iris-tree",
    "max_retry": 2,
}
Check = Callable[[RunState], None]
