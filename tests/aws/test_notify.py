"""Secrets read once per container, e-mail through SNS, and the AWS notifier fanning out to Slack and SNS."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from mlops.backends.aws.clients import AwsClients
from mlops.backends.aws.secrets import SecretCache
from mlops.backends.aws.sns import SnsNotifier, aws_notifier
from mlops.errors import UsageError
from mlops.settings import AwsSettings, Settings
from tests.aws.aws_harness import make_run


@pytest.fixture
def slack() -> Iterator[tuple[str, list[dict]]]:
    """A loopback Slack webhook recording what it receives."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/services/T0/B0/X", received
    server.shutdown()


@pytest.fixture
def mailbox(aws: AwsClients) -> tuple[str, str]:
    """An SNS topic with an SQS queue subscribed: what an e-mail subscriber would be sent lands in the queue."""
    topic = aws.client("sns").create_topic(Name="mlops-notifications")["TopicArn"]
    sqs = aws.client("sqs")
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue


def delivered(aws: AwsClients, queue: str) -> list[dict]:
    messages = aws.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_a_secret_is_fetched_once_per_container_until_it_is_old(aws: AwsClients) -> None:
    manager = aws.client("secretsmanager")
    manager.create_secret(Name="mlops/github-token", SecretString="ghs_first")
    now = [0.0]
    cache = SecretCache(manager, max_age=300, clock=lambda: now[0])
    assert cache.get("mlops/github-token") == "ghs_first"
    manager.put_secret_value(SecretId="mlops/github-token", SecretString="ghs_rotated")
    now[0] = 299  # WHEN it is asked again soon THEN the cached value serves (no call)
    assert cache.get("mlops/github-token") == "ghs_first"
    now[0] = 301  # WHEN the cached value is old THEN the rotated one is read
    assert cache.get("mlops/github-token") == "ghs_rotated"


def test_a_missing_secret_names_the_setting_to_fix(aws: AwsClients) -> None:
    with pytest.raises(UsageError, match="MLOPS_GITHUB_TOKEN_SECRET: no secret mlops/none in Secrets Manager"):
        SecretCache(aws.client("secretsmanager")).get("mlops/none", "MLOPS_GITHUB_TOKEN_SECRET")


def test_sns_sends_the_message_with_a_subject_sns_accepts(aws: AwsClients, mailbox: tuple[str, str]) -> None:
    topic, queue = mailbox
    run = make_run()
    SnsNotifier(aws.client("sns"), topic).notify(run, "accuracy 0.81 < 0.9 — 再学習してください")
    (mail,) = delivered(aws, queue)
    assert mail["Message"] == "accuracy 0.81 < 0.9 — 再学習してください"
    assert mail["Subject"] == "[mlops] iris-svm train-20250110-123456-abcd: running"


def test_an_unreachable_topic_does_not_fail_the_run(aws: AwsClients, caplog: pytest.LogCaptureFixture) -> None:
    SnsNotifier(aws.client("sns"), "arn:aws:sns:us-east-1:123456789012:gone").notify(make_run(), "failed")
    assert "e-mail notification for train-20250110-123456-abcd not delivered" in caplog.text


def test_the_aws_notifier_tells_slack_and_the_mailbox(
    aws: AwsClients, mailbox: tuple[str, str], slack: tuple[str, list[dict]]
) -> None:
    topic, queue = mailbox
    url, received = slack
    aws.client("secretsmanager").create_secret(Name="mlops/slack", SecretString=url)
    settings = AwsSettings(region="us-east-1", slack_url_secret="mlops/slack", sns_topic_arn=topic)
    notifier = aws_notifier(Settings(aws=settings), aws)
    notifier.notify(make_run(), "run succeeded: iris-svm v1.0.0")
    assert "run succeeded: iris-svm v1.0.0" in received[0]["text"]
    assert delivered(aws, queue)[0]["Message"] == "run succeeded: iris-svm v1.0.0"


def test_a_missing_slack_secret_only_turns_slack_off(
    aws: AwsClients, mailbox: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    topic, queue = mailbox
    settings = AwsSettings(region="us-east-1", slack_url_secret="mlops/none", sns_topic_arn=topic)
    aws_notifier(Settings(aws=settings), aws).notify(make_run(), "hi")
    skipped = "Slack notification for train-20250110-123456-abcd not sent: MLOPS_SLACK_URL_SECRET: no secret mlops/none"
    assert skipped in caplog.text
    assert delivered(aws, queue)[0]["Message"] == "hi"
