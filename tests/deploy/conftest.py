"""`mlops aws deploy` against moto in-process (no network, nobody's credentials) and the fake GitHub on loopback.

The Lambda bundle's dependency step runs pip for real, offline, from a wheelhouse of small wheels written here
(`wheelhouse`): the real dependencies (pydantic-core's manylinux wheel for Python 3.12...) need the package index,
which tests cannot reach.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from moto import mock_aws
from moto.cloudformation import models as cfn_models
from moto.s3 import models as s3_models

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "github"))  # the fake GitHub's modules

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


def use_fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake keys, and none of the developer's AWS configuration or GitHub token leaks into a test."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
                 "AWS_DEFAULT_REGION", "GITHUB_TOKEN", "GH_TOKEN", "GITHUB_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_credentials(monkeypatch)


def complete_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto, with its bucket policies evaluated as AWS evaluates them for HTTPS requests and ExecuteChangeSet
    leaving the stack as CloudFormation does (see below)."""
    monkeypatch.setattr(s3_models.FakeBucket, "get_permission", _permission_over_https)
    monkeypatch.setattr(cfn_models.CloudFormationBackend, "execute_change_set", _execute_and_keep_the_result)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    complete_moto(monkeypatch)
    with mock_aws():
        yield


_moto_execute = cfn_models.CloudFormationBackend.execute_change_set


def _execute_and_keep_the_result(backend: Any, change_set_name: str, stack_name: str | None = None) -> None:
    """moto 5.2.5's ExecuteChangeSet applies the template's resources but leaves the stack's outputs and its
    recorded parameters as they were before (none at all after a CREATE change set). CloudFormation's stack has the
    executed template's outputs and all its parameters: do what moto's own UpdateStack does to get there."""
    _moto_execute(backend, change_set_name, stack_name)
    change_set = backend.describe_change_set(change_set_name)
    stack = backend.stacks[change_set.stack_id]
    stack._parse_template()
    # every parameter, defaults included, as CloudFormation keeps them (moto compares the next change set's
    # parameters with these: left as given, a default taken at creation would look changed on every update)
    stack.parameters = dict(stack.stack_parameters)
    stack.resource_map.input_parameters = dict(stack.stack_parameters)
    stack.output_map = stack._create_output_map()


_moto_permission = s3_models.FakeBucket.get_permission


def _permission_over_https(bucket: Any, action: str, resource: str) -> Any:
    """moto evaluates a bucket policy ignoring its conditions, so the deployment bucket's TLS-only statement
    (Deny unless aws:SecureTransport) would refuse every request. Every request here is HTTPS, so that statement
    does not apply, as on AWS; the rest of the policy is moto's to evaluate."""
    if bucket.policy is None:
        return _moto_permission(bucket, action, resource)
    policy = json.loads(bucket.policy)
    kept = [s for s in policy["Statement"] if s.get("Condition") != {"Bool": {"aws:SecureTransport": "false"}}]
    original, bucket.policy = bucket.policy, json.dumps({**policy, "Statement": kept}).encode()
    try:
        return _moto_permission(bucket, action, resource) if kept else s3_models_neutral()
    finally:
        bucket.policy = original


def s3_models_neutral() -> Any:
    from moto.iam.access_control import PermissionResult

    return PermissionResult.NEUTRAL


def write_wheel(directory: Path, name: str, version: str = "1.0", tag: str = "py3-none-any",
                files: dict[str, str] | None = None) -> Path:
    """A real wheel (PEP 427: the files, METADATA, WHEEL and a RECORD with their hashes), written by hand."""
    files = files or {f"{name}/__init__.py": f"VERSION = {version!r}\n"}
    info = f"{name}-{version}.dist-info"
    contents = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: {tag}\n",
    }
    record = [f"{path},sha256={_digest(text)},{len(text.encode())}" for path, text in contents.items()]
    contents[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    wheel = directory / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
    return wheel


def _digest(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheelhouse with one small pure-Python wheel, `lambdadep`."""
    directory = tmp_path_factory.mktemp("wheelhouse")
    write_wheel(directory, "lambdadep")
    return directory


@pytest.fixture
def offline_requirements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The Lambda's requirements, as the wheelhouse can meet them: `lambdadep` instead of the real ones."""
    requirements = ["lambdadep==1.0"]
    monkeypatch.setattr("mlops.deploy.bundle.lambda_requirements", lambda: list(requirements))
    return requirements


def fail_on_execute(monkeypatch: pytest.MonkeyPatch, resource: str, reason: str,
                    resource_type: str = "AWS::IAM::Role") -> None:
    """moto's ExecuteChangeSet as CloudFormation behaves when `resource` fails: its event, the cancelled ones,
    the rollback; the stack ends ROLLBACK_COMPLETE (a create) or UPDATE_ROLLBACK_COMPLETE (an update)."""

    def execute(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.describe_change_set(change_set_name)
        stack, kind = self.stacks[change_set.stack_id], change_set.change_set_type
        stack._add_stack_event(f"{kind}_IN_PROGRESS", resource_status_reason="User Initiated")
        for logical_id, status, why in ((resource, f"{kind}_FAILED", reason),
                                        ("Other", f"{kind}_FAILED", "Resource creation cancelled")):
            stack.events.append(cfn_models.Event(
                stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
                physical_resource_id="", resource_type=resource_type, resource_status=status,
                resource_status_reason=why, resource_properties=None))
        final = "ROLLBACK_COMPLETE" if kind == "CREATE" else "UPDATE_ROLLBACK_COMPLETE"
        stack._add_stack_event(final)
        stack.status = final
        change_set.execution_status = "EXECUTE_COMPLETE"

    monkeypatch.setattr(cfn_models.CloudFormationBackend, "execute_change_set", execute)


class Calls:
    """Every AWS call made (service, operation, parameters), as botocore sends it."""

    def __init__(self) -> None:
        self.made: list[tuple[str, str, dict[str, Any]]] = []

    def of(self, service: str, operation: str | None = None) -> list[Any]:
        return [(op, params) if operation is None else params for svc, op, params in self.made
                if svc == service and operation in (None, op)]

    def operations(self, service: str) -> list[str]:
        return [op for svc, op, _ in self.made if svc == service and not op.startswith(("Describe", "List", "Get"))]


def record_calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    recorded = Calls()
    make_api_call = BaseClient._make_api_call

    def recording(client: Any, operation: str, params: dict[str, Any]) -> Any:
        recorded.made.append((client.meta.service_model.service_name, operation, dict(params)))
        return make_api_call(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return recorded


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    return record_calls(monkeypatch)
