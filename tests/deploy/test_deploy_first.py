"""GIVEN an empty AWS account (moto in-process) and this checkout, WHEN `mlops aws deploy` runs for the first time
(the real command line, in-process, with the REAL templates), THEN it creates the pipeline stack and then the OIDC
stack through CREATE change sets, uploads the bundles, the definition and the templates under keys that carry
their sha256 to a deployment bucket it locks down, every Lambda runs the uploaded zip, the OIDC stack gets the
pipeline's outputs, and the repository variables are printed from the outputs. AND WHEN it runs again with the same
code, THEN nothing is uploaded, two UPDATE change sets find no changes and nothing is executed.

One deploy (and one redeploy) serves every test of this module: each only reads what it left behind. What moto
does not do and what stands in for it: see test_deploy.py's docstring and conftest.py.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from mlops.cli import main
from mlops.deploy import stacks
from tests.deploy.conftest import REGION, Calls, complete_moto, record_calls, use_fake_credentials
from tests.deploy.test_deploy import BUCKET, REPOSITORY, VARIABLES, objects, outputs, parameters, stack

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS")


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_deploy(wheelhouse: Path, *extra: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["aws", "deploy", "--stack", "mlops", "--repository", REPOSITORY, "--wheelhouse",
                     str(wheelhouse), *extra])
    return Run(code, out.getvalue(), err.getvalue())


@dataclass
class Deployed:
    first: Run
    calls: Calls  # every AWS call since the first deploy began
    wheelhouse: Path


@pytest.fixture(scope="module")
def deployed(wheelhouse: Path) -> Iterator[Deployed]:
    with pytest.MonkeyPatch.context() as patch:
        use_fake_credentials(patch)
        complete_moto(patch)
        patch.setattr("mlops.deploy.bundle.lambda_requirements", lambda: ["lambdadep==1.0"])
        calls = record_calls(patch)
        with mock_aws():
            first = run_deploy(wheelhouse)
            assert first.code == 0, first.err
            yield Deployed(first, calls, wheelhouse)


def test_both_stacks_are_created_through_change_sets_pipeline_first(deployed: Deployed) -> None:
    calls = deployed.calls
    created = [(p["StackName"], p["ChangeSetType"]) for p in calls.of("cloudformation", "CreateChangeSet")]
    assert created == [("mlops", "CREATE"), ("mlops-github", "CREATE")]
    assert calls.operations("cloudformation") == ["CreateChangeSet", "ExecuteChangeSet"] * 2
    assert stack("mlops")["StackStatus"] == stack("mlops-github")["StackStatus"] == "CREATE_COMPLETE"
    # progress while CloudFormation works, on stderr: the change set's resources, then the stack's events
    assert "AWS::StepFunctions::StateMachine     StateMachine" in deployed.first.err
    assert "CREATE_COMPLETE      AWS::CloudFormation::Stack           mlops-github" in deployed.first.err


def test_the_bundles_are_uploaded_under_their_sha256_and_the_stack_is_made_from_them(deployed: Deployed) -> None:
    stored = objects()
    for key, body in stored.items():
        assert key.split("/")[1] == hashlib.sha256(body).hexdigest(), key  # the key names the content
    names = {key.split("/")[0] + "/" + key.split("/")[2] for key in stored}
    assert names == {"lambda/mlops-lambda.zip", "training/sourcedir.tar.gz", "templates/mlops-pipeline.yml",
                     "templates/github-oidc.yml", "templates/state-machine.asl.json"}
    given = parameters("mlops")
    assert given["CodeBucket"] == BUCKET
    assert given["LambdaCodeKey"].startswith("lambda/") and given["LambdaCodeKey"] in stored
    assert given["TrainingSourceKey"].startswith("training/") and given["TrainingSourceKey"] in stored
    assert stored[given["StateMachineDefinitionKey"]] == (Path("infra/cloudformation/state-machine.asl.json")
                                                          .read_bytes())
    create = deployed.calls.of("cloudformation", "CreateChangeSet")[0]
    assert create["TemplateURL"] == f"https://{BUCKET}.s3.{REGION}.amazonaws.com/" + next(
        key for key in stored if key.endswith("mlops-pipeline.yml"))
    # every Lambda of the stack runs the uploaded bundle
    bundle = stored[given["LambdaCodeKey"]]
    lambdas = boto3.client("lambda", region_name=REGION).list_functions()["Functions"]
    assert len(lambdas) >= 10
    assert {f["CodeSha256"] for f in lambdas} == {base64.b64encode(hashlib.sha256(bundle).digest()).decode()}
    assert {f["Handler"].rsplit(".", 1)[0] for f in lambdas} == {"mlops.handlers"}


def test_the_deployment_bucket_is_private_encrypted_versioned_and_tls_only(deployed: Deployed) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"].values())
    [statement] = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Deny", "s3:*")
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_oidc_stack_gets_the_pipeline_s_outputs_and_the_repository(deployed: Deployed) -> None:
    pipeline, oidc = outputs("mlops"), parameters("mlops-github")
    for name in stacks.GITHUB_OIDC_RESOURCE_PARAMETERS:
        assert oidc[name] == pipeline[name], name
    assert (oidc["GitHubOwner"], oidc["GitHubRepo"]) == ("octo-org", "models")
    assert outputs("mlops-github")["TrustedSubject"] == "repo:octo-org/models:ref:refs/heads/main"


def test_the_repository_variables_are_printed_from_the_stacks_outputs(deployed: Deployed) -> None:
    pipeline, oidc, out = outputs("mlops"), outputs("mlops-github"), deployed.first.out
    expected = {
        "MLOPS_BACKEND": "aws", "MLOPS_AWS_REGION": REGION, "MLOPS_AWS_ROLE_ARN": oidc["RoleArn"],
        "MLOPS_STATE_MACHINE_ARN": pipeline["StateMachineArn"], "MLOPS_BUCKET": pipeline["ArtifactBucketName"],
        "MLOPS_RUN_TABLE": pipeline["RunTableName"], "MLOPS_KMS_KEY_ID": pipeline["KmsKeyArn"],
        "MLOPS_AUDIT_BUCKET": pipeline["AuditBucketName"],
        "MLOPS_MODEL_PACKAGE_GROUP_PREFIX": pipeline["ModelPackageGroupPrefix"],
    }
    assert set(expected) == VARIABLES
    for name, value in expected.items():
        assert f"gh variable set {name} --repo {REPOSITORY} --body '{value}'" in out
    assert "mlops: created (CREATE_COMPLETE)" in out and "mlops-github: created (CREATE_COMPLETE)" in out


def test_a_second_deploy_of_the_same_code_changes_and_uploads_nothing(deployed: Deployed) -> None:
    ids = (stack("mlops")["StackId"], stack("mlops-github")["StackId"])
    calls = deployed.calls
    calls.made.clear()
    again = run_deploy(deployed.wheelhouse, "--json")
    assert again.code == 0, again.err
    assert [p["ChangeSetType"] for p in calls.of("cloudformation", "CreateChangeSet")] == ["UPDATE", "UPDATE"]
    assert "ExecuteChangeSet" not in calls.operations("cloudformation")
    assert calls.of("s3", "PutObject") == [] and calls.of("s3", "CreateBucket") == []
    assert (stack("mlops")["StackId"], stack("mlops-github")["StackId"]) == ids
    document = json.loads(again.out)  # --json: one document, the same facts
    assert [(s["stack"], s["action"]) for s in document["stacks"]] == [("mlops", "unchanged"),
                                                                        ("mlops-github", "unchanged")]
    assert document["stacks"][0]["outputs"] == outputs("mlops")
    assert set(document["variables"]) == VARIABLES
    assert document["artifacts"]["lambda"] == {"key": parameters("mlops")["LambdaCodeKey"], "uploaded": False,
                                               "sha256": parameters("mlops")["LambdaCodeKey"].split("/")[1]}
    assert "mlops: no changes" in again.err and "mlops-github: no changes" in again.err
