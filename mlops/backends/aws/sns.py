"""E-mail notifications through an SNS topic (its subscribers confirm their addresses with SNS), and the AWS
notifier: Slack (its webhook URL in Secrets Manager) and SNS, each if configured.

As with Slack, a notification that cannot be delivered is logged, never raised: telling people about a run must
not fail the run.
"""

from __future__ import annotations

import logging
from typing import Any

from mlops.backends.aws.clients import aws_call
from mlops.backends.aws.secrets import SecretCache
from mlops.backends.local.slack import FanOutNotifier, SlackNotifier
from mlops.errors import MlopsError
from mlops.pipeline.models import RunState
from mlops.ports import Notifier
from mlops.settings import AwsSettings

log = logging.getLogger("mlops")
MAX_SUBJECT = 100  # SNS: at most 100 printable ASCII characters, no line breaks
MAX_MESSAGE = 256 * 1024


class SnsNotifier:
    def __init__(self, sns: Any, topic_arn: str) -> None:
        self.sns, self.topic_arn = sns, topic_arn

    def notify(self, run: RunState, message: str) -> None:
        try:
            with aws_call(f"notify: publishing to {self.topic_arn}"):
                self.sns.publish(TopicArn=self.topic_arn, Subject=subject(run),
                                 Message=message.encode()[:MAX_MESSAGE].decode(errors="ignore") or run.status)
        except MlopsError as exc:
            log.warning("e-mail notification for %s not delivered: %s", run.training_id, exc)


def subject(run: RunState) -> str:
    text = f"[mlops] {run.request.model_id or run.request.algorithm} {run.training_id}: {run.status}"
    printable = "".join(char if " " <= char <= "~" else "?" for char in text)
    return printable[:MAX_SUBJECT]


def aws_notifier(settings: AwsSettings, sns: Any, secrets: SecretCache) -> Notifier:
    """Slack and e-mail, each when its setting is there; a Slack secret that cannot be read only skips Slack."""
    notifiers: list[Notifier] = []
    if settings.slack_url_secret:
        try:
            notifiers.append(SlackNotifier(secrets.get(settings.slack_url_secret, "MLOPS_SLACK_URL_SECRET")))
        except MlopsError as exc:
            log.warning("Slack notifications are off: %s", exc)
    if settings.sns_topic_arn:
        notifiers.append(SnsNotifier(sns, settings.sns_topic_arn))
    return FanOutNotifier(*notifiers)


def _fits_the_port(notifier: SnsNotifier) -> Notifier:  # mypy proves the notifier fits the port
    return notifier
