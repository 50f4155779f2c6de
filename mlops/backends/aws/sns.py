"""E-mail notifications through an SNS topic (its subscribers confirm their addresses with SNS), and the AWS
notifier: the status comment and the run-finished dispatch (mlops/backends/aws/github_status.py), Slack (its
webhook URL in Secrets Manager) and SNS, each if configured.

As with Slack, a notification that cannot be delivered is logged, never raised: telling people about a run must
not fail the run.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from mlops.backends.aws.clients import AwsClients, aws_call
from mlops.backends.aws.github_status import GitHubAccess, GitHubChannel
from mlops.backends.aws.secrets import SecretCache, is_placeholder, put_value_command
from mlops.backends.local.slack import SlackNotifier
from mlops.errors import MlopsError
from mlops.pipeline.models import RunState
from mlops.ports import Notifier
from mlops.report.markdown import plain_text
from mlops.settings import Settings

log = logging.getLogger("mlops")
MAX_SUBJECT = 100  # SNS: at most 100 printable ASCII characters, no line breaks
MAX_MESSAGE = 256 * 1024


class SnsNotifier:
    def __init__(self, sns: Any, topic_arn: str) -> None:
        self.sns, self.topic_arn = sns, topic_arn

    def notify(self, run: RunState, message: str) -> None:
        text = plain_text(message).encode()[:MAX_MESSAGE].decode(errors="ignore")  # an e-mail renders no Markdown
        try:
            with aws_call(f"notify: publishing to {self.topic_arn}"):
                self.sns.publish(TopicArn=self.topic_arn, Subject=subject(run), Message=text or run.status)
        except MlopsError as exc:
            log.warning("e-mail notification for %s not delivered: %s", run.training_id, exc)


def subject(run: RunState) -> str:
    text = f"[mlops] {run.request.model_id or run.request.algorithm} {run.training_id}: {run.status}"
    printable = "".join(char if " " <= char <= "~" else "?" for char in text)
    return printable[:MAX_SUBJECT]


class SecretSlack:
    """Slack with the webhook URL read from Secrets Manager when a notification is sent (cached per container),
    so a secret created or rotated after the container started is used, and a missing one only skips Slack."""

    def __init__(self, secrets: SecretCache, secret_id: str) -> None:
        self.secrets, self.secret_id = secrets, secret_id

    def notify(self, run: RunState, message: str) -> None:
        try:
            url = self.secrets.get(self.secret_id, "MLOPS_SLACK_URL_SECRET")
        except MlopsError as exc:
            log.warning("Slack notification for %s not sent: %s", run.training_id, exc)
            return
        if is_placeholder(url):  # the deploy's placeholder: Slack is optional, and not configured
            log.info("Slack: not configured (the secret %s holds no webhook URL); to use it: %s", self.secret_id,
                     put_value_command(self.secret_id, "https://hooks.slack.com/services/..."))
            return
        if not webhook_url(url):  # never logged: a webhook URL is a credential, and so may be a mistyped one
            log.warning("Slack: the secret %s holds no https URL: Slack skipped for %s", self.secret_id,
                        run.training_id)
            return
        SlackNotifier(url).notify(run, message)


def webhook_url(value: str) -> bool:
    """An https URL; or http to this machine (a local relay, the tests' loopback Slack): never in clear elsewhere."""
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
    except ValueError:  # e.g. an unclosed '[' of an IPv6 host
        return False
    loopback = parts.scheme == "http" and host in ("127.0.0.1", "localhost", "::1")
    return bool(host) and (parts.scheme == "https" or loopback)


class Channels:
    """Every configured channel, each on its own: one that fails (even with an unexpected error) is logged and
    the others are still told. Telling people about a run never fails the run."""

    def __init__(self, channels: dict[str, Notifier]) -> None:
        self.channels = channels

    def notify(self, run: RunState, message: str) -> None:
        for name, channel in self.channels.items():
            try:
                channel.notify(run, message)
            except Exception as exc:  # any failure of one channel must leave the others working
                log.warning("%s notification for %s failed: %s: %s", name, run.training_id, type(exc).__name__, exc)


def aws_notifier(settings: Settings, clients: AwsClients | None = None) -> Notifier:
    """The AWS notifier from the settings: the status comment and the run-finished dispatch (GitHub), Slack and
    e-mail (SNS), each when its setting is there. Secrets are read when a notification is sent, not here."""
    aws = settings.aws
    clients = clients or AwsClients(aws)
    secrets = SecretCache(clients.client("secretsmanager"))
    channels: dict[str, Notifier] = {}
    if aws.github_token_secret:
        channels["GitHub"] = GitHubChannel(GitHubAccess(aws, secrets), settings.report_lang)
    if aws.slack_url_secret:
        channels["Slack"] = SecretSlack(secrets, aws.slack_url_secret)
    if aws.sns_topic_arn:
        channels["e-mail"] = SnsNotifier(clients.client("sns"), aws.sns_topic_arn)
    return Channels(channels)


def _fits_the_port(notifier: SnsNotifier) -> Notifier:  # mypy proves the notifier fits the port
    return notifier
