"""GIVEN an AWS account (moto in-process) and this checkout, WHEN `mlops aws deploy` runs (the real command line,
in-process, with the REAL templates of infra/cloudformation/), THEN new code updates the pipeline stack in place,
options reach the stacks and are kept by a deploy that does not repeat them, the account's GitHub OIDC provider is
reused, a failing stack exits 1 with CloudFormation's reason, and usage errors exit 2 before any AWS call. (The
first deploy and an unchanged second one: test_deploy_first.py.)

What moto does not do, and what stands in (see also conftest.py): moto's CloudFormation skips some resource types
of the real templates (the bucket policies, secrets, alarms, the trail, the OIDC provider, the SQS queue policy,
SNS subscriptions): the stacks are created without them, and the outputs that name them are left out by moto.
moto's ExecuteChangeSet never fails, so the failure test replaces it (conftest.fail_on_execute). The Lambda's
dependencies come from a wheelhouse of small wheels (the package index is out of reach).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from mlops.cli import main
from tests.deploy.conftest import ACCOUNT, REGION, Calls, fail_on_execute, write_wheel

BUCKET = f"mlops-deploy-{ACCOUNT}-{REGION}"
REPOSITORY = "octo-org/models"
VARIABLES = {"MLOPS_BACKEND", "MLOPS_AWS_REGION", "MLOPS_AWS_ROLE_ARN", "MLOPS_STATE_MACHINE_ARN", "MLOPS_BUCKET",
             "MLOPS_RUN_TABLE", "MLOPS_KMS_KEY_ID", "MLOPS_AUDIT_BUCKET", "MLOPS_MODEL_PACKAGE_GROUP_PREFIX"}

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS")


@pytest.fixture
def deploy(aws: None, wheelhouse: Path, offline_requirements: list[str],
           capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """`mlops aws deploy --stack mlops --repository octo-org/models ...`: (exit code, stdout, stderr)."""

    def run(*extra: str, wheels: Path = wheelhouse) -> tuple[int, str, str]:
        code = main(["aws", "deploy", "--stack", "mlops", "--repository", REPOSITORY, "--wheelhouse", str(wheels),
                     *extra])
        out, err = capsys.readouterr()
        return code, out, err

    yield run


def stack(name: str) -> dict[str, Any]:
    return dict(boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=name)["Stacks"][0])


def outputs(name: str) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack(name).get("Outputs", [])}


def parameters(name: str) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack(name)["Parameters"]}


def objects() -> dict[str, bytes]:
    s3 = boto3.client("s3", region_name=REGION)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}


# -- deploying again -------------------------------------------------------------------------------------------
def test_new_code_updates_the_pipeline_stack_in_place(deploy: Any, calls: Calls, tmp_path: Path,
                                                      offline_requirements: list[str]) -> None:
    assert deploy()[0] == 0
    first_id, first_key = stack("mlops")["StackId"], parameters("mlops")["LambdaCodeKey"]
    newer = tmp_path / "newer-wheels"
    newer.mkdir()
    write_wheel(newer, "lambdadep", version="2.0")  # a new release of a dependency: other bytes in the zip
    offline_requirements[:] = ["lambdadep==2.0"]
    calls.made.clear()
    code, out, err = deploy(wheels=newer)
    assert code == 0, err
    assert [p["ChangeSetType"] for p in calls.of("cloudformation", "CreateChangeSet")] == ["UPDATE", "UPDATE"]
    assert [p["StackName"] for p in calls.of("cloudformation", "ExecuteChangeSet")] == ["mlops"]
    assert stack("mlops")["StackId"] == first_id and stack("mlops")["StackStatus"] == "UPDATE_COMPLETE"
    assert parameters("mlops")["LambdaCodeKey"] not in (first_key, "")
    assert [p["Key"].split("/")[0] for p in calls.of("s3", "PutObject")] == ["lambda"]  # only what changed
    assert "mlops: updated (UPDATE_COMPLETE)" in out and "mlops-github: unchanged" in out


def test_options_reach_the_stacks_and_are_kept_by_a_deploy_that_does_not_repeat_them(deploy: Any) -> None:
    code, _, err = deploy("--no-cloudtrail", "--notification-email", "ops@example.com", "--environment", "prod",
                          "--manage-sagemaker-log-group")
    assert code == 0, err
    assert (parameters("mlops")["CreateCloudTrail"], parameters("mlops")["NotificationEmail"]) == (
        "false", "ops@example.com")
    assert parameters("mlops")["ManageSageMakerLogGroup"] == "true"
    assert outputs("mlops-github")["TrustedSubject"] == "repo:octo-org/models:environment:prod"
    assert deploy()[0] == 0
    assert parameters("mlops")["CreateCloudTrail"] == "false"
    assert parameters("mlops")["ManageSageMakerLogGroup"] == "true"  # kept
    assert deploy("--no-manage-sagemaker-log-group")[0] == 0
    assert parameters("mlops")["ManageSageMakerLogGroup"] == "false"
    assert outputs("mlops-github")["TrustedSubject"] == "repo:octo-org/models:environment:prod"
    assert deploy("--branch", "release")[0] == 0  # a branch replaces the environment
    assert outputs("mlops-github")["TrustedSubject"] == "repo:octo-org/models:ref:refs/heads/release"


def test_the_account_s_github_oidc_provider_is_reused(deploy: Any) -> None:
    iam = boto3.client("iam", region_name=REGION)
    arn = iam.create_open_id_connect_provider(Url="https://token.actions.githubusercontent.com",
                                              ClientIDList=["sts.amazonaws.com"])["OpenIDConnectProviderArn"]
    code, _, err = deploy()
    assert code == 0, err
    assert parameters("mlops-github")["ExistingOidcProviderArn"] == arn
    assert f"reusing the account's GitHub OIDC provider {arn}" in err


# -- failures ----------------------------------------------------------------------------------------------------
def test_a_failing_stack_exits_1_with_cloudformation_s_reason(deploy: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    reason = "Resource handler returned message: \"Bucket mlops-audit already exists\""
    fail_on_execute(monkeypatch, "AuditBucket", reason, "AWS::S3::Bucket")
    code, out, err = deploy()
    assert code == 1
    assert "stack mlops failed: ROLLBACK_COMPLETE" in err
    assert f"AuditBucket (AWS::S3::Bucket): {reason}" in err
    assert "Traceback" not in err and out == ""
    with pytest.raises(Exception, match="does not exist"):
        stack("mlops-github")  # the OIDC stack is not attempted without the pipeline's outputs


@pytest.mark.parametrize(("argv", "message"), [
    (["--repository", "octo-org"], "--repository: 'octo-org' is not OWNER/NAME"),
    (["--stack", "9lives"], "--stack: '9lives' is not a stack name"),
    (["--templates", "/nonexistent"], "--templates: '/nonexistent' does not hold mlops-pipeline.yml"),
    (["--set-variables"], "--set-variables: no token; set GITHUB_TOKEN or GH_TOKEN"),
    (["--store-github-token"], "--store-github-token: no token; set GITHUB_TOKEN or GH_TOKEN"),
])
def test_usage_errors_exit_2_before_anything_is_deployed(deploy: Any, calls: Calls, argv: list[str],
                                                         message: str) -> None:
    code, _, err = deploy(*argv)
    assert code == 2
    assert message in err
    assert calls.made == []


def test_branch_and_environment_together_are_refused(deploy: Any) -> None:
    with pytest.raises(SystemExit) as exit_:
        deploy("--branch", "main", "--environment", "prod")
    assert exit_.value.code == 2


def test_mlops_aws_alone_shows_its_commands_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["aws"]) == 2
    err = capsys.readouterr().err
    assert "deploy" in err and "status" in err
