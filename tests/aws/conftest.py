"""The AWS adapters run against moto in-process: no network, no credentials of anyone's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from mlops.backends.aws.clients import AwsClients
from mlops.backends.aws.dynamodb_table import TABLE_DEFINITION, Table
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

