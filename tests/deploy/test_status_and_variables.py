"""GIVEN a deployment on moto, WHEN `mlops aws status` runs, THEN it shows each stack's state, when it last changed and
its outputs (or --json), finds the deployments by their tag when no --stack is given, and exits 1 when a stack is
missing or failed. WHEN `mlops aws deploy --set-variables` runs with a token, THEN the repository variables are
created or updated through GitHub's REST API (the loopback fake GitHub, every request checked against GitHub's
OpenAPI description).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from fake_github import FakeGitHub

from mlops.cli import main
from tests.deploy.conftest import REGION

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS")


@pytest.fixture
def mlops(aws: None, wheelhouse: Path, offline_requirements: list[str],
          capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Run `mlops ARGS...` in-process: (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield run


def deploy_args(*extra: str, stack: str = "mlops", wheelhouse: Path) -> list[str]:
    return ["aws", "deploy", "--stack", stack, "--repository", "Codertocat/Hello-World", "--wheelhouse",
            str(wheelhouse), *extra]


def outputs(name: str) -> dict[str, str]:
    stack = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


# -- status -----------------------------------------------------------------------------------------------------
def test_status_shows_both_stacks_their_state_and_outputs(mlops: Any, wheelhouse: Path) -> None:
    assert mlops(*deploy_args(wheelhouse=wheelhouse))[0] == 0
    code, out, _ = mlops("aws", "status", "--stack", "mlops")
    assert code == 0
    assert "mlops: CREATE_COMPLETE" in out and "mlops-github: CREATE_COMPLETE" in out
    assert "  last updated " in out
    pipeline = outputs("mlops")
    assert "StateMachineArn  " in out and pipeline["StateMachineArn"] in out
    assert outputs("mlops-github")["RoleArn"] in out


def test_status_json_and_every_deployment_found_by_its_tag(mlops: Any, wheelhouse: Path) -> None:
    assert mlops(*deploy_args(wheelhouse=wheelhouse))[0] == 0
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="someone-else", TemplateBody='{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}')
    code, out, _ = mlops("aws", "status", "--json")
    assert code == 0
    document = json.loads(out)
    assert [s["stack"] for s in document["stacks"]] == ["mlops", "mlops-github"]  # not someone-else
    assert document["healthy"] is True
    assert document["stacks"][0]["outputs"] == outputs("mlops")
    assert all(s["status"] == "CREATE_COMPLETE" and s["last_updated"] for s in document["stacks"])


def test_status_of_a_deployment_that_is_not_there_exits_1(mlops: Any) -> None:
    code, out, _ = mlops("aws", "status", "--stack", "nope")
    assert code == 1
    assert "nope: NOT_DEPLOYED" in out and "nope-github: NOT_DEPLOYED" in out
    code, _, err = mlops("aws", "status")
    assert code == 1
    assert "no mlops deployment in this region" in err


def test_status_of_a_failed_stack_exits_1_and_shows_why(mlops: Any, wheelhouse: Path) -> None:
    assert mlops(*deploy_args(wheelhouse=wheelhouse))[0] == 0
    from moto.cloudformation import models

    backend = models.cloudformation_backends["123456789012"][REGION]
    failed = next(s for s in backend.stacks.values() if s.name == "mlops-github")
    failed.status, failed.status_reason = "UPDATE_ROLLBACK_COMPLETE", "The following resource(s) failed: Role"
    code, out, _ = mlops("aws", "status", "--stack", "mlops")
    assert code == 1
    assert "mlops: CREATE_COMPLETE" in out and "mlops-github: UPDATE_ROLLBACK_COMPLETE" in out


def test_status_needs_a_region(mlops: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    code, _, err = mlops("aws", "status")
    assert code == 2 and "AWS_REGION: not set" in err
    assert mlops("aws", "status", "--region", REGION)[0] == 1  # --region is enough (and there is nothing there)


# -- --set-variables ----------------------------------------------------------------------------------------------
@pytest.fixture
def fake_github(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        yield fake
    assert not fake.problems, "\n".join(fake.problems)


def test_set_variables_creates_and_updates_the_repository_variables(
        mlops: Any, wheelhouse: Path, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_github.set_variable("MLOPS_BACKEND", "local")  # set by hand before: updated
    fake_github.set_variable("MLOPS_RUNNER", "gpu-box")  # not the deploy's: left alone
    monkeypatch.setenv("GH_TOKEN", "a-token")
    code, out, err = mlops(*deploy_args("--set-variables", wheelhouse=wheelhouse))
    assert code == 0, err
    pipeline, oidc = outputs("mlops"), outputs("mlops-github")
    assert fake_github.variables == {
        "MLOPS_BACKEND": "aws", "MLOPS_RUNNER": "gpu-box", "MLOPS_AWS_REGION": REGION,
        "MLOPS_AWS_ROLE_ARN": oidc["RoleArn"], "MLOPS_STATE_MACHINE_ARN": pipeline["StateMachineArn"],
        "MLOPS_BUCKET": pipeline["ArtifactBucketName"], "MLOPS_RUN_TABLE": pipeline["RunTableName"],
        "MLOPS_KMS_KEY_ID": pipeline["KmsKeyArn"], "MLOPS_AUDIT_BUCKET": pipeline["AuditBucketName"],
        "MLOPS_MODEL_PACKAGE_GROUP_PREFIX": pipeline["ModelPackageGroupPrefix"],
    }
    assert "MLOPS_BACKEND = aws (updated)" in out and "MLOPS_BUCKET = " in out and "(created)" in out
    assert "gh variable set" not in out
    assert "a-token" not in out + err  # the token is never printed
    code, out, _ = mlops(*deploy_args("--set-variables", wheelhouse=wheelhouse))
    assert code == 0 and out.count("(unchanged)") == 9
    writes = [r for r in fake_github.requests if r[0] in ("POST", "PATCH")]
    assert len(writes) == 9  # eight created and one updated the first time; nothing written the second time


def test_a_token_that_may_not_write_variables_is_a_clear_error(
        mlops: Any, wheelhouse: Path, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "a-token")
    fake_github.fail_next(count=20, status=403, path_contains="/actions/variables")
    code, _, err = mlops(*deploy_args("--set-variables", wheelhouse=wheelhouse))
    assert code == 1
    assert "GitHub API: setting the repository variable MLOPS_AUDIT_BUCKET: 403" in err


# -- --store-github-token ---------------------------------------------------------------------------------------
def test_the_github_token_goes_into_the_stack_s_secret_and_nowhere_else(aws: None) -> None:
    """moto's CloudFormation does not create the stack's secrets (it skips the resource type), so the secret is
    made here as the template makes it, and the function gets the output that names it."""
    from mlops.deploy.secrets import store_github_token
    from mlops.errors import DeployError

    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(Name="GitHubTokenSecret-abc", SecretString="UNSET - put the token")["ARN"]
    assert store_github_token(secrets, {"GitHubTokenSecretArn": arn}, "ghp_secret") == arn
    assert secrets.get_secret_value(SecretId=arn)["SecretString"] == "ghp_secret"
    with pytest.raises(DeployError, match="no output GitHubTokenSecretArn"):
        store_github_token(secrets, {}, "ghp_secret")
