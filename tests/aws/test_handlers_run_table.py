"""The Lambdas keep the run document in the run table (mlops/backends/aws/run_record.py): a run driven through the
handlers, with real training on the local ports and the run table on moto, is what `mlops runs` / `mlops status`
with MLOPS_BACKEND=aws then show; a retried PrepareData changes nothing; a second run of a busy issue is refused
and still ends without touching the first run's claim."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops import handlers
from mlops.backends.aws.dynamodb_runs import DynamoRunStore, issue_key
from mlops.backends.aws.dynamodb_table import Table
from mlops.backends.aws.run_record import RunRecord
from mlops.cli import main
from mlops.errors import RunStateError
from mlops.lambda_runtime import LambdaRuntime
from mlops.pipeline.models import RunState
from tests.aws.conftest import REGION
from tests.aws.lambda_harness import REPOSITORY, lambda_container, run_document, run_verification, train

FIRST, SECOND = "train-20260101-000000-0a1b2c3d", "train-20260101-000100-1b2c3d4e"


@pytest.fixture
def runs(table: Table, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[DynamoRunStore]:
    """A Lambda container whose agents work on the local ports and whose run table is on moto."""
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLOPS_HISTORY_DIR", str(tmp_path / "history"))
    store = DynamoRunStore(table)
    with lambda_container():
        monkeypatch.setattr(handlers, "runtime", lambda: LambdaRuntime(store, None, RunRecord(store)))
        yield store


def item(table: Table, training_id: str) -> dict[str, Any]:
    found = table.get(f"run#{training_id}", "run")
    assert found is not None, f"no item of {training_id}"
    return found


def claim_of(table: Table) -> str | None:
    held = table.get(issue_key(REPOSITORY, 7), "active")
    return held["training_id"] if held else None


@pytest.mark.slow
def test_a_run_through_the_handlers_leaves_its_final_document_and_the_cli_shows_it(
    runs: DynamoRunStore, table: Table, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    document = handlers.prepare_data(run_document(FIRST), None)
    # THEN the run exists from its first step on, holds its issue, and says where it goes next
    assert claim_of(table) == FIRST
    assert (item(table, FIRST)["next_state"], item(table, FIRST)["ended"]) == ("BuildTrainingJob", False)
    document = handlers.evaluate(train(handlers.ports(), handlers.build_training_job(document, None)), None)
    assert (item(table, FIRST)["next_state"], item(table, FIRST)["ended"]) == ("Register", False)  # Gate resolved
    document = handlers.verify(run_verification(handlers.ports(), handlers.register(document, None)), None)
    assert item(table, FIRST)["next_state"] == "PublishSucceeded"
    finished = handlers.publish(document, None)

    # THEN the table holds Publish's document, the run has ended and the issue is free again
    kept = item(table, FIRST)
    assert (kept["run_status"], kept["ended"], kept["next_state"]) == ("succeeded", True, "")
    assert RunState.model_validate_json(kept["document"]) == RunState.model_validate(finished)
    assert claim_of(table) is None

    # AND the read-only CLI on AWS shows it
    for name, value in {"MLOPS_BACKEND": "aws", "AWS_REGION": REGION, "MLOPS_BUCKET": "mlops-artifacts",
                        "MLOPS_RUN_TABLE": table.name}.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["runs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["training_id"], r["status"]) for r in listed] == [(FIRST, "succeeded")]
    assert main(["status", FIRST, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["training_id"], status["status"], status["next_state"]) == (FIRST, "succeeded", None)


def test_a_retried_prepare_data_is_idempotent(runs: DynamoRunStore, table: Table) -> None:
    handlers.prepare_data(run_document(FIRST), None)
    # WHEN Lambda delivers the same invocation again
    again = handlers.prepare_data(run_document(FIRST), None)
    # THEN it succeeds, and there is still one run, holding its issue, at the same step
    assert again["training_id"] == FIRST
    assert [training_id for training_id, _ in runs.outline()] == [FIRST]
    assert claim_of(table) == FIRST and item(table, FIRST)["next_state"] == "BuildTrainingJob"


def test_a_second_run_of_a_busy_issue_is_refused_and_ends_without_freeing_the_first(
    runs: DynamoRunStore, table: Table
) -> None:
    handlers.prepare_data(run_document(FIRST), None)
    # WHEN another run of the same issue starts while the first is active
    with pytest.raises(RunStateError, match=f"already has an active run, {FIRST}"):
        handlers.prepare_data(run_document(SECOND), None)
    # AND the flow's Catch takes it through HandleFailure and PublishFailed
    refused = run_document(SECOND)
    refused["error"] = {"Error": "RunStateError", "Cause": "issue already has an active run"}
    ended = handlers.publish(handlers.handle_failure(refused, None), None)
    # THEN it ends failed, unrecorded, and the first run still holds the issue
    assert ended["status"] == "failed"
    assert table.get(f"run#{SECOND}", "run") is None
    assert claim_of(table) == FIRST and item(table, FIRST)["ended"] is False


def test_a_document_over_256_kib_fails_the_step_loudly(runs: DynamoRunStore, table: Table) -> None:
    handlers.prepare_data(run_document(FIRST), None)
    huge = run_document(FIRST)
    huge["source"] = "x" * (300 * 1024)
    with pytest.raises(RunStateError, match="over the 256 KiB"):
        handlers.handle_failure(huge, None)
    # the table keeps the last document that fit
    assert item(table, FIRST)["next_state"] == "BuildTrainingJob"
