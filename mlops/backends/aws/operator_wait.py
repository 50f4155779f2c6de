"""The operator's wait on AWS: where the Step Functions task token is kept while a run waits for an answer.

AwaitOperator is `lambda:invoke.waitForTaskToken`: the token is what resumes the execution, so it is as good as
a password for this run. It goes into the run table keyed by repository and issue
(`issue#<owner/repo>#<n>`/`token`, mlops/backends/aws/dynamodb_runs.py), where the action's `comment` mode finds
it after the permission check, and nowhere else: not into the run document (which flows on into the execution
history, the report and S3), not into a comment, a notification or a log line.

With MLOPS_BACKEND=local (the handlers run on local ports, as the engine tests do) nothing is kept: a local run is
answered with `mlops resume`, not with a token.
"""

from __future__ import annotations

from typing import Protocol

from mlops.errors import RunStateError
from mlops.pipeline import agents
from mlops.pipeline.agents import Agent, Ports
from mlops.pipeline.models import RunState


class TaskTokens(Protocol):
    """What the wait needs of the run store (DynamoRunStore has it)."""

    def put_token(self, repository: str, issue: int, token: str, training_id: str) -> None: ...
    def get_token(self, repository: str, issue: int) -> tuple[str, str] | None: ...
    def delete_token(self, repository: str, issue: int, token: str) -> None: ...


def await_operator(run: RunState, token: str, tokens: TaskTokens | None, ports: Ports) -> RunState:
    """Keep the token where the answer will look for it, then notify (the token must be there before anyone
    reads the comment that asks for an answer)."""
    if tokens is not None:
        repository, number = _issue(run)
        tokens.put_token(repository, number, token, run.training_id)
    return agents.await_operator(run, ports)


def forgetting_the_token(agent: Agent, tokens: TaskTokens | None) -> Agent:
    """`agent`, after dropping the run's token: the wait is over (answered, or timed out), so the token resumes
    nothing any more and an answer to it could only fail. A token of another run on the issue stays."""

    def run_agent(run: RunState, ports: Ports) -> RunState:
        if tokens is not None and run.issue.repository and run.issue.number is not None:
            kept = tokens.get_token(run.issue.repository, run.issue.number)
            if kept and kept[1] == run.training_id:
                tokens.delete_token(run.issue.repository, run.issue.number, kept[0])
        return agent(run, ports)

    return run_agent


def _issue(run: RunState) -> tuple[str, int]:
    if not run.issue.repository or run.issue.number is None:
        raise RunStateError(
            f"run {run.training_id}: no issue to wait on (the answer comes as an issue comment); "
            "start AWS runs from an issue"
        )
    return run.issue.repository, run.issue.number
