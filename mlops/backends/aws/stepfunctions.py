"""Step Functions, as the action uses it: start one execution per request, look at it, answer a paused run.

Only StartExecution, DescribeExecution, SendTaskSuccess and SendTaskFailure: the action's role allows nothing
more. An execution's name is the training id, so a redelivered request cannot start a second run: Step Functions
answers the same input with the existing execution and a different one with ExecutionAlreadyExists; either way
the caller gets the one execution's ARN and learns it was not started now.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from mlops.backends.aws.clients import aws_call, translate
from mlops.errors import AwsConflict, AwsNotFound, RunStateError

NO_LONGER_WAITING = {"TaskDoesNotExist", "TaskTimedOut", "InvalidToken"}


@dataclass(frozen=True)
class Started:
    execution_arn: str
    new: bool  # False: the execution existed already (a redelivery)


class Executions:
    def __init__(self, stepfunctions: Any, state_machine_arn: str) -> None:
        self.sfn, self.state_machine_arn = stepfunctions, state_machine_arn

    def start(self, name: str, document: dict[str, Any]) -> Started:
        """Start the execution `name` with `document` as input, once: a second call finds the first."""
        arn = self.execution_arn(name)
        if self._exists(arn):
            return Started(arn, new=False)
        try:
            with aws_call(f"starting the execution {name}"):
                started = self.sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name,
                                                   input=json.dumps(document))
        except AwsConflict:  # another delivery started it between our look and our start
            return Started(arn, new=False)
        return Started(str(started["executionArn"]), new=True)

    def status(self, execution_arn: str) -> str:
        with aws_call(f"looking at the execution {execution_arn}"):
            return str(self.sfn.describe_execution(executionArn=execution_arn)["status"])

    def execution_arn(self, name: str) -> str:
        """arn:aws:states:<region>:<account>:stateMachine:<machine> -> ...:execution:<machine>:<name>."""
        return self.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"

    def _exists(self, arn: str) -> bool:
        try:
            self.status(arn)
        except AwsNotFound:
            return False
        return True

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
