"""AWS Lambda handlers: one per agent, each `mlops.handlers.<agent>`, the same agent functions the local runner
calls. The event is the run document (the state machine passes `$`); the result is the new run document, which
the state machine takes as its whole state (`OutputPath: $.Payload`). An agent's exception propagates, so Lambda
reports it with `errorType` = the exception's name: the name the flow's Retry and Catch match, as locally.

Every invocation logs structured JSON lines and emits its metrics (mlops/backends/aws/observability.py), and on
AWS keeps the run document in the run table (mlops/backends/aws/run_record.py). What is AWS-only comes through
mlops/lambda_runtime.py, so this module names no backend.

AwaitOperator's event is `{"run": <document>, "task_token": <token>}` (`lambda:invoke.waitForTaskToken`): the
handler keeps the token in the run table, keyed by repository and issue, and nowhere else
(mlops/backends/aws/operator_wait.py). Its result is ignored by Step Functions; the answer becomes `$.answer`.
`progress` is fed by EventBridge "SageMaker Training Job State Change" events (mlops/backends/aws/progress.py).

The ports and the rest of the container's state are built once per container, from settings resolved once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from mlops import lambda_runtime as aws
from mlops.lambda_runtime import LambdaRuntime
from mlops.pipeline import agents
from mlops.pipeline.agents import Agent, Ports
from mlops.pipeline.models import RunState
from mlops.settings import Settings

Event = dict[str, Any]
Handler = Callable[[Event, Any], Event]


@cache
def ports() -> Ports:
    from mlops.services import build_ports

    return build_ports(Settings.from_env())


@cache
def runtime() -> LambdaRuntime:
    return aws.lambda_runtime(Settings.from_env())


def _handler(name: str, agent: Callable[[], Agent]) -> Handler:
    """The Lambda handler of an agent; `agent` is looked up per call (the container's runtime is made lazily)."""

    def handle(event: Event, context: Any = None) -> Event:
        run = RunState.model_validate(event)
        return runtime().observe(name, run, lambda run: agent()(run, ports()), context).model_dump(mode="json")

    handle.__name__ = handle.__qualname__ = name
    return handle


def await_operator(event: Event, context: Any = None) -> Event:
    run, token = RunState.model_validate(event["run"]), event["task_token"]

    def wait(run: RunState) -> RunState:
        return aws.await_operator(run, token, runtime().tokens, ports())

    return runtime().observe("await_operator", run, wait, context).model_dump(mode="json")


def progress(event: Event, context: Any = None) -> dict[str, str]:
    return aws.report_progress(event, runtime().github, context)


prepare_data = _handler("prepare_data", lambda: agents.prepare_data)
build_training_job = _handler("build_training_job", lambda: agents.build_training_job)
evaluate = _handler("evaluate", lambda: agents.evaluate)
apply_operator_answer = _handler(
    "apply_operator_answer", lambda: aws.forgetting_the_token(agents.apply_operator_answer, runtime().tokens)
)
expire_operator_wait = _handler(
    "expire_operator_wait", lambda: aws.forgetting_the_token(agents.expire_operator_wait, runtime().tokens)
)
register = _handler("register", lambda: agents.register)
verify = _handler("verify", lambda: agents.verify)
rollback = _handler("rollback", lambda: agents.rollback)
handle_failure = _handler("handle_failure", lambda: agents.handle_failure)
publish = _handler("publish", lambda: agents.publish)
