"""The AWS notifier's GitHub side: the run's status comment, and the `mlops-run-finished` dispatch when it ends.

On AWS nothing of the action runs while a run trains, so the Lambdas keep the issue's status comment current
themselves: the same hidden-marker comment the action posts (mlops/action/status.py), edited in place. The
GitHub token comes from Secrets Manager (MLOPS_GITHUB_TOKEN_SECRET), read once per container and cached.

When a run ends (Publish notifies with the run succeeded or failed; its history is already in S3), the
`repository_dispatch` `mlops-run-finished` with `{"training_id": ...}` starts the callback workflow's `record`
job, which commits the history (mlops/action/record.py). The comment and the dispatch fail independently:
one that cannot be done is logged, with what to do by hand, and never fails the run.
"""

from __future__ import annotations

import logging

from mlops.action.context import HISTORY_PATH
from mlops.action.status import StatusComment, StatusView
from mlops.backends.aws.secrets import SecretCache, is_placeholder, put_value_command
from mlops.errors import MlopsError, UsageError
from mlops.github.client import Connection, GitHubClient
from mlops.pipeline.models import RunState
from mlops.settings import AwsSettings

log = logging.getLogger("mlops")
ENDED = ("succeeded", "failed")
STAGE_OF_STATUS = {"awaiting_operator": "awaiting_operator", "succeeded": "succeeded", "failed": "failed"}


class GitHubAccess:
    """GitHub clients for the repositories runs come from, with the token read from Secrets Manager."""

    def __init__(self, settings: AwsSettings, secrets: SecretCache) -> None:
        self.settings, self.secrets = settings, secrets

    def client(self, repository: str) -> GitHubClient:
        """Raises UsageError when the token's secret is not set, cannot be read or holds no token yet."""
        secret = self.settings.github_token_secret
        if not secret:
            raise UsageError("MLOPS_GITHUB_TOKEN_SECRET: not set; the Lambdas cannot reach GitHub without a token")
        token = self.secrets.get(secret, "MLOPS_GITHUB_TOKEN_SECRET")
        if is_placeholder(token):
            raise UsageError(
                f"MLOPS_GITHUB_TOKEN_SECRET: the secret {secret} holds no GitHub token yet (the deploy's "
                f"placeholder); put one: {put_value_command(secret, '<token>')} (or deploy again with "
                "--store-github-token)"
            )
        # Fewer, shorter retries than on a runner: a Lambda has 15 minutes, and a notification is not worth them.
        return GitHubClient(Connection(token, self.settings.github_api_url, repository, retries=3, max_rate_wait=30))

    def file_url(self, repository: str, path: str) -> str:
        return f"{self.settings.github_server_url}/{repository}/blob/HEAD/{path}"


class GitHubChannel:
    """A Notifier: the status comment at the stages a notification marks, and the dispatch at the end."""

    def __init__(self, access: GitHubAccess, lang: str = "ja") -> None:
        self.access, self.lang = access, lang

    def notify(self, run: RunState, message: str) -> None:
        repository, number = run.issue.repository, run.issue.number
        if not repository or number is None:
            log.info("run %s has no issue: no status comment, no dispatch", run.training_id)
            return
        try:
            client = self.access.client(repository)
        except MlopsError as exc:  # no token: one warning for the whole channel, not one per call
            self._say_unreachable(run, repository, exc)
            return
        self._show_status(run, client, repository, number)
        if run.status in ENDED:
            self._dispatch_finished(run, client, repository)

    @staticmethod
    def _say_unreachable(run: RunState, repository: str, exc: MlopsError) -> None:
        if run.status not in ENDED:
            log.warning("GitHub: the status comment of %s not updated: %s", run.training_id, exc)
            return
        from mlops.action.record import EVENT_TYPE, dispatch_command  # (why here: see _dispatch_finished)

        log.warning("GitHub: no status comment and no %s for %s: %s; then send it by hand: %s",
                    EVENT_TYPE, run.training_id, exc, dispatch_command(repository, run.training_id))

    def _show_status(self, run: RunState, client: GitHubClient, repository: str, number: int) -> None:
        stage = STAGE_OF_STATUS.get(run.status)
        if stage is None:
            return
        report = self.access.file_url(repository, f"{HISTORY_PATH}/{run.training_id}.md")
        view = StatusView(run.training_id, stage, run.request, run=run, report_url=report, lang=self.lang)
        try:
            StatusComment(client, number, view).show(stage)
        except MlopsError as exc:
            log.warning("the status comment of %s#%s not updated: %s", repository, number, exc)

    def _dispatch_finished(self, run: RunState, client: GitHubClient, repository: str) -> None:
        # Here, not at the top: the record mode's module (and the webhook models it loads) costs a cold start of
        # every Lambda about 0.5 s, and only Publish needs its two names.
        from mlops.action.record import EVENT_TYPE, dispatch_command

        try:
            client.dispatch(EVENT_TYPE, {"training_id": run.training_id})
        except MlopsError as exc:
            log.error(  # the history is in S3 but will not be committed until someone sends the dispatch
                "%s not sent for %s: %s; send it by hand: %s",
                EVENT_TYPE, run.training_id, exc, dispatch_command(repository, run.training_id),
            )
        else:
            log.info("%s sent to %s", EVENT_TYPE, repository)
