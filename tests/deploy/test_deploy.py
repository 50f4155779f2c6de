"""GIVEN an empty AWS account (moto in-process) and this checkout, WHEN `mlops aws deploy` runs (the real command
line, in-process), THEN it makes the deployment bucket locked down, uploads the Lambda bundle, the training source,
the state machine definition and both templates under content-addressed keys, creates the REAL pipeline stack
(infra/cloudformation/mlops-pipeline.yml) and then the REAL OIDC stack with the pipeline's outputs as parameters,
through change sets, and prints the repository variables; a second deploy updates the same stacks, or changes
nothing when nothing changed; a failing stack exits 1 with CloudFormation's reason.

What moto does not do, and what stands in (see also conftest.py): moto's CloudFormation skips some resource types
of the real templates (the bucket policies, secrets, alarms, the trail, the OIDC provider, the SQS queue policy):
the stacks are created without them, and the outputs that name them are left out by moto. moto's ExecuteChangeSet
never fails, so the failure test replaces it (conftest.fail_on_execute). The Lambda's dependencies come from a
wheelhouse of small wheels (the package index is out of reach).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from mlops.cli import main
from mlops.deploy import stacks
from tests.deploy.conftest import ACCOUNT, REGION, fail_on_execute, write_wheel

BUCKET = f"mlops-deploy-{ACCOUNT}-{REGION}"
REPOSITORY = "octo-org/models"
VARIABLES = {"MLOPS_BACKEND", "MLOPS_AWS_REGION", "MLOPS_AWS_ROLE_ARN", "MLOPS_STATE_MACHINE_ARN", "MLOPS_BUCKET",
             "MLOPS_RUN_TABLE", "MLOPS_KMS_KEY_ID"}

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS")


class Calls:
    """Every AWS call made (service, operation, parameters), as botocore sends it."""

    def __init__(self) -> None:
        self.made: list[tuple[str, str, dict[str, Any]]] = []

    def of(self, service: str, operation: str | None = None) -> list[Any]:
        return [(op, params) if operation is None else params for svc, op, params in self.made
                if svc == service and operation in (None, op)]

    def operations(self, service: str) -> list[str]:
        return [op for svc, op, _ in self.made if svc == service and not op.startswith(("Describe", "List", "Get"))]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    recorded = Calls()
    make_api_call = BaseClient._make_api_call

    def recording(client: Any, operation: str, params: dict[str, Any]) -> Any:
        recorded.made.append((client.meta.service_model.service_name, operation, dict(params)))
        return make_api_call(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return recorded


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


# -- a first deploy ---------------------------------------------------------------------------------------------
def test_a_first_deploy_creates_both_stacks_through_change_sets_in_order(deploy: Any, calls: Calls) -> None:
    code, _, err = deploy()
    assert code == 0, err
    created = [(p["StackName"], p["ChangeSetType"]) for p in calls.of("cloudformation", "CreateChangeSet")]
    assert created == [("mlops", "CREATE"), ("mlops-github", "CREATE")]
    assert calls.operations("cloudformation") == ["CreateChangeSet", "ExecuteChangeSet"] * 2
    assert "CreateStack" not in {op for op, _ in calls.of("cloudformation")}
    assert stack("mlops")["StackStatus"] == stack("mlops-github")["StackStatus"] == "CREATE_COMPLETE"
    # progress while CloudFormation works, on stderr: the change set's resources, then the stack's events
    assert "AWS::StepFunctions::StateMachine     StateMachine" in err
    assert "CREATE_COMPLETE      AWS::CloudFormation::Stack           mlops-github" in err


def test_the_bundles_are_uploaded_under_their_sha256_and_the_stack_is_made_from_them(deploy: Any) -> None:
    code, _, err = deploy()
    assert code == 0, err
    stored = objects()
    for key, body in stored.items():
        digest = key.split("/")[1]
        assert digest == hashlib.sha256(body).hexdigest(), key  # the key names the content
    names = {key.split("/")[0] + "/" + key.split("/")[2] for key in stored}
    assert names == {"lambda/mlops-lambda.zip", "training/sourcedir.tar.gz", "templates/mlops-pipeline.yml",
                     "templates/github-oidc.yml", "templates/state-machine.asl.json"}
    given = parameters("mlops")
    assert given["CodeBucket"] == BUCKET
    assert given["LambdaCodeKey"].startswith("lambda/") and given["LambdaCodeKey"] in stored
    assert given["TrainingSourceKey"].startswith("training/") and given["TrainingSourceKey"] in stored
    assert stored[given["StateMachineDefinitionKey"]] == (Path("infra/cloudformation/state-machine.asl.json")
                                                          .read_bytes())
    # every Lambda of the stack runs the uploaded bundle
    bundle = stored[given["LambdaCodeKey"]]
    lambdas = boto3.client("lambda", region_name=REGION).list_functions()["Functions"]
    assert len(lambdas) >= 10
    assert {f["CodeSha256"] for f in lambdas} == {base64.b64encode(hashlib.sha256(bundle).digest()).decode()}
    assert {f["Handler"].rsplit(".", 1)[0] for f in lambdas} == {"mlops.handlers"}


def test_the_deployment_bucket_is_private_encrypted_versioned_and_tls_only(deploy: Any) -> None:
    assert deploy()[0] == 0
    s3 = boto3.client("s3", region_name=REGION)
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"].values())
    [statement] = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Deny", "s3:*")
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_oidc_stack_gets_the_pipeline_s_outputs_and_the_repository(deploy: Any) -> None:
    assert deploy()[0] == 0
    pipeline, oidc = outputs("mlops"), parameters("mlops-github")
    for name in stacks.GITHUB_OIDC_RESOURCE_PARAMETERS:
        assert oidc[name] == pipeline[name], name
    assert (oidc["GitHubOwner"], oidc["GitHubRepo"]) == ("octo-org", "models")
    assert outputs("mlops-github")["TrustedSubject"] == "repo:octo-org/models:ref:refs/heads/main"


def test_the_repository_variables_are_printed_from_the_stacks_outputs(deploy: Any) -> None:
    code, out, _ = deploy()
    assert code == 0
    pipeline, oidc = outputs("mlops"), outputs("mlops-github")
    expected = {
        "MLOPS_BACKEND": "aws", "MLOPS_AWS_REGION": REGION, "MLOPS_AWS_ROLE_ARN": oidc["RoleArn"],
        "MLOPS_STATE_MACHINE_ARN": pipeline["StateMachineArn"], "MLOPS_BUCKET": pipeline["ArtifactBucketName"],
        "MLOPS_RUN_TABLE": pipeline["RunTableName"], "MLOPS_KMS_KEY_ID": pipeline["KmsKeyArn"],
    }
    assert set(expected) == VARIABLES
    for name, value in expected.items():
        assert f"gh variable set {name} --repo {REPOSITORY} --body '{value}'" in out
    assert "mlops: created (CREATE_COMPLETE)" in out and "mlops-github: created (CREATE_COMPLETE)" in out


def test_json_gives_the_stacks_the_keys_and_the_variables(deploy: Any) -> None:
    code, out, _ = deploy("--json")
    assert code == 0
    document = json.loads(out)
    assert [(s["stack"], s["action"]) for s in document["stacks"]] == [("mlops", "created"),
                                                                        ("mlops-github", "created")]
    assert set(document["variables"]) == VARIABLES
    assert document["artifacts"]["lambda"]["key"] == parameters("mlops")["LambdaCodeKey"]
    assert document["stacks"][0]["outputs"] == outputs("mlops")


# -- deploying again ---------------------------------------------------------------------------------------------
def test_a_second_deploy_of_the_same_code_changes_and_uploads_nothing(deploy: Any, calls: Calls) -> None:
    assert deploy()[0] == 0
    ids = (stack("mlops")["StackId"], stack("mlops-github")["StackId"])
    calls.made.clear()
    code, out, err = deploy()
    assert code == 0, err
    assert [p["ChangeSetType"] for p in calls.of("cloudformation", "CreateChangeSet")] == ["UPDATE", "UPDATE"]
    assert "ExecuteChangeSet" not in calls.operations("cloudformation")
    assert calls.of("s3", "PutObject") == [] and calls.of("s3", "CreateBucket") == []
    assert (stack("mlops")["StackId"], stack("mlops-github")["StackId"]) == ids
    assert "mlops: unchanged" in out and "mlops-github: unchanged" in out


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
    code, _, err = deploy("--no-cloudtrail", "--notification-email", "ops@example.com", "--environment", "prod")
    assert code == 0, err
    assert (parameters("mlops")["CreateCloudTrail"], parameters("mlops")["NotificationEmail"]) == (
        "false", "ops@example.com")
    assert outputs("mlops-github")["TrustedSubject"] == "repo:octo-org/models:environment:prod"
    assert deploy()[0] == 0
    assert parameters("mlops")["CreateCloudTrail"] == "false"
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
