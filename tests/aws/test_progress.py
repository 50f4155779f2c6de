"""The progress agent (`mlops.handlers.progress`): EventBridge's "SageMaker Training Job State Change" events of
our training jobs keep the run's status comment current; other jobs' events, late events and finished runs are
left alone. The events are AWS's own sample (tests/fixtures/third_party/sagemaker-events/) with our tags and
statuses on it; GitHub is the loopback fake, Secrets Manager moto."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from mlops import handlers
from mlops.action.status import StatusView, render_status
from mlops.backends.aws.clients import AwsClients
from mlops.backends.aws.dynamodb_table import Table
from mlops.github.client import Connection, GitHubClient
from mlops.pipeline.models import RunState
from tests.aws.lambda_harness import (
    REPOSITORY,
    RecordingGitHub,
    json_lines,
    lambda_container,
    missed_gate,
    recording_github,
    run_document,
)

SAMPLE = Path(__file__).parents[1] / "fixtures/third_party/sagemaker-events/training-job-state-change.json"
TRAINING_ID = "train-20260101-000000-0a1b2c3d"
DOWNLOADED = "Training image download completed. Training in progress."


@pytest.fixture
def github() -> Iterator[RecordingGitHub]:
    with recording_github() as fake:
        yield fake


@pytest.fixture
def container(monkeypatch: pytest.MonkeyPatch, aws: AwsClients, table: Table, github: RecordingGitHub
              ) -> Iterator[None]:
    aws.client("secretsmanager").create_secret(Name="mlops/github-token", SecretString="ghs_lambda_token")
    env = {"MLOPS_BACKEND": "aws", "AWS_REGION": "us-east-1", "MLOPS_RUN_TABLE": "mlops-runs",
           "MLOPS_GITHUB_TOKEN_SECRET": "mlops/github-token", "GITHUB_API_URL": github.url}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with lambda_container():
        yield


def sample() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text())


def job_event(job: str = f"{TRAINING_ID}-a1-t1", status: str = "InProgress", secondary: str = "Training",
              message: str = DOWNLOADED, at: datetime | None = None, **detail: Any) -> dict[str, Any]:
    """The sample event, as SageMaker sends it for one of our jobs."""
    event = copy.deepcopy(sample())
    event["time"] = (at or datetime.now(timezone.utc) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    event["detail"].update(
        TrainingJobName=job, TrainingJobStatus=status, SecondaryStatus=secondary,
        SecondaryStatusTransitions=[
            {"Status": "Starting", "StartTime": "1583831889050", "EndTime": "1583831899050",
             "StatusMessage": "Preparing the instances for training"},
            {"Status": secondary, "StartTime": "1583831899050", "StatusMessage": message},
        ],
        Tags={"mlops:training-id": TRAINING_ID, "mlops:repository": REPOSITORY, "mlops:issue": "7"},
        **detail,
    )
    return event


def post_status(github: RecordingGitHub, stage: str, run: RunState | None = None) -> str:
    """The status comment as the action or the notifier left it."""
    request = RunState.model_validate(run_document()).request
    body = render_status(StatusView(TRAINING_ID, stage, request, run=run))
    GitHubClient(Connection("ghs_action", github.url, REPOSITORY)).comment(7, body)
    return body


def heading(body: str) -> str:
    return body.split("\n\n")[1]


def test_the_sample_event_is_not_one_of_ours_and_changes_nothing(container: None, github: RecordingGitHub) -> None:
    post_status(github, "validated")
    requests = len(github.requests)
    assert handlers.progress(sample(), None) == {"result": "ignored"}
    other = sample() | {"detail-type": "SageMaker Endpoint State Change"}
    assert handlers.progress(other, None) == {"result": "ignored"}
    not_ours = job_event()
    not_ours["detail"]["Tags"] = {"team": "vision"}
    assert handlers.progress(not_ours, None) == {"result": "ignored"}
    assert len(github.requests) == requests


def test_a_training_event_moves_the_comment_to_training_with_the_jobs_status(
    container: None, github: RecordingGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    posted = post_status(github, "validated")
    handlers.progress(job_event(), None)

    body = github.comments(7)[0]["body"]
    training = render_status(StatusView(TRAINING_ID, "training", RunState.model_validate(run_document()).request))
    assert heading(body) == heading(training)  # the heading render_status gives the stage
    assert f"Attempt 1: SageMaker training job `{TRAINING_ID}-a1-t1` is **InProgress — Training**. {DOWNLOADED}" in body
    assert "The request is valid" not in body
    assert body.split("\n\n")[2] == posted.split("\n\n")[2]  # the request table
    assert body.endswith(posted.split("\n\n")[-1])  # the footer
    logs, _ = json_lines(capsys.readouterr().out)
    assert logs[-1]["message"] == "progress: status comment updated: InProgress / Training"
    assert (logs[-1]["agent"], logs[-1]["training_id"], logs[-1]["issue"], logs[-1]["job"]) == (
        "progress", TRAINING_ID, f"{REPOSITORY}#7", f"{TRAINING_ID}-a1-t1")


def test_a_retrain_replaces_the_operators_question_with_retraining(container: None, github: RecordingGitHub) -> None:
    paused = RunState.model_validate(missed_gate(run_document())).model_copy(update={"status": "awaiting_operator"})
    post_status(github, "awaiting_operator", paused)
    handlers.progress(job_event(f"{TRAINING_ID}-a2-t1", secondary="Starting", message="Launching requested ML "
                                "instances"), None)
    body = github.comments(7)[0]["body"]
    assert heading(body).endswith("retraining") and "/mlops abort" not in body
    assert "Attempt 2: SageMaker training job" in body and "Launching requested ML instances" in body


def test_a_failed_try_shows_its_reason(container: None, github: RecordingGitHub) -> None:
    post_status(github, "training")
    handlers.progress(job_event(f"{TRAINING_ID}-a1-t2", status="Failed", secondary="Failed", message="Training job "
                                "failed", FailureReason="AlgorithmError: ExecuteUserScriptError: exit code 1"), None)
    body = github.comments(7)[0]["body"]
    assert "Attempt 1, try 2: SageMaker training job" in body
    assert "is **Failed — Failed**. AlgorithmError: ExecuteUserScriptError: exit code 1" in body


def test_a_late_event_never_overwrites_a_newer_comment(container: None, github: RecordingGitHub) -> None:
    paused = RunState.model_validate(missed_gate(run_document())).model_copy(update={"status": "awaiting_operator"})
    posted = post_status(github, "awaiting_operator", paused)
    minute_ago = datetime.now(timezone.utc) - timedelta(minutes=1)
    assert handlers.progress(job_event(secondary="Uploading", at=minute_ago), None) == {
        "result": "the event is older than the comment's last edit: ignored"}
    assert github.comments(7)[0]["body"] == posted


def test_a_finished_runs_comment_is_left_alone(container: None, github: RecordingGitHub) -> None:
    ended = RunState.model_validate(missed_gate(run_document())).model_copy(update={"status": "failed"})
    posted = post_status(github, "failed", ended)
    handlers.progress(job_event(status="Completed", secondary="Completed"), None)
    assert github.comments(7)[0]["body"] == posted
    assert not [request for request in github.requests if request[0] == "PATCH"]


def test_no_status_comment_yet_posts_nothing(container: None, github: RecordingGitHub) -> None:
    assert handlers.progress(job_event(), None) == {"result": "no status comment yet: nothing to update"}
    assert github.comments(7) == []


def test_github_refusing_is_logged_and_not_raised(container: None, github: RecordingGitHub,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    post_status(github, "validated")
    github.fail_next(1, 403, path_contains="/comments")
    assert handlers.progress(job_event(), None) == {"result": "failed"}
    logs, _ = json_lines(capsys.readouterr().out)
    assert logs[-1]["level"] == "WARNING"
    assert logs[-1]["message"].startswith("progress: the status comment was not updated: GitHub API: listing")
