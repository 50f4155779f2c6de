"""`record` (repository_dispatch mlops-run-finished) and `rollback` (workflow_dispatch), on two finished runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from action_harness import ActionRunner, checkout_history, copy_served, history_commits, octokit

from mlops.backends.local.registry_db import SqliteRegistryBackend
from mlops.history import HistoryLog


def finished_runs(action: ActionRunner) -> list[str]:
    return sorted(path.stem for path in action.history.glob("train-*.json"))


def record_delivery(training_id: str) -> dict[str, Any]:
    payload = octokit("repository_dispatch")
    payload["action"] = "mlops-run-finished"
    payload["client_payload"] = {"training_id": training_id}
    return payload


def test_two_records_at_once_both_land_and_recording_again_changes_nothing(
    action: ActionRunner, two_iris_runs: Path, tmp_path: Path
) -> None:
    # GIVEN two finished runs, and someone pushing to the default branch while they are being recorded
    copy_served(two_iris_runs, action)
    first, second = finished_runs(action)
    action.fake.before("PATCH", "git/refs/heads/main", lambda: action.fake.add_file("NOTES.md", b"pushed meanwhile\n"))

    # WHEN both are recorded at the same moment
    both = [action.start("record", "repository_dispatch", record_delivery(tid)) for tid in (first, second)]
    results = [started.wait() for started in both]

    # THEN both land, each in exactly one commit of its own, and what was pushed meanwhile is still there
    assert [r.returncode for r in results] == [0, 0], results
    assert [r.outputs["status"] for r in results] == ["succeeded", "succeeded"]
    commits = history_commits(action.fake)
    assert sorted(c["message"].split()[2] for c in commits) == [first, second]
    for training_id in (first, second):
        (owner,) = [c for c in commits if any(training_id in path for path in c["paths"])]
        assert f"training_history/{training_id}.md" in owner["paths"]
    assert action.fake.file("NOTES.md") == b"pushed meanwhile\n"
    assert any(status == 422 for method, path, status in action.fake.requests if method == "PATCH")
    repository_history = checkout_history(action.fake, tmp_path / "checkout")
    assert HistoryLog(repository_history).verify() == []

    # WHEN the first run is recorded again
    again = action.run("record", "repository_dispatch", record_delivery(first))

    # THEN nothing is committed twice
    assert again.returncode == 0 and "nothing to commit" in again.summary, again
    assert len(history_commits(action.fake)) == 2


def test_recording_a_run_this_machine_never_had_says_so(action: ActionRunner) -> None:
    result = action.run("record", "repository_dispatch", record_delivery("train-20250101-000000-deadbeef"))

    assert result.returncode == 1, result
    assert any("no history record train-20250101-000000-deadbeef" in e for e in result.errors), result
    assert history_commits(action.fake) == []


def test_other_repository_dispatches_are_ignored(action: ActionRunner) -> None:
    result = action.run("record", "repository_dispatch", octokit("repository_dispatch"))  # "on-demand-test"

    assert result.returncode == 0 and result.outputs["status"] == "ignored", result


def rollback_delivery(**inputs: str) -> dict[str, Any]:
    payload = octokit("workflow_dispatch")
    payload["inputs"] = inputs
    return payload


def current_version(action: ActionRunner, model_id: str) -> str | None:
    return SqliteRegistryBackend(action.home / "mlops.db").current(model_id)


def test_a_rollback_makes_the_previous_version_current_and_commits_its_record(
    action: ActionRunner, two_iris_runs: Path
) -> None:
    # GIVEN iris-classifier v1.0.0 and v1.1.0, the newer one current
    copy_served(two_iris_runs, action)
    assert current_version(action, "iris-classifier") == "v1.1.0"

    # WHEN a rollback is dispatched without a version
    result = action.run(
        "rollback", "workflow_dispatch", rollback_delivery(model_id="iris-classifier", version="", reason="drift")
    )

    # THEN the previous version is current, the rollback is recorded in one commit, and the summary says so
    assert result.returncode == 0, result
    assert result.outputs["model-id"] == "iris-classifier" and result.outputs["model-version"] == "v1.0.0"
    assert current_version(action, "iris-classifier") == "v1.0.0"
    (commit,) = history_commits(action.fake)
    (record_path,) = [p for p in commit["paths"] if p.endswith(".json")]
    record = json.loads(action.fake.file(record_path) or b"{}")
    assert (record["from_version"], record["to_version"]) == ("v1.1.0", "v1.0.0")
    assert record["actor"] == "Codertocat" and record["reason"] == "drift"
    assert "| from | v1.1.0 |" in result.summary and "| to | v1.0.0 |" in result.summary


def test_a_rollback_of_an_unknown_model_is_refused_with_the_reason(action: ActionRunner, two_iris_runs: Path) -> None:
    copy_served(two_iris_runs, action)

    result = action.run("rollback", "workflow_dispatch", rollback_delivery(model_id="iris-clasifier", reason="x"))

    assert result.returncode == 1, result
    assert any("iris-clasifier" in e for e in result.errors), result
    assert history_commits(action.fake) == []
