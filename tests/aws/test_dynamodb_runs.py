"""The run store on DynamoDB (moto): checkpoints, one active run per issue, the executor's lease, task tokens."""

from __future__ import annotations

import pytest

from mlops.backends.aws.dynamodb_runs import LEASE_SECONDS, DynamoRunStore
from mlops.backends.aws.dynamodb_table import Table
from mlops.errors import RunStateError, UsageError
from tests.aws.aws_harness import make_run


@pytest.fixture
def runs(table: Table) -> DynamoRunStore:
    return DynamoRunStore(table, owner="lambda-a")


def test_a_run_is_created_checkpointed_and_loaded_back(runs: DynamoRunStore) -> None:
    run = make_run()
    runs.create(run, "PrepareData")
    # WHEN a step finishes and checkpoints
    run.status = "awaiting_operator"
    run.log("Train", "trained once")
    runs.checkpoint(run, "AwaitOperator")
    # THEN loading gives the same document and the state it resumes at
    loaded, next_state = runs.load(run.training_id)
    assert next_state == "AwaitOperator"
    assert loaded == run


def test_runs_and_outline_list_oldest_first_and_say_which_ended(runs: DynamoRunStore) -> None:
    first, second = make_run("train-20250110-000001-aaaa", 1), make_run("train-20250110-000002-bbbb", 2)
    runs.create(first, "PrepareData")
    runs.create(second, "PrepareData")
    first.status = "succeeded"
    runs.checkpoint(first, None)
    assert runs.outline() == [(first.training_id, True), (second.training_id, False)]
    assert [run.status for run in runs.runs()] == ["succeeded", "running"]


def test_an_issue_has_one_active_run_until_that_run_ends(runs: DynamoRunStore) -> None:
    first = make_run("train-20250110-000001-aaaa")
    runs.create(first, "PrepareData")
    # WHEN another run is created for the same issue THEN it is refused, naming the active one
    with pytest.raises(RunStateError, match=r"acme/ml#7 already has an active run, train-20250110-000001-aaaa"):
        runs.create(make_run("train-20250110-000002-bbbb"), "PrepareData")
    assert runs.outline() == [(first.training_id, False)]  # the refused run left nothing behind
    # WHEN the first run ends THEN the issue may start another
    runs.checkpoint(first, None)
    runs.create(make_run("train-20250110-000003-cccc"), "PrepareData")


def test_creating_a_run_twice_is_refused_and_keeps_the_first(runs: DynamoRunStore) -> None:
    run = make_run(issue=None)
    runs.create(run, "PrepareData")
    with pytest.raises(RunStateError, match="exists already"):
        runs.create(run, "Train")
    assert runs.load(run.training_id)[1] == "PrepareData"


def test_an_unknown_run_is_a_usage_error_with_a_suggestion(runs: DynamoRunStore) -> None:
    runs.create(make_run(), "PrepareData")
    with pytest.raises(UsageError, match="did you mean 'train-20250110-123456-abcd'"):
        runs.load("train-20250110-123456-abce")


def test_a_document_over_the_step_functions_limit_is_refused(runs: DynamoRunStore) -> None:
    run = make_run()
    runs.create(run, "PrepareData")
    for number in range(3000):
        run.log("Train", f"line {number} " + "x" * 100)
    with pytest.raises(RunStateError, match="over the 256 KiB"):
        runs.checkpoint(run, "Evaluate")
    assert runs.load(run.training_id)[0].events == []  # the last good checkpoint stands


def test_the_lease_keeps_a_second_executor_off_until_released_or_expired(table: Table) -> None:
    now = [1000.0]
    first = DynamoRunStore(table, owner="a", clock=lambda: now[0])
    second = DynamoRunStore(table, owner="b", clock=lambda: now[0])
    first.create(make_run(), "Train")
    first.claim("train-20250110-123456-abcd")
    first.claim("train-20250110-123456-abcd")  # the holder may claim again
    with pytest.raises(RunStateError, match="held by another executor"):
        second.claim("train-20250110-123456-abcd")
    second.release("train-20250110-123456-abcd")  # not b's: releasing does nothing
    with pytest.raises(RunStateError):
        second.claim("train-20250110-123456-abcd")
    now[0] += LEASE_SECONDS + 1  # the holder died: its lease runs out
    second.claim("train-20250110-123456-abcd")
    second.release("train-20250110-123456-abcd")
    first.claim("train-20250110-123456-abcd")


def test_task_tokens_are_kept_by_repository_and_issue(runs: DynamoRunStore) -> None:
    assert runs.get_token("acme/ml", 7) is None
    runs.put_token("acme/ml", 7, "token-1", "train-1")
    assert runs.get_token("acme/ml", 7) == ("token-1", "train-1")
    assert runs.get_token("acme/ml", 8) is None
    # WHEN the run pauses again before the old answer is cleaned up THEN the newer token survives that cleanup
    runs.put_token("acme/ml", 7, "token-2", "train-1")
    runs.delete_token("acme/ml", 7, "token-1")
    assert runs.get_token("acme/ml", 7) == ("token-2", "train-1")
    runs.delete_token("acme/ml", 7, "token-2")
    assert runs.get_token("acme/ml", 7) is None
