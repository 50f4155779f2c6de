"""Step Functions, as the action uses it: start one execution per request, look at it, answer a paused run.

Only StartExecution, DescribeExecution, SendTaskSuccess and SendTaskFailure: the action's role allows nothing
more (no listing). An execution's name is `mlops.pipeline.asl.execution_name(repository, issue, request)`, so a
redelivered request cannot start a second run: Step Functions answers a start with the same name and the same
input with the existing execution, and with other input (a redelivery carries a new training id) with
ExecutionAlreadyExists; then the one execution is read back by the ARN its name gives.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from mlops.backends.aws.clients import aws_call, translate
from mlops.errors import AwsConflict, AwsNotFound, RunStateError

NO_LONGER_WAITING = {"TaskDoesNotExist", "TaskTimedOut", "InvalidToken"}


@dataclass(frozen=True)
class Started:
    execution_arn: str
    # False: an execution of that name existed with other input (a redelivery). An identical input is answered
    # with the existing execution as if it were new; the caller's follow-up steps are idempotent either way.
    new: bool
    input: dict[str, Any] = field(default_factory=dict)  # the execution's input: the run document it started with


class Executions:
    def __init__(self, stepfunctions: Any, state_machine_arn: str) -> None:
        self.sfn, self.state_machine_arn = stepfunctions, state_machine_arn

    def start(self, name: str, document: dict[str, Any]) -> Started:
        """Start the execution `name` with `document` as input, once: a later call gets the first execution."""
        try:
            with aws_call(f"starting the execution {name}"):
                started = self.sfn.start_execution(
                    stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(document)
                )
        except AwsConflict:  # ExecutionAlreadyExists: this request's execution started before, with other input
            arn = self.execution_arn(name)
            return Started(arn, new=False, input=self.input_of(arn))
        return Started(str(started["executionArn"]), new=True, input=document)

    def describe(self, execution_arn: str) -> dict[str, Any]:
        with aws_call(f"looking at the execution {execution_arn}"):
            described: dict[str, Any] = self.sfn.describe_execution(executionArn=execution_arn)
        return described

    def input_of(self, execution_arn: str) -> dict[str, Any]:
        text = self.describe(execution_arn).get("input") or "{}"
        document = json.loads(text)
        return document if isinstance(document, dict) else {}

    def exists(self, name: str) -> bool:
        """Whether an execution of that name exists (DescribeExecution: no listing)."""
        try:
            self.describe(self.execution_arn(name))
        except AwsNotFound:
            return False
        return True

    def status(self, execution_arn: str) -> str:
        return str(self.describe(execution_arn)["status"])

    def execution_arn(self, name: str) -> str:
        """arn:aws:states:<region>:<account>:stateMachine:<machine> -> ...:execution:<machine>:<name>."""
        return self.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"

    def answer(self, task_token: str, output: dict[str, Any]) -> None:
        """Resume the paused run with the operator's decision."""
        self._send("answering the paused run", lambda: self.sfn.send_task_success(
            taskToken=task_token, output=json.dumps(output)))

    def refuse(self, task_token: str, error: str, cause: str) -> None:
        self._send("failing the paused run", lambda: self.sfn.send_task_failure(
            taskToken=task_token, error=error[:256], cause=cause[:32768]))

    def _send(self, what: str, call: Callable[[], object]) -> None:
        try:
            call()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in NO_LONGER_WAITING:
                raise RunStateError(f"{what}: the run is no longer waiting for an answer (it timed out or was "
                                    "answered already)") from exc
            raise translate(exc, what) from exc
