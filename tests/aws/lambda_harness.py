"""Helpers of the Lambda handler tests: a fresh container, stdout read as the JSON lines CloudWatch Logs gets,
run documents, a training as the Train state runs it, and a fake GitHub that keeps every request body."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from fake_github import FakeGitHub

from mlops import handlers
from mlops.pipeline.agents import Ports
from mlops.pipeline.models import Attempt, GateResult, IssueRef, RunState
from mlops.request import validate_request

REPOSITORY = "Codertocat/Hello-World"  # the fake GitHub's repository
IRIS = {"learning_type": "supervised", "algorithm": "random_forest", "dataset_id": "iris",
        "hyperparameters": {"n_estimators": 20, "max_depth": 5}, "evaluation_threshold": 0.85,
        "model_id": "iris-classifier", "max_retry": 2}


@contextmanager
def lambda_container() -> Iterator[None]:
    """A cold container: the handlers' caches empty (the powertools logger is made once per process, like a
    container's, and writes to whatever stdout is then, a test's capture included)."""
    _clear_caches()
    try:
        yield
    finally:
        _clear_caches()


def _clear_caches() -> None:
    """A container's end: its ports' trainer let go (locally a training worker process), then the caches."""
    if hasattr(handlers.ports, "cache_info") and handlers.ports.cache_info().currsize:
        handlers.ports().trainer.close()
    for cached in (handlers.ports, handlers.runtime):
        if hasattr(cached, "cache_clear"):  # a test may have replaced it (the ports, say)
            cached.cache_clear()


def json_lines(stdout: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(log lines, EMF documents) of what the handlers printed; every line must be one JSON object."""
    documents = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return [d for d in documents if "_aws" not in d], [d for d in documents if "_aws" in d]


def run_document(training_id: str = "train-20260101-000000-0a1b2c3d", number: int | None = 7,
                 request: dict[str, Any] | None = None) -> dict[str, Any]:
    run = RunState(training_id=training_id, request=validate_request(request or IRIS),
                   issue=IssueRef(repository=REPOSITORY, number=number))
    return run.model_dump(mode="json")


def missed_gate(document: dict[str, Any]) -> dict[str, Any]:
    """The document as AwaitOperator gets it: one attempt evaluated below its threshold, retrains left."""
    run = RunState.model_validate(document)
    run.attempts = [Attempt(number=1, hyperparameters={"n_estimators": 20}, algorithm="random_forest",
                            metrics={"accuracy": 0.61}, metric="accuracy", value=0.61, passed=False)]
    run.gate = GateResult(metric="accuracy", value=0.61, threshold=0.85, comparison=">=", passed=False,
                          decision="retrain")
    return run.model_dump(mode="json")


def train(ports: Ports, document: dict[str, Any]) -> dict[str, Any]:
    """What the Train state does between BuildTrainingJob and Evaluate (the local trainer: a real training)."""
    run = RunState.model_validate(document)
    assert run.job is not None
    run.training = ports.trainer.train(run.job, run.job.name, 600)
    return run.model_dump(mode="json")


def run_verification(ports: Ports, document: dict[str, Any]) -> dict[str, Any]:
    """What the Verify state does between Register and RecordVerification (the local trainer runs the job)."""
    run = RunState.model_validate(document)
    assert run.verification_job is not None
    run.verification = ports.trainer.train(run.verification_job, run.verification_job.name, 600)
    return run.model_dump(mode="json")


class RecordingGitHub(FakeGitHub):
    """The fake GitHub, also keeping every request's body and Authorization header."""

    def __init__(self) -> None:
        super().__init__(REPOSITORY)
        self.bodies: list[bytes] = []
        self.authorizations: list[str] = []

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Any:
        self.bodies.append(body)
        self.authorizations.append(headers.get("authorization", ""))
        return super().handle(method, target, headers, body)


@contextmanager
def recording_github() -> Iterator[RecordingGitHub]:
    with RecordingGitHub() as fake:
        fake.add_issue(7, title="[MLOps] train iris", body="...", author="Codertocat", labels=["mlops:train"])
        yield fake
    assert not fake.problems, "requests GitHub's REST API description does not allow:\n" + "\n".join(fake.problems)


@contextmanager
def loopback_slack() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A Slack incoming webhook on loopback: (its URL, what it received)."""
    received: list[dict[str, Any]] = []

    class Webhook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/services/T0/B0/X", received
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    """A Slack URL where nothing listens (the connection is refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/services/T0/B0/X"


def sns_mailbox(sns: Any, sqs: Any) -> tuple[str, str]:
    """(topic ARN, queue URL): an SNS topic with an SQS queue subscribed, where e-mails would go."""
    topic = sns.create_topic(Name="mlops-notifications")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue


def mails(sqs: Any, queue: str) -> list[str]:
    """The messages SNS delivered to the mailbox queue so far."""
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"])["Message"] for message in received]
