"""GIVEN the pipeline template deployed on moto's CloudFormation with the deploy command's parameters, THEN the
stack is created, its outputs fit the parameters of the GitHub OIDC stack (which then deploys with them), and
the Lambdas, as deployed, point at this stack's own bucket, table, key and roles.

What moto does not create (so a deploy test on moto cannot see it): AWS::S3::BucketPolicy,
AWS::SecretsManager::Secret (the outputs GitHubTokenSecretArn and SlackUrlSecretArn are then missing, and the
Lambdas' MLOPS_*_SECRET are empty), AWS::SQS::QueuePolicy, AWS::CloudWatch::Alarm and AWS::CloudTrail::Trail.
It ignores the state machine's DefinitionS3Location (an empty definition), bucket versioning, lifecycle and Object
Lock, and the table's point-in-time recovery; tests/infra/test_pipeline_security.py checks those on the template.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlops.deploy.stacks import GITHUB_OIDC_RESOURCE_PARAMETERS, PIPELINE_OUTPUTS
from tests.infra.pipeline_template import TEMPLATE

OIDC_TEMPLATE = TEMPLATE.with_name("github-oidc.yml")
REGION = "us-east-1"
CODE = {"LambdaCodeKey": "mlops/lambda-0123abcd.zip", "TrainingSourceKey": "mlops/sourcedir-0123abcd.tar.gz",
        "StateMachineDefinitionKey": "mlops/state-machine-0123abcd.asl.json"}
TRAINING_LOGS = "/aws/sagemaker/TrainingJobs"
NOT_ON_MOTO = {"GitHubTokenSecretArn", "SlackUrlSecretArn"}  # Refs to secrets, a type moto skips

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS")


def create_stack(name: str, template: Path, parameters: dict[str, str]) -> dict[str, str]:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(
        StackName=name, TemplateBody=template.read_text(encoding="utf-8"), Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
    )
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


@pytest.fixture(scope="module")
def outputs() -> Iterator[dict[str, str]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="mlops-code")
        for key in CODE.values():
            s3.put_object(Bucket="mlops-code", Key=key, Body=b"uploaded by the deploy command")
        # an account where a SageMaker training job already ran: SageMaker created its log group
        boto3.client("logs", region_name=REGION).create_log_group(logGroupName=TRAINING_LOGS)
        yield create_stack("mlops", TEMPLATE, {"GitHubRepository": "octo-org/models", "CodeBucket": "mlops-code",
                                               "CreateCloudTrail": "false", **CODE})


def test_the_stack_gives_every_output_moto_can_resolve(outputs: dict[str, str]) -> None:
    assert sorted(outputs) == sorted(set(PIPELINE_OUTPUTS) - NOT_ON_MOTO)
    assert outputs["Region"] == REGION and outputs["ReportsBucketName"] == outputs["ArtifactBucketName"]


def training_log_group() -> list[dict[str, Any]]:
    return list(boto3.client("logs", region_name=REGION).describe_log_groups(
        logGroupNamePrefix=TRAINING_LOGS)["logGroups"])


def test_by_default_the_stack_leaves_sagemaker_s_log_group_alone(outputs: dict[str, str]) -> None:
    """Deployed (the fixture) where the group already exists, and the group is still SageMaker's, unchanged."""
    (group,) = training_log_group()
    assert "retentionInDays" not in group


def oidc_pattern(parameter: str) -> str:
    found = re.search(rf"\n  {parameter}:\n(?:    .*\n)*?    AllowedPattern: \"(.+)\"\n", OIDC_TEMPLATE.read_text())
    assert found, parameter
    return found.group(1).replace("\\\\", "\\")


def test_the_outputs_fit_the_oidc_stack_s_parameter_patterns(outputs: dict[str, str]) -> None:
    for parameter in GITHUB_OIDC_RESOURCE_PARAMETERS:
        assert re.fullmatch(oidc_pattern(parameter), outputs[parameter]), (parameter, outputs[parameter])


def test_the_pattern_reader_reads_a_refusing_pattern() -> None:
    assert not re.fullmatch(oidc_pattern("ModelPackageGroupPrefix"), "Mlops_*")


def test_the_oidc_stack_deploys_with_the_pipeline_s_outputs(outputs: dict[str, str]) -> None:
    parameters = {name: outputs[name] for name in GITHUB_OIDC_RESOURCE_PARAMETERS}
    role = create_stack("mlops-github", OIDC_TEMPLATE, {"GitHubOwner": "octo-org", "GitHubRepo": "models",
                                                        **parameters})
    assert role["RoleArn"].startswith("arn:aws:iam::")


def deployed_functions() -> list[dict[str, Any]]:
    lambda_client = boto3.client("lambda", region_name=REGION)
    return [lambda_client.get_function(FunctionName=function["FunctionName"])["Configuration"]
            for function in lambda_client.list_functions()["Functions"]]


def test_the_deployed_lambdas_point_at_this_stack_s_resources(outputs: dict[str, str]) -> None:
    functions = deployed_functions()  # the module fixture's moto is still active
    assert len(functions) >= 2
    for function in functions:
        environment = function["Environment"]["Variables"]
        assert environment["MLOPS_BUCKET"] == outputs["ArtifactBucketName"]
        assert environment["MLOPS_RUN_TABLE"] == outputs["RunTableName"]
        assert environment["MLOPS_KMS_KEY_ID"] == outputs["KmsKeyArn"]
        assert environment["MLOPS_SAGEMAKER_ROLE_ARN"] == outputs["SageMakerRoleArn"]
        assert environment["MLOPS_AUDIT_BUCKET"] == outputs["AuditBucketName"]
        assert environment["MLOPS_MODEL_PACKAGE_GROUP_PREFIX"] == outputs["ModelPackageGroupPrefix"]
        assert re.fullmatch(r"mlops-[0-9a-f]{8}-", outputs["ModelPackageGroupPrefix"])
        assert environment["MLOPS_TRAINING_SOURCE"] == f"s3://mlops-code/{CODE['TrainingSourceKey']}"
        assert function["Runtime"] == "python3.12"  # (moto ignores TracingConfig; the template test checks it)
