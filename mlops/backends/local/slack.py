"""Slack incoming-webhook notifications. A notification that cannot be delivered is logged, never raised:
telling people about a run must not fail the run."""

from __future__ import annotations

import json
import logging
import urllib.request

from mlops.pipeline.models import RunState
from mlops.ports import Notifier
from mlops.report.markdown import plain_text

log = logging.getLogger("mlops")
MAX_TEXT = 3000  # Slack truncates long messages anyway; keep ours readable


class SlackNotifier:
    def __init__(self, webhook_url: str, timeout: float = 5.0) -> None:
        self.webhook_url = webhook_url
        self.timeout = timeout

    def notify(self, run: RunState, message: str) -> None:
        text = f"*{run.training_id}* ({run.request.model_id}, {run.status})\n{_slack_text(message)}"[:MAX_TEXT]
        try:
            self._post(text)
        except Exception as exc:  # any failure at all (a bad URL, a refused connection, a broken answer) is logged
            log.warning("Slack notification for %s not delivered: %s: %s", run.training_id, type(exc).__name__, exc)

    def _post(self, text: str) -> None:
        request = urllib.request.Request(
            self.webhook_url,
            data=json.dumps({"text": text}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            response.read()


def _slack_text(markdown: str) -> str:
    """GitHub Markdown -> Slack text: plain, with the three characters Slack asks to escape escaped, so no value
    in a message can become a Slack link or mention (`<!channel>`)."""
    return plain_text(markdown).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class FanOutNotifier:
    """Every configured notifier, in order."""

    def __init__(self, *notifiers: Notifier) -> None:
        self.notifiers = notifiers

    def notify(self, run: RunState, message: str) -> None:
        for notifier in self.notifiers:
            notifier.notify(run, message)
