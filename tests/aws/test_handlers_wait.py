"""The operator's wait on AWS: the Step Functions task token is kept in the run table, keyed by repository and
issue, and goes nowhere else: not into the run document that flows on, a comment, a GitHub request or a log line.
(DynamoDB and Secrets Manager on moto, GitHub the loopback fake.)"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops import handlers
from mlops.backends.aws.clients import AwsClients
from mlops.backends.aws.dynamodb_runs import DynamoRunStore
from mlops.backends.aws.dynamodb_table import Table
from mlops.backends.aws.sns import aws_notifier
from mlops.errors import RunStateError
from mlops.pipeline.models import OperatorDecision, RunState
from mlops.services import build_ports
from mlops.settings import Settings
from tests.aws.lambda_harness import (
    REPOSITORY,
    RecordingGitHub,
    json_lines,
    lambda_container,
    missed_gate,
    recording_github,
    run_document,
)

# What a real task token looks like: a long opaque base64 string.
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAWmK8Xq2hTmYcBf0bN4dCk5PPBmqUQHoq3Yz0V2tL9mM1N2c3R1dFh5a1dWa0p6RXRoZXNlY3JldA=="
TRAINING_ID = "train-20260101-000000-0a1b2c3d"


@pytest.fixture
def github() -> Iterator[RecordingGitHub]:
    with recording_github() as fake:
        yield fake


@pytest.fixture
def tokens(table: Table) -> DynamoRunStore:
    return DynamoRunStore(table)


@pytest.fixture
def container(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, aws: AwsClients, table: Table,
              github: RecordingGitHub) -> Iterator[None]:
    """A Lambda container with MLOPS_BACKEND=aws: the run table and the GitHub token's secret on moto, the AWS
    notifier; the other ports local (the store and the registry have their own tests)."""
    aws.client("secretsmanager").create_secret(Name="mlops/github-token", SecretString="ghs_lambda_token")
    env = {"MLOPS_BACKEND": "aws", "AWS_REGION": "us-east-1", "MLOPS_RUN_TABLE": "mlops-runs",
           "MLOPS_GITHUB_TOKEN_SECRET": "mlops/github-token", "GITHUB_API_URL": github.url,
           "MLOPS_HOME": str(tmp_path / "home"), "MLOPS_HISTORY_DIR": str(tmp_path / "history")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    local = build_ports(Settings(home=tmp_path / "home", history_dir=tmp_path / "history"))
    ports = dataclasses.replace(local, notifier=aws_notifier(Settings.from_env(), aws))
    with lambda_container():
        monkeypatch.setattr(handlers, "ports", lambda: ports)
        yield


def test_the_wait_keeps_the_token_in_the_run_table_and_nowhere_else(
    container: None, tokens: DynamoRunStore, github: RecordingGitHub, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    result = handlers.await_operator({"run": missed_gate(run_document()), "task_token": TOKEN}, None)

    assert tokens.get_token(REPOSITORY, 7) == (TOKEN, TRAINING_ID)
    assert result["status"] == "awaiting_operator" and TOKEN not in json.dumps(result)
    (comment,) = github.comments(7)
    assert "awaiting the operator" in comment["body"] and "/mlops retrain" in comment["body"]
    assert github.bodies and not any(TOKEN.encode() in body for body in github.bodies)
    logs, _ = json_lines(capsys.readouterr().out)
    assert logs and TOKEN not in json.dumps(logs) and TOKEN not in caplog.text


def test_a_run_without_an_issue_cannot_wait_and_says_why(
    container: None, tokens: DynamoRunStore, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(RunStateError, match="no issue to wait on"):
        handlers.await_operator({"run": missed_gate(run_document(number=None)), "task_token": TOKEN}, None)
    assert tokens.get_token(REPOSITORY, 7) is None
    logs, _ = json_lines(capsys.readouterr().out)
    assert [line["message"] for line in logs if line["level"] == "ERROR"] == [
        f"await_operator failed: RunStateError: run {TRAINING_ID}: no issue to wait on (the answer comes as an "
        "issue comment); start AWS runs from an issue"
    ]


def test_the_answer_drops_the_runs_token(container: None, tokens: DynamoRunStore) -> None:
    handlers.await_operator({"run": missed_gate(run_document()), "task_token": TOKEN}, None)
    run = RunState.model_validate(missed_gate(run_document()))
    run.answer = OperatorDecision(action="retrain", overrides={"n_estimators": 50}, actor="octocat")
    answered = handlers.apply_operator_answer(run.model_dump(mode="json"), None)
    assert tokens.get_token(REPOSITORY, 7) is None
    assert answered["attempts"][-1]["overrides"] == {"n_estimators": 50}


def test_a_timed_out_wait_drops_its_token_but_never_another_runs(container: None, tokens: DynamoRunStore) -> None:
    tokens.put_token(REPOSITORY, 7, "another-runs-token", "train-20260101-000000-ffffffff")
    ended = handlers.expire_operator_wait(missed_gate(run_document()), None)
    assert tokens.get_token(REPOSITORY, 7) == ("another-runs-token", "train-20260101-000000-ffffffff")
    assert ended["operator"]["action"] == "abort"

    handlers.await_operator({"run": missed_gate(run_document()), "task_token": TOKEN}, None)
    handlers.expire_operator_wait(missed_gate(run_document()), None)
    assert tokens.get_token(REPOSITORY, 7) is None
