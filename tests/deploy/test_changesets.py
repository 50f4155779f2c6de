"""GIVEN a stack template in the deployment bucket, WHEN the change-set deployer creates or updates the stack on moto's
CloudFormation, THEN it goes through change sets (CREATE the first time, UPDATE after, on the same stack), an
unchanged deploy is "unchanged" and executes nothing, CloudFormation's events are shown as they come, and a stack
that fails is an error carrying CloudFormation's reasons, the root cause first.

The template is the real GitHub OIDC stack (infra/cloudformation/github-oidc.yml, which moto deploys). What moto
cannot do, and what stands in for it: moto's change sets never fail a stack (its ExecuteChangeSet applies the
template at once and has no rollback), so the failure tests replace moto's ExecuteChangeSet with one that records
what CloudFormation records when a resource fails (the resource's CREATE_FAILED / UPDATE_FAILED event with its
reason, the cancelled ones, then ROLLBACK_COMPLETE / UPDATE_ROLLBACK_COMPLETE).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.cloudformation import models as cfn_models

from mlops.deploy.artifacts import DeploymentBucket
from mlops.deploy.changesets import ChangeSetDeployer, StackSpec
from mlops.errors import DeployError
from tests.deploy.conftest import ACCOUNT, REGION, fail_on_execute

TEMPLATES = Path(__file__).resolve().parents[2] / "infra" / "cloudformation"
OIDC_PARAMETERS: dict[str, str | None] = {
    "GitHubOwner": "octo-org", "GitHubRepo": "models", "GitHubBranch": None, "GitHubEnvironment": None,
    "ExistingOidcProviderArn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com",
    "StateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:mlops-pipeline",
    "RunTableArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/mlops-runs",
    "ReportsBucketName": f"mlops-data-{ACCOUNT}", "ReportsPrefix": "history/",
    "KmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "ModelPackageGroupPrefix": "mlops-", "AuditBucketName": f"mlops-audit-{ACCOUNT}",
}

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..IAM..OIDCProvider")


class Recorder:
    """The CloudFormation calls the deployer makes, with their parameters, as botocore sends them."""

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("provide-client-params.cloudformation.*", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls if not name.startswith("Describe")]

    def change_set_types(self) -> list[str]:
        return [params["ChangeSetType"] for name, params in self.calls if name == "CreateChangeSet"]


@pytest.fixture
def cloudformation(aws: None) -> Any:
    return boto3.client("cloudformation", region_name=REGION)


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def deployer(cloudformation: Any, said: list[str]) -> ChangeSetDeployer:
    return ChangeSetDeployer(cloudformation, said.append, poll_seconds=0)


@pytest.fixture
def template_url(aws: None, said: list[str]) -> str:
    bucket = DeploymentBucket(boto3.client("s3", region_name=REGION), "mlops-deploy-test", ACCOUNT, REGION,
                              said.append)
    bucket.ensure()
    return bucket.upload(TEMPLATES / "github-oidc.yml", "templates").url(bucket.name, REGION)


def spec(url: str, **changes: str | None) -> StackSpec:
    return StackSpec("mlops-github", url, {**OIDC_PARAMETERS, **changes}, {"mlops-issueops:deployment": "mlops"})


def test_a_new_stack_is_created_through_a_create_change_set(
        deployer: ChangeSetDeployer, cloudformation: Any, template_url: str, said: list[str]) -> None:
    calls = Recorder(cloudformation)
    result = deployer.deploy(spec(template_url))
    assert (result.action, result.status) == ("created", "CREATE_COMPLETE")
    assert calls.names() == ["CreateChangeSet", "ExecuteChangeSet"]
    assert calls.change_set_types() == ["CREATE"]
    [(_, created)] = [c for c in calls.calls if c[0] == "CreateChangeSet"]
    assert created["TemplateURL"] == template_url and "CAPABILITY_IAM" in created["Capabilities"]
    assert result.outputs["RoleArn"].startswith(f"arn:aws:iam::{ACCOUNT}:role/")
    assert result.outputs["TrustedSubject"] == "repo:octo-org/models:ref:refs/heads/main"
    assert any("CREATE_COMPLETE" in line and "AWS::CloudFormation::Stack" in line for line in said)
    stack = cloudformation.describe_stacks(StackName="mlops-github")["Stacks"][0]
    assert {"Key": "mlops-issueops:deployment", "Value": "mlops"} in stack["Tags"]


def test_an_unchanged_second_deploy_changes_nothing(
        deployer: ChangeSetDeployer, cloudformation: Any, template_url: str, said: list[str]) -> None:
    first = deployer.deploy(spec(template_url))
    calls = Recorder(cloudformation)
    again = deployer.deploy(spec(template_url))
    assert (again.action, again.stack_id, again.outputs) == ("unchanged", first.stack_id, first.outputs)
    assert "ExecuteChangeSet" not in calls.names()
    assert calls.change_set_types() == ["UPDATE"]
    assert "DeleteChangeSet" in calls.names()  # the empty change set is not left behind
    assert "mlops-github: no changes" in said


def test_a_changed_parameter_updates_the_same_stack(
        deployer: ChangeSetDeployer, cloudformation: Any, template_url: str) -> None:
    first = deployer.deploy(spec(template_url))
    calls = Recorder(cloudformation)
    second = deployer.deploy(spec(template_url, GitHubBranch="release"))
    assert (second.action, second.status, second.stack_id) == ("updated", "UPDATE_COMPLETE", first.stack_id)
    assert calls.change_set_types() == ["UPDATE"] and "ExecuteChangeSet" in calls.names()
    assert second.outputs["TrustedSubject"] == "repo:octo-org/models:ref:refs/heads/release"
    assert len(cloudformation.list_stacks()["StackSummaries"]) == 1


def test_an_update_keeps_the_values_it_is_not_given(
        deployer: ChangeSetDeployer, cloudformation: Any, template_url: str) -> None:
    deployer.deploy(spec(template_url, GitHubBranch="release"))
    calls = Recorder(cloudformation)
    deployer.deploy(spec(template_url, GitHubOwner="octo-org"))  # no --branch this time
    [(_, params)] = [c for c in calls.calls if c[0] == "CreateChangeSet"]
    assert {"ParameterKey": "GitHubBranch", "UsePreviousValue": True} in params["Parameters"]
    stack = cloudformation.describe_stacks(StackName="mlops-github")["Stacks"][0]
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["TrustedSubject"].endswith("release")


# -- failures -------------------------------------------------------------------------------------------------
REASON = "Resource handler returned message: \"User: deployer is not authorized to perform: iam:CreateRole\""


def test_a_stack_that_fails_to_create_is_an_error_with_cloudformation_s_reason(
        deployer: ChangeSetDeployer, template_url: str, said: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    fail_on_execute(monkeypatch, "GitHubActionsRole", REASON)
    with pytest.raises(DeployError) as error:
        deployer.deploy(spec(template_url))
    assert error.value.exit_code == 1
    assert error.value.problems[0] == "stack mlops-github failed: ROLLBACK_COMPLETE"
    assert error.value.problems[1] == f"  GitHubActionsRole (AWS::IAM::Role): {REASON}"  # the cause, first
    assert "Resource creation cancelled" in error.value.problems[2]
    assert any("CREATE_FAILED" in line and "iam:CreateRole" in line for line in said)  # shown as it came


def test_a_failed_update_rolls_back_and_names_its_cause(
        deployer: ChangeSetDeployer, template_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    deployer.deploy(spec(template_url))
    fail_on_execute(monkeypatch, "GitHubActionsRole", REASON)
    with pytest.raises(DeployError) as error:
        deployer.deploy(spec(template_url, GitHubBranch="release"))
    assert error.value.problems[:2] == ["stack mlops-github failed: UPDATE_ROLLBACK_COMPLETE",
                                        f"  GitHubActionsRole (AWS::IAM::Role): {REASON}"]


def test_a_stack_whose_creation_rolled_back_is_deleted_and_created_again(
        deployer: ChangeSetDeployer, cloudformation: Any, template_url: str, said: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        fail_on_execute(patch, "GitHubActionsRole", REASON)
        with pytest.raises(DeployError):
            deployer.deploy(spec(template_url))
    failed_id = cloudformation.describe_stacks(StackName="mlops-github")["Stacks"][0]["StackId"]
    result = deployer.deploy(spec(template_url))
    assert (result.action, result.status) == ("created", "CREATE_COMPLETE") and result.stack_id != failed_id
    assert any("ROLLBACK_COMPLETE" in line and "deleting it" in line for line in said)


def test_a_stack_busy_with_another_operation_is_left_alone(
        deployer: ChangeSetDeployer, cloudformation: Any, template_url: str) -> None:
    deployer.deploy(spec(template_url))
    backend = cfn_models.cloudformation_backends[ACCOUNT][REGION]
    next(s for s in backend.stacks.values() if s.name == "mlops-github").status = "UPDATE_IN_PROGRESS"
    calls = Recorder(cloudformation)
    with pytest.raises(DeployError, match="UPDATE_IN_PROGRESS: another deploy or a delete is running"):
        deployer.deploy(spec(template_url, GitHubBranch="release"))
    assert calls.names() == []
