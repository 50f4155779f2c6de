"""The AWS adapters run against moto in-process: no network, no credentials of anyone's. moto's Step Functions
runs with its interpreter on (moto vendors LocalStack's): a state machine really runs."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from mlops.backends.aws.clients import AwsClients
from mlops.backends.aws.dynamodb_table import TABLE_DEFINITION, Table
from mlops.backends.aws.training_job import JobConfig
from mlops.settings import AwsSettings

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake keys, and none of the developer's AWS configuration leaks into a test."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.fixture
def aws() -> Iterator[AwsClients]:
    """Clients on a fresh moto account, made by the project's one factory."""
    with mock_aws():
        yield AwsClients(AwsSettings(region=REGION, max_attempts=2))


@pytest.fixture
def table(aws: AwsClients) -> Table:
    """The run table, created from the definition the deployment mirrors."""
    aws.client("dynamodb").create_table(TableName="mlops-runs", **TABLE_DEFINITION)
    return Table(aws.client("dynamodb"), "mlops-runs")


ACCOUNT = "123456789012"
SFN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlops-states"
ENDED = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")


@pytest.fixture
def sfn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    import boto3

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        yield boto3.client("stepfunctions", region_name=REGION)


# The deployment's side of the training jobs, as the pipeline stack substitutes it into the state machine.
JOB_CONFIG = JobConfig(region=REGION, role_arn=f"arn:aws:iam::{ACCOUNT}:role/mlops-training",
                       kms_key_id=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab")


def substitute(template: str, extra: dict[str, str] | None = None) -> str:
    """What CloudFormation's DefinitionSubstitutions does: every `${Name}` replaced."""
    values = {**JOB_CONFIG.substitutions(), **(extra or {})}

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
