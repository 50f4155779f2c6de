"""The Lambdas' side of the composition root: what a container keeps besides the ports (mlops.services builds
those), chosen from the settings like the ports are: the run table's run documents (run_record.py) and task
tokens (the operator's wait) and GitHub access (the progress agent); and the AWS-only work the handlers delegate
to (logs and metrics, the run's item, the wait, the progress agent). mlops/handlers.py imports only this, the
agents and the settings, so it stays as thin and as free of backends as tests/unit/test_engine_neutral.py asks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops.backends.aws.github_status import GitHubAccess
from mlops.backends.aws.observability import invocation, logger, observe
from mlops.backends.aws.operator_wait import TaskTokens, await_operator, forgetting_the_token
from mlops.backends.aws.progress import job_change, show_progress
from mlops.errors import MlopsError, UsageError
from mlops.pipeline.models import RunState
from mlops.settings import Settings

if TYPE_CHECKING:
    from mlops.backends.aws.run_record import RunRecord

__all__ = ["LambdaRuntime", "await_operator", "forgetting_the_token", "lambda_runtime", "observe", "report_progress"]


@dataclass
class LambdaRuntime:
    tokens: TaskTokens | None  # None with MLOPS_BACKEND=local: nothing to keep (see operator_wait.py)
    github: GitHubAccess | None
    record: RunRecord | None = None  # None with MLOPS_BACKEND=local: the local engine keeps its own runs

    def observe(self, agent: str, run: RunState, work: Callable[[RunState], RunState], context: Any = None) -> RunState:
        """`work` on `run`, logged and measured, with the run kept in the run table around it (run_record.py)."""
        recorded = self.record.around(agent, work) if self.record else work
        return observe(agent, run, recorded, context)


def lambda_runtime(settings: Settings) -> LambdaRuntime:
    if settings.backend != "aws":
        return LambdaRuntime(tokens=None, github=None)
    from mlops.backends.aws.clients import AwsClients
    from mlops.backends.aws.dynamodb_runs import DynamoRunStore
    from mlops.backends.aws.dynamodb_table import Table
    from mlops.backends.aws.run_record import RunRecord
    from mlops.backends.aws.secrets import SecretCache

    if not settings.aws.run_table:
        raise UsageError("MLOPS_RUN_TABLE: not set; the Lambdas keep the run and its task token in the run table")
    clients = AwsClients(settings.aws)
    runs = DynamoRunStore(Table(clients.client("dynamodb"), settings.aws.run_table))
    github = GitHubAccess(settings.aws, SecretCache(clients.client("secretsmanager")))
    return LambdaRuntime(runs, github, RunRecord(runs))


def report_progress(event: Any, github: GitHubAccess | None, context: Any = None) -> dict[str, str]:
    """The progress agent: a training job's state change onto its run's status comment. Never raises: the
    progress shown is a courtesy, and a retried event would only be older still."""
    change = job_change(event)
    if change is None:
        logger().info("progress: not a state change of an mlops training job: ignored")
        return {"result": "ignored"}
    issue = f"{change.repository}#{change.issue}"
    with invocation("progress", change.training_id, issue, context, job=change.job_name) as log:
        if github is None:
            log.warning("progress: MLOPS_BACKEND is not aws: no GitHub to update")
            return {"result": "skipped"}
        try:
            outcome = show_progress(change, github.client(change.repository))
        except MlopsError as exc:
            log.warning("progress: the status comment was not updated: %s", exc)
            return {"result": "failed"}
        log.info("progress: %s", outcome)
        return {"result": outcome}
