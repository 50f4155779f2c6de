"""Step Functions on moto's interpreter: one execution per request whatever the deliveries, and a paused run
resumed with the operator's answer."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from mlops.backends.aws.clients import AwsClients
from mlops.backends.aws.stepfunctions import Executions
from mlops.errors import RunStateError
from mlops.settings import AwsSettings

PAUSE = {
    "StartAt": "AwaitOperator",
    "States": {
        "AwaitOperator": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "TimeoutSeconds": 30,
            "Parameters": {"FunctionName": "notify", "Payload": {"task_token.$": "$$.Task.Token"}},
            "Catch": [{"ErrorEquals": ["OperatorAborted"], "Next": "Aborted"}], "End": True,
        },
        "Aborted": {"Type": "Fail", "Error": "OperatorAborted"},
    },
}


@pytest.fixture
def executions() -> Iterator[Executions]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        clients = AwsClients(AwsSettings(region="us-east-1", max_attempts=1))
        machine = clients.client("stepfunctions").create_state_machine(
            name="mlops", definition=json.dumps(PAUSE), roleArn="arn:aws:iam::123456789012:role/sfn"
        )["stateMachineArn"]
        yield Executions(clients.client("stepfunctions"), machine)


def paused_token(executions: Executions, arn: str) -> str:
    for _ in range(200):
        events = executions.sfn.get_execution_history(executionArn=arn)["events"]
        scheduled = [e for e in events if e["type"] == "TaskScheduled"]
        if scheduled:
            return str(json.loads(scheduled[-1]["taskScheduledEventDetails"]["parameters"])["Payload"]["task_token"])
        time.sleep(0.02)
    raise AssertionError("the execution never paused")


def final_status(executions: Executions, arn: str) -> str:
    for _ in range(200):
        if (status := executions.status(arn)) != "RUNNING":
            return status
        time.sleep(0.02)
    return "RUNNING"


def test_a_request_delivered_three_times_starts_one_execution(executions: Executions) -> None:
    first = executions.start("train-20250110-123456-abcd", {"training_id": "train-20250110-123456-abcd"})
    # WHEN the same request is delivered again, and once more with a changed body
    again = executions.start("train-20250110-123456-abcd", {"training_id": "train-20250110-123456-abcd"})
    edited = executions.start("train-20250110-123456-abcd", {"training_id": "train-20250110-123456-abcd", "x": 1})
    # THEN one execution, the same ARN each time; other input is told apart (Step Functions refuses it), the
    # same input is answered with the existing execution, and the execution keeps the first input
    assert first.new and not edited.new
    assert edited.input == {"training_id": "train-20250110-123456-abcd"}
    assert first.execution_arn == again.execution_arn == edited.execution_arn
    assert first.execution_arn.endswith(":execution:mlops:train-20250110-123456-abcd")
    listed = executions.sfn.list_executions(stateMachineArn=executions.state_machine_arn)["executions"]
    assert len(listed) == 1
    executions.answer(paused_token(executions, first.execution_arn), {"action": "abort"})


def test_an_answer_resumes_the_paused_run_with_the_operator_s_decision(executions: Executions) -> None:
    started = executions.start("train-1", {})
    token = paused_token(executions, started.execution_arn)
    executions.answer(token, {"action": "retrain", "overrides": {"n_estimators": 300}})
    assert final_status(executions, started.execution_arn) == "SUCCEEDED"
    output = executions.sfn.describe_execution(executionArn=started.execution_arn)["output"]
    assert json.loads(output) == {"action": "retrain", "overrides": {"n_estimators": 300}}


def test_a_refusal_fails_the_paused_run_with_the_named_error(executions: Executions) -> None:
    started = executions.start("train-2", {})
    executions.refuse(paused_token(executions, started.execution_arn), "OperatorAborted", "aborted by alice")
    assert final_status(executions, started.execution_arn) == "FAILED"


def test_a_token_nobody_waits_on_says_so(executions: Executions, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_task(**_: object) -> None:
        raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "Task Timed Out"}}, "SendTaskSuccess")

    monkeypatch.setattr(executions.sfn, "send_task_success", no_task)  # moto accepts any token: AWS's answer
    with pytest.raises(RunStateError, match="no longer waiting for an answer"):
        executions.answer("stale-token", {"action": "retrain"})
