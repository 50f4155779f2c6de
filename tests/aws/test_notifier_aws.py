"""The AWS notifier (mlops/backends/aws/sns.py, github_status.py): the issue's status comment with the GitHub
token from Secrets Manager, the `mlops-run-finished` dispatch when a run ends, Slack (URL from Secrets Manager)
and e-mail (SNS), each failing on its own. GitHub is the loopback fake (requests checked against GitHub's REST
description), Secrets Manager and SNS are moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mlops.backends.aws.clients import AwsClients
from mlops.backends.aws.sns import aws_notifier
from mlops.pipeline.models import RunState
from mlops.ports import Notifier
from mlops.settings import AwsSettings, Settings
from tests.aws.lambda_harness import (
    REPOSITORY,
    RecordingGitHub,
    closed_port_url,
    loopback_slack,
    mails,
    missed_gate,
    recording_github,
    run_document,
    sns_mailbox,
)

TRAINING_ID = "train-20260101-000000-0a1b2c3d"
MARKER = f"<!-- mlops:status training_id={TRAINING_ID} -->"


@pytest.fixture
def github() -> Iterator[RecordingGitHub]:
    with recording_github() as fake:
        yield fake


@pytest.fixture
def slack() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with loopback_slack() as webhook:
        yield webhook


@pytest.fixture
def mailbox(aws: AwsClients) -> tuple[str, str]:
    return sns_mailbox(aws.client("sns"), aws.client("sqs"))


@pytest.fixture
def secrets(aws: AwsClients, slack: tuple[str, list[dict[str, Any]]]) -> None:
    manager = aws.client("secretsmanager")
    manager.create_secret(Name="mlops/github-token", SecretString="ghs_from_secrets_manager")
    manager.create_secret(Name="mlops/slack", SecretString=slack[0])


def notifier(aws: AwsClients, github: RecordingGitHub, topic: str | None = None, **changes: str) -> Notifier:
    names = {"github_token_secret": "mlops/github-token", "slack_url_secret": "mlops/slack", **changes}
    settings = AwsSettings(region="us-east-1", sns_topic_arn=topic, github_api_url=github.url,
                           github_server_url="https://github.example", **names)
    return aws_notifier(Settings(report_lang="en", aws=settings), aws)


def finished(status: str = "succeeded") -> RunState:
    run = RunState.model_validate(missed_gate(run_document()))
    run.status = status  # type: ignore[assignment]
    return run


def test_a_finished_run_edits_its_status_comment_and_asks_for_the_record_job(
    aws: AwsClients, github: RecordingGitHub, secrets: None, mailbox: tuple[str, str],
    slack: tuple[str, list[dict[str, Any]]],
) -> None:
    topic, queue = mailbox
    notify = notifier(aws, github, topic)
    notify.notify(RunState.model_validate(missed_gate(run_document())).model_copy(
        update={"status": "awaiting_operator"}), "accuracy missed")
    notify.notify(finished("failed"), "the run failed: accuracy 0.61 < 0.85")

    (comment,) = github.comments(7)  # edited in place, never a second one
    assert comment["body"].startswith(MARKER) and "failed" in comment["body"].splitlines()[2]
    assert f"https://github.example/{REPOSITORY}/blob/HEAD/training_history/{TRAINING_ID}.md" in comment["body"]
    assert github.dispatches == [{"event_type": "mlops-run-finished", "client_payload": {"training_id": TRAINING_ID}}]
    assert [request[:2] for request in github.requests].count(("PATCH", "/repos/Codertocat/Hello-World/issues/comments/"
                                                                f"{comment['id']}")) == 1
    assert "the run failed" in slack[1][-1]["text"]
    assert mails(aws.client("sqs"), queue)[-1] == "the run failed: accuracy 0.61 < 0.85"


def test_a_paused_run_is_no_end_no_dispatch(aws: AwsClients, github: RecordingGitHub, secrets: None) -> None:
    notifier(aws, github).notify(RunState.model_validate(missed_gate(run_document())).model_copy(
        update={"status": "awaiting_operator"}), "accuracy missed")
    assert "awaiting the operator" in github.comments(7)[0]["body"] and github.dispatches == []


def test_a_failing_channel_stops_neither_the_others_nor_the_run(
    aws: AwsClients, github: RecordingGitHub, secrets: None, mailbox: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic, queue = mailbox
    aws.client("secretsmanager").put_secret_value(SecretId="mlops/slack", SecretString=closed_port_url())
    github.fail_next(1, 403, path_contains="/comments")  # the token may not comment, say
    notifier(aws, github, topic).notify(finished(), "the run succeeded")

    assert github.comments(7) == []
    assert github.dispatches == [{"event_type": "mlops-run-finished", "client_payload": {"training_id": TRAINING_ID}}]
    assert mails(aws.client("sqs"), queue)[-1] == "the run succeeded"
    assert f"the status comment of {REPOSITORY}#7 not updated: GitHub API: listing the comments" in caplog.text
    assert f"Slack notification for {TRAINING_ID} not delivered: URLError" in caplog.text


def test_a_lost_dispatch_says_how_to_send_it_by_hand(
    aws: AwsClients, github: RecordingGitHub, secrets: None, caplog: pytest.LogCaptureFixture
) -> None:
    github.fail_next(1, 404, path_contains="/dispatches")
    notifier(aws, github).notify(finished(), "the run succeeded")
    assert github.dispatches == [] and len(github.comments(7)) == 1
    (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.getMessage().startswith(f"mlops-run-finished not sent for {TRAINING_ID}: GitHub API: sending")
    assert record.getMessage().endswith(
        f"send it by hand: gh api repos/{REPOSITORY}/dispatches -f event_type=mlops-run-finished "
        f"-f 'client_payload[training_id]={TRAINING_ID}'"
    )


def test_without_the_github_secret_github_is_skipped_and_said_so(
    aws: AwsClients, github: RecordingGitHub, mailbox: tuple[str, str], caplog: pytest.LogCaptureFixture,
) -> None:
    topic, queue = mailbox
    notifier(aws, github, topic, github_token_secret="mlops/none", slack_url_secret="").notify(finished(), "done")
    assert github.requests == []
    assert "MLOPS_GITHUB_TOKEN_SECRET: no secret mlops/none in Secrets Manager" in caplog.text
    assert mails(aws.client("sqs"), queue)[-1] == "done"


def test_the_github_token_comes_from_secrets_manager(aws: AwsClients, github: RecordingGitHub, secrets: None) -> None:
    notifier(aws, github).notify(finished(), "done")
    assert github.authorizations and {value.split()[-1] for value in github.authorizations} == {
        "ghs_from_secrets_manager"
    }


# The pipeline template creates both secrets with this value; the deploy (or a person) puts the real ones later.
TEMPLATE_PLACEHOLDER = "UNSET - put the webhook URL with aws secretsmanager put-secret-value"


@pytest.mark.parametrize(("value", "level", "said"), [
    (TEMPLATE_PLACEHOLDER, "INFO", "Slack: not configured (the secret mlops/slack holds no webhook URL); to use it: "
     "aws secretsmanager put-secret-value --secret-id mlops/slack"),
    ("hooks.slack.com/services/T0/B0/XXXX", "WARNING", "Slack: the secret mlops/slack holds no https URL"),
    ("http://hooks.slack.com/services/T0/B0/XXXX", "WARNING", "Slack: the secret mlops/slack holds no https URL"),
])
def test_a_slack_secret_without_an_https_url_is_no_slack_in_one_line_and_the_rest_goes_on(
    aws: AwsClients, github: RecordingGitHub, secrets: None, mailbox: tuple[str, str],
    caplog: pytest.LogCaptureFixture, value: str, level: str, said: str,
) -> None:
    topic, queue = mailbox
    aws.client("secretsmanager").put_secret_value(SecretId="mlops/slack", SecretString=value)
    caplog.set_level("INFO", logger="mlops")
    notifier(aws, github, topic).notify(finished(), "the run succeeded")

    slack_lines = [r for r in caplog.records if "Slack" in r.getMessage()]
    assert [(r.levelname, r.getMessage().startswith(said)) for r in slack_lines] == [(level, True)]
    assert value not in caplog.text  # a mistyped webhook URL is still a credential: never logged
    assert github.dispatches and len(github.comments(7)) == 1  # the other channels were told
    assert mails(aws.client("sqs"), queue)[-1] == "the run succeeded"


def test_a_github_token_secret_still_holding_the_placeholder_is_one_clear_warning(
    aws: AwsClients, github: RecordingGitHub, secrets: None, mailbox: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic, queue = mailbox
    aws.client("secretsmanager").put_secret_value(
        SecretId="mlops/github-token", SecretString="UNSET - put the token with aws secretsmanager put-secret-value")
    notifier(aws, github, topic).notify(finished(), "the run succeeded")

    assert github.requests == []  # no request with a placeholder for a token
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    text = warning.getMessage()
    assert text.startswith(f"GitHub: no status comment and no mlops-run-finished for {TRAINING_ID}: "
                           "MLOPS_GITHUB_TOKEN_SECRET: the secret mlops/github-token holds no GitHub token yet")
    put = "aws secretsmanager put-secret-value --secret-id mlops/github-token --secret-string '<token>'"
    assert f"put one: {put}" in text
    assert text.endswith(f"send it by hand: gh api repos/{REPOSITORY}/dispatches -f event_type=mlops-run-finished "
                         f"-f 'client_payload[training_id]={TRAINING_ID}'")
    assert mails(aws.client("sqs"), queue)[-1] == "the run succeeded"  # e-mail still goes


def test_once_the_token_is_put_the_same_container_reaches_github(
    aws: AwsClients, github: RecordingGitHub, secrets: None,
) -> None:
    manager = aws.client("secretsmanager")
    manager.put_secret_value(SecretId="mlops/github-token", SecretString="UNSET - put the token")
    notify = notifier(aws, github)
    notify.notify(finished("awaiting_operator"), "waiting")
    assert github.requests == []
    manager.put_secret_value(SecretId="mlops/github-token", SecretString="ghs_put_later")
    notify.notify(finished(), "done")  # the placeholder was not cached: the token is read again
    assert {value.split()[-1] for value in github.authorizations} == {"ghs_put_later"}
    assert github.dispatches == [{"event_type": "mlops-run-finished", "client_payload": {"training_id": TRAINING_ID}}]
