"""AWS Lambda handlers: one per agent, each `mlops.handlers.<agent>`, the same agent functions the local runner
calls. The event is the run document (the state machine passes `$`); the result is the new run document, which
the state machine takes as its whole state (`OutputPath: $.Payload`). An agent's exception propagates, so Lambda
reports it with `errorType` = the exception's name: the name the flow's Retry and Catch match, as locally.

AwaitOperator's event is `{"run": <document>, "task_token": <token>}` (`lambda:invoke.waitForTaskToken`): the
handler keeps the token in the run document, so the notification and the run store carry it to whoever answers
with SendTaskSuccess. Its result is ignored by Step Functions; the answer becomes `$.answer`.

The ports are built once per container, from settings resolved once (MLOPS_* environment variables).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from mlops.pipeline import agents
from mlops.pipeline.agents import Agent, Ports
from mlops.pipeline.models import RunState
from mlops.settings import Settings

Event = dict[str, Any]


@cache
def ports() -> Ports:
    from mlops.services import build_ports

    return build_ports(Settings.from_env())


def _handle(agent: Agent, event: Event) -> Event:
    run = agent(RunState.model_validate(event), ports())
    return run.model_dump(mode="json")


def await_operator(event: Event, context: object = None) -> Event:
    run = RunState.model_validate(event["run"])
    run.wait_token = event["task_token"]
    return agents.await_operator(run, ports()).model_dump(mode="json")


def prepare_data(event: Event, context: object = None) -> Event:
    return _handle(agents.prepare_data, event)


def build_training_job(event: Event, context: object = None) -> Event:
    return _handle(agents.build_training_job, event)


def evaluate(event: Event, context: object = None) -> Event:
    return _handle(agents.evaluate, event)


def apply_operator_answer(event: Event, context: object = None) -> Event:
    return _handle(agents.apply_operator_answer, event)


def expire_operator_wait(event: Event, context: object = None) -> Event:
    return _handle(agents.expire_operator_wait, event)


def register(event: Event, context: object = None) -> Event:
    return _handle(agents.register, event)


def verify(event: Event, context: object = None) -> Event:
    return _handle(agents.verify, event)


def rollback(event: Event, context: object = None) -> Event:
    return _handle(agents.rollback, event)


def handle_failure(event: Event, context: object = None) -> Event:
    return _handle(agents.handle_failure, event)


def publish(event: Event, context: object = None) -> Event:
    return _handle(agents.publish, event)
