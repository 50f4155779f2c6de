"""moto's Step Functions with its interpreter on (moto vendors LocalStack's): a state machine really runs."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

REGION = "us-east-1"
ACCOUNT = "123456789012"
SFN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlops-states"
ENDED = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")


@pytest.fixture
def sfn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    import boto3
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        yield boto3.client("stepfunctions", region_name=REGION)


def substitute(template: str, extra: dict[str, str] | None = None) -> str:
    """What CloudFormation's DefinitionSubstitutions does: every `${Name}` replaced."""
    values = {"SageMakerRoleArn": f"arn:aws:iam::{ACCOUNT}:role/mlops-training", "TrainingInstanceType": "ml.m5.large",
              "TrainingImage": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops-training:latest", **(extra or {})}

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return values.get(name) or f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name.removesuffix('FunctionArn')}"

    return re.sub(r"\$\{(\w+)\}", value, template)


def create(sfn: Any, definition: str, name: str = "mlops-pipeline") -> str:
    return str(sfn.create_state_machine(name=name, definition=definition, roleArn=SFN_ROLE)["stateMachineArn"])


def execute(sfn: Any, machine: str, document: dict[str, Any], name: str, until: tuple[str, ...] = ENDED,
            timeout: float = 60.0) -> dict[str, Any]:
    arn = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(document))["executionArn"]
    return wait(sfn, arn, until, timeout)


def wait(sfn: Any, arn: str, until: tuple[str, ...] = ENDED, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] in until or time.monotonic() > deadline:
            return described
        time.sleep(0.02)


def entered(sfn: Any, arn: str) -> list[str]:
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
