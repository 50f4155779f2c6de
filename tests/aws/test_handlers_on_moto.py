"""The handlers inside the compiled state machine (moto's Step Functions interpreter, the handlers in-process as
tests/aws/engines.py routes them, real training jobs): the task token the paused execution waits on is the one in
the run table, the answer read from there resumes it, and no run document any state passed on carries it; the
run's end edits the status comment and sends `mlops-run-finished`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops.backends.aws.clients import AwsClients
from mlops.backends.aws.dynamodb_runs import DynamoRunStore
from mlops.backends.aws.dynamodb_table import TABLE_DEFINITION, Table
from mlops.backends.aws.sns import aws_notifier
from mlops.pipeline.models import IssueRef, OperatorDecision, RunState, new_training_id
from mlops.request import validate_request
from mlops.settings import AwsSettings, Settings
from tests.aws.conftest import REGION
from tests.aws.engines import MotoEngine, Walk
from tests.aws.lambda_harness import REPOSITORY, RecordingGitHub, lambda_container, recording_github
from tests.pipeline.conftest import WEAK_TREE


@pytest.fixture
def github() -> Iterator[RecordingGitHub]:
    with recording_github() as fake:
        yield fake


@pytest.fixture
def engine(sfn: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, github: RecordingGitHub
           ) -> Iterator[tuple[MotoEngine, DynamoRunStore]]:
    clients = AwsClients(AwsSettings(region=REGION))
    clients.client("dynamodb").create_table(TableName="mlops-runs", **TABLE_DEFINITION)
    clients.client("secretsmanager").create_secret(Name="mlops/github-token", SecretString="ghs_lambda_token")
    env = {"MLOPS_BACKEND": "aws", "AWS_REGION": REGION, "MLOPS_RUN_TABLE": "mlops-runs",
           "MLOPS_GITHUB_TOKEN_SECRET": "mlops/github-token", "GITHUB_API_URL": github.url}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(home=tmp_path / "home", history_dir=tmp_path / "history", train_timeout=600)
    with lambda_container():
        made = MotoEngine(settings, sfn, monkeypatch)
        made.services.ports.notifier = aws_notifier(Settings.from_env(), clients)
        yield made, DynamoRunStore(Table(clients.client("dynamodb"), "mlops-runs"))
        made.close()


def documents(engine: MotoEngine, arn: str) -> list[str]:
    """Every run document the execution passed between states (inputs and outputs of every state)."""
    found = []
    for event in engine._events(arn):
        for key in ("stateEnteredEventDetails", "stateExitedEventDetails", "executionSucceededEventDetails"):
            details = event.get(key) or {}
            found += [details[field] for field in ("input", "output") if field in details]
    return found


@pytest.mark.slow
def test_the_paused_execution_waits_on_the_token_in_the_run_table_and_resumes_with_it(
    engine: tuple[MotoEngine, DynamoRunStore], github: RecordingGitHub
) -> None:
    moto, tokens = engine
    run = RunState(training_id=new_training_id(), request=validate_request(WEAK_TREE),
                   issue=IssueRef(repository=REPOSITORY, number=7))
    arn = moto.sfn.start_execution(stateMachineArn=moto.machine, name=run.training_id,
                                   input=run.model_dump_json())["executionArn"]
    walk = moto._settled(Walk(handle=arn))
    assert walk.states[-1] == "AwaitOperator"

    kept = tokens.get_token(REPOSITORY, 7)
    assert kept is not None and kept == (moto._token(arn), run.training_id)  # what the execution waits on
    token = kept[0]
    assert "awaiting the operator" in github.comments(7)[0]["body"]

    answer = OperatorDecision(action="abort", actor="octocat", reason="enough for today")
    moto.sfn.send_task_success(taskToken=token, output=answer.model_dump_json())  # what `comment` does
    walk = moto._settled(walk)

    assert walk.states[-2:] == ["PublishFailed", "Failed"]
    assert tokens.get_token(REPOSITORY, 7) is None
    passed_on = documents(moto, arn)
    assert passed_on and not any(token in document for document in passed_on)
    assert not any(token.encode() in body for body in github.bodies)
    (comment,) = github.comments(7)
    assert "failed" in comment["body"].splitlines()[2]
    finished = {"event_type": "mlops-run-finished", "client_payload": {"training_id": run.training_id}}
    assert github.dispatches == [finished]
    assert json.loads(passed_on[-1])["status"] == "failed"
