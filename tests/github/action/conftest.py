"""Fixtures of the action's end-to-end tests (the helpers are in action_harness.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from action_harness import TIMEOUT, ActionRunner
from fake_github import FakeGitHub


@pytest.fixture
def action(tmp_path: Path, fake_github: FakeGitHub) -> ActionRunner:
    return ActionRunner(tmp_path, fake_github)


@pytest.fixture(scope="session")
def two_iris_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home and history with two finished iris runs (v1.0.0 then v1.1.0 of iris-classifier), made by `mlops run`;
    copy it (`copy_served`) before changing anything."""
    root = tmp_path_factory.mktemp("two-iris-runs")
    for trees in (5, 6):
        request = root / f"request-{trees}.yml"
        request.write_text(
            "title: '[MLOps] モデル学習リクエスト: Iris Classifier'\nbody:\n  learning_type: supervised\n"
            "  algorithm: random_forest\n  dataset_id: iris\n"
            f"  hyperparameters: {{n_estimators: {trees}, max_depth: 3}}\n"
            "  evaluation_threshold: 0.5\n",
            encoding="utf-8",
        )
        env = {**os.environ, "MLOPS_HOME": str(root / "home"), "MLOPS_HISTORY_DIR": str(root / "history")}
        done = subprocess.run(
            [sys.executable, "-m", "mlops.cli", "run", str(request)],
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    return root
