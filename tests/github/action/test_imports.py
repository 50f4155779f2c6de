"""The paths of the action that do not train never import the ML stack: they run on a runner that only installs
the core, and they must answer fast. Checked on the real subprocess with `python -X importtime`, which lists
every module the process imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from action_harness import ActionRunner, IssueSpec, copy_served, form_body, octokit

from mlops.backends.local.issue_runs import IssueRun, IssueRuns

HEAVY = ("sklearn", "numpy", "matplotlib", "sagemaker", "scipy", "gymnasium")
IMPORTTIME = ("-X", "importtime")


def heavy_imports(importtime_log: str) -> list[str]:
    """The ML packages named in a `-X importtime` log (`import time: self | cumulative | module`)."""
    modules = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in importtime_log.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    return sorted(modules & set(HEAVY))


def test_the_check_sees_a_heavy_import() -> None:
    """The check itself can fail: a process that imports numpy is caught."""
    done = subprocess.run([sys.executable, *IMPORTTIME, "-c", "import numpy"], capture_output=True, text=True)
    assert heavy_imports(done.stderr) == ["numpy"]


@pytest.fixture
def finished_issue(action: ActionRunner, two_iris_runs: Path) -> IssueSpec:
    """An issue whose run has finished on this runner."""
    copy_served(two_iris_runs, action)
    spec = action.open_issue(IssueSpec())
    training_id = sorted(action.history.glob("train-*.json"))[0].stem
    IssueRuns(action.home / "mlops.db").claim(
        IssueRun(action.fake.repository, spec.number, training_id, "digest", "started")
    )
    return spec


@pytest.mark.parametrize("command", ["/mlops status", "/mlops help"])
def test_answering_status_and_help_imports_no_ml_package(
    action: ActionRunner, finished_issue: IssueSpec, command: str
) -> None:
    delivery = action.comment_delivery(finished_issue, command, "Codertocat")

    result = action.run("comment", "issue_comment", delivery, python=IMPORTTIME)

    assert result.returncode == 0 and action.bot_comments(finished_issue.number, "<!-- mlops:reply"), result
    assert heavy_imports(result.stderr) == []


def test_recording_imports_no_ml_package(action: ActionRunner, two_iris_runs: Path) -> None:
    copy_served(two_iris_runs, action)
    payload = octokit("repository_dispatch")
    payload.update(
        action="mlops-run-finished", client_payload={"training_id": sorted(action.history.glob("*.json"))[0].stem}
    )

    result = action.run("record", "repository_dispatch", payload, python=IMPORTTIME)

    assert result.returncode == 0, result
    assert heavy_imports(result.stderr) == []


@pytest.mark.parametrize(
    ("body", "author", "status"),
    [
        (form_body(threshold="1.5"), "Codertocat", "invalid"),
        (form_body(), "someone-without-access", "awaiting_approval"),
    ],
)
def test_starting_up_to_validation_imports_no_ml_package(
    action: ActionRunner, body: str, author: str, status: str
) -> None:
    spec = action.open_issue(IssueSpec(body=body, author=author))

    result = action.run("start", "issues", spec.delivery("opened"), python=IMPORTTIME)

    assert result.outputs["status"] == status, result
    assert heavy_imports(result.stderr) == []
