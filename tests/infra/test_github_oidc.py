"""GIVEN infra/cloudformation/github-oidc.yml, WHEN it is deployed (on moto's CloudFormation) for one repository,
THEN only a GitHub token for that repository and its branch (or environment), meant for AWS STS, may assume the
role; the role may make only the calls the action makes, on this pipeline's resources; the parameters refuse a
wildcard owner or repository; and the stack's parameters and outputs are the ones the deploy code expects.

moto resolves the template's intrinsic functions (If, Sub, Select, Split) and stores the resulting policies, so the
trust is evaluated as deployed. It does not validate AllowedPattern, so the patterns are checked here; and it
skips AWS::IAM::OIDCProvider (a Ref to it resolves to nothing), so the trust's principal is checked on a stack
that reuses a provider, and the stack that creates one is only shown to deploy.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.decode import decode
from moto import mock_aws

from mlops.deploy.stacks import GITHUB_OIDC_OUTPUTS, GITHUB_OIDC_RESOURCE_PARAMETERS, GITHUB_OIDC_TRUST_PARAMETERS
from tests.infra.iam_conditions import UnsupportedPolicy, as_list, may_assume

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "cloudformation" / "github-oidc.yml"
REGION, ACCOUNT = "us-east-1", "123456789012"  # moto's default account
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
PIPELINE_OUTPUTS = {
    "StateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:mlops-pipeline",
    "RunTableArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/mlops-runs",
    "ReportsBucketName": f"mlops-data-{ACCOUNT}",
    "KmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "ModelPackageGroupPrefix": "mlops-",
    "AuditBucketName": f"mlops-audit-{ACCOUNT}",
}
REPOSITORY = {"GitHubOwner": "octo-org", "GitHubRepo": "models"}
SUB = "repo:octo-org/models"

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..IAM..OIDCProvider")


def token(sub: str, aud: str = "sts.amazonaws.com") -> dict[str, str]:
    return {"sub": sub, "aud": aud, "iss": "https://token.actions.githubusercontent.com"}


@functools.cache
def parsed_template() -> dict[str, Any]:
    """The template as cfn-lint reads it (!Ref, !Sub, !If... become Ref, Fn::Sub, Fn::If)."""
    template, problems = decode(str(TEMPLATE))
    assert template is not None and not problems, problems
    return dict(template)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def deploy(name: str, **parameters: str) -> dict[str, str]:
    """Creates the stack on moto for octo-org/models and the pipeline's outputs; returns its outputs."""
    return create_stack(name, {**PIPELINE_OUTPUTS, **REPOSITORY, **parameters})


def create_stack(name: str, parameters: dict[str, str], region: str = REGION) -> dict[str, str]:
    cloudformation = boto3.client("cloudformation", region_name=region)
    cloudformation.create_stack(
        StackName=name, TemplateBody=TEMPLATE.read_text(encoding="utf-8"), Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
    )
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def role_documents(role_arn: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The deployed role's trust policy and the statements of its one inline policy."""
    iam = boto3.client("iam", region_name=REGION)
    name = role_arn.rsplit("/", 1)[1]
    trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    [policy_name] = iam.list_role_policies(RoleName=name)["PolicyNames"]
    policy = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
    return trust, as_list(policy_document(policy)["Statement"])


def policy_document(raw: str | dict[str, Any]) -> dict[str, Any]:
    """IAM answers a dict (boto3 decodes it); moto 5.2.5 keeps a policy made by CloudFormation as Python's repr."""
    if isinstance(raw, dict):
        return raw
    try:
        return dict(json.loads(raw))
    except json.JSONDecodeError:
        return dict(ast.literal_eval(raw))


@pytest.fixture
def branch_trust(aws: None) -> dict[str, Any]:
    outputs = deploy("mlops-github", ExistingOidcProviderArn=PROVIDER)
    return role_documents(outputs["RoleArn"])[0]


@pytest.fixture
def environment_trust(aws: None) -> dict[str, Any]:
    outputs = deploy("mlops-github-env", ExistingOidcProviderArn=PROVIDER, GitHubEnvironment="production")
    return role_documents(outputs["RoleArn"])[0]


def test_a_token_of_the_repository_s_branch_may_assume_the_role(branch_trust: dict[str, Any]) -> None:
    assert may_assume(branch_trust, PROVIDER, token(f"{SUB}:ref:refs/heads/main"))


@pytest.mark.parametrize(("who", "claims"), [
    ("another repository of the owner", token("repo:octo-org/other:ref:refs/heads/main")),
    ("a fork (same name, another owner)", token("repo:forker/models:ref:refs/heads/main")),
    ("another branch", token(f"{SUB}:ref:refs/heads/feature")),
    ("a tag", token(f"{SUB}:ref:refs/tags/v1.0.0")),
    ("a pull request (forks' included)", token(f"{SUB}:pull_request")),
    ("an environment job", token(f"{SUB}:environment:production")),
    ("a wildcard subject", token("repo:*")),
    ("a wildcard repository", token("repo:octo-org/*:ref:refs/heads/main")),
    ("a token meant for another audience", token(f"{SUB}:ref:refs/heads/main", aud="https://github.com/octo-org")),
])
def test_every_other_token_is_refused(branch_trust: dict[str, Any], who: str, claims: dict[str, str]) -> None:
    assert not may_assume(branch_trust, PROVIDER, claims), who


def test_a_token_from_another_identity_provider_is_refused(branch_trust: dict[str, Any]) -> None:
    elsewhere = f"arn:aws:iam::{ACCOUNT}:oidc-provider/gitlab.com"
    assert not may_assume(branch_trust, elsewhere, token(f"{SUB}:ref:refs/heads/main"))


def test_with_an_environment_only_that_environment_s_jobs_may_assume_the_role(
    environment_trust: dict[str, Any],
) -> None:
    assert may_assume(environment_trust, PROVIDER, token(f"{SUB}:environment:production"))
    others = (f"{SUB}:environment:staging", f"{SUB}:ref:refs/heads/main", "repo:octo-org/other:environment:production")
    for sub in others:
        assert not may_assume(environment_trust, PROVIDER, token(sub)), sub


def test_the_trust_compares_the_subject_literally() -> None:
    """StringEquals only: with StringLike, a `*` in a value would widen the trust."""
    template = parsed_template()
    [statement] = template["Resources"]["GitHubActionsRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert set(statement["Condition"]) == {"StringEquals"}
    assert set(statement["Condition"]["StringEquals"]) == {
        "token.actions.githubusercontent.com:aud", "token.actions.githubusercontent.com:sub",
    }


def test_the_evaluator_catches_a_trust_that_is_too_broad() -> None:
    """The check above can fail: a StringLike trust on `repo:octo-org/*` lets every repository of the owner in."""
    conditions = {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:octo-org/*"},
                  "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}
    broad = {"Statement": [{"Effect": "Allow", "Principal": {"Federated": PROVIDER},
                            "Action": "sts:AssumeRoleWithWebIdentity", "Condition": conditions}]}
    assert may_assume(broad, PROVIDER, token("repo:octo-org/other:pull_request"))
    assert not may_assume(broad, PROVIDER, token("repo:forker/models:ref:refs/heads/main"))
    unknown_operator = {"Statement": [{**broad["Statement"][0], "Condition": {"ForAnyValue:StringLike": {
        "token.actions.githubusercontent.com:sub": "repo:octo-org/*"}}}]}
    with pytest.raises(UnsupportedPolicy):
        may_assume(unknown_operator, PROVIDER, token("repo:octo-org/models:pull_request"))


def allowed(statements: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Action -> the resources it is allowed on."""
    grants: dict[str, list[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            grants.setdefault(action, []).extend(as_list(statement["Resource"]))
    return grants


def test_the_role_may_make_only_the_action_s_calls_on_this_pipeline_s_resources(aws: None) -> None:
    _, statements = role_documents(deploy("mlops-github", ExistingOidcProviderArn=PROVIDER)["RoleArn"])
    packages = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/mlops-*"
    groups = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/mlops-*"
    reports = f"arn:aws:s3:::mlops-data-{ACCOUNT}/history/*"
    audit = f"arn:aws:s3:::mlops-audit-{ACCOUNT}/history/*"
    assert allowed(statements) == {
        "states:StartExecution": [PIPELINE_OUTPUTS["StateMachineArn"]],
        "states:DescribeExecution": [f"arn:aws:states:{REGION}:{ACCOUNT}:execution:mlops-pipeline:*"],
        "states:SendTaskSuccess": ["*"],
        "states:SendTaskFailure": ["*"],
        "dynamodb:GetItem": [PIPELINE_OUTPUTS["RunTableArn"]],
        "dynamodb:Query": [PIPELINE_OUTPUTS["RunTableArn"]],
        "dynamodb:UpdateItem": [PIPELINE_OUTPUTS["RunTableArn"]],
        "dynamodb:PutItem": [PIPELINE_OUTPUTS["RunTableArn"]],  # rollback: its record
        "s3:GetObject": [reports],
        "s3:GetObjectVersion": [reports],
        "s3:ListBucket": [f"arn:aws:s3:::mlops-data-{ACCOUNT}"],  # record: only under history/rollback-
        "s3:PutObject": [reports, audit],  # rollback: its record and the record's audit copy
        "s3:PutObjectRetention": [audit],
        "sagemaker:ListModelPackages": [packages, groups],
        "sagemaker:DescribeModelPackage": [packages, groups],
        "sagemaker:UpdateModelPackage": [packages, groups],
        "kms:Decrypt": [PIPELINE_OUTPUTS["KmsKeyArn"]],
        "kms:GenerateDataKey": [PIPELINE_OUTPUTS["KmsKeyArn"]],
    }


def test_the_unscopable_and_the_key_grants_carry_conditions(aws: None) -> None:
    """SendTask* take no resource ARN: kept to the pipeline's region. The key decrypts only through S3 and DynamoDB."""
    _, statements = role_documents(deploy("mlops-github", ExistingOidcProviderArn=PROVIDER)["RoleArn"])
    conditions = {statement["Sid"]: statement.get("Condition") for statement in statements}
    assert conditions["AnswerPausedRuns"] == {"StringEquals": {"aws:RequestedRegion": REGION}}
    assert conditions["DecryptThroughS3AndDynamoDB"] == {
        "StringEquals": {"kms:ViaService": [f"s3.{REGION}.amazonaws.com", f"dynamodb.{REGION}.amazonaws.com"]}
    }
    assert conditions["EncryptThroughS3"] == {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}
    # the bucket is listed only under the rollback records' prefix, not whole
    assert conditions["ListRollbackRecords"] == {"StringLike": {"s3:prefix": "history/rollback-*"}}


def test_the_stack_that_creates_the_provider_deploys_and_names_the_trusted_subject(aws: None) -> None:
    outputs = deploy("mlops-github")
    assert outputs["TrustedSubject"] == f"{SUB}:ref:refs/heads/main"
    assert outputs["RoleArn"].startswith(f"arn:aws:iam::{ACCOUNT}:role/mlops-github-")


def test_the_stack_that_reuses_a_provider_gives_every_output(aws: None) -> None:
    outputs = deploy("mlops-github", ExistingOidcProviderArn=PROVIDER, GitHubEnvironment="production")
    assert set(outputs) == set(GITHUB_OIDC_OUTPUTS)
    assert outputs["OidcProviderArn"] == PROVIDER
    assert outputs["TrustedSubject"] == f"{SUB}:environment:production"


def parameter(name: str) -> dict[str, Any]:
    template = parsed_template()
    return dict(template["Parameters"][name])


def accepts(name: str, value: str) -> bool:
    """What CloudFormation does with AllowedPattern: the whole value must match (Java regex; these patterns use
    nothing Java and Python read differently)."""
    return re.fullmatch(parameter(name)["AllowedPattern"], value) is not None


@pytest.mark.parametrize(("name", "value"), [
    ("GitHubOwner", "*"), ("GitHubOwner", "octo-*"), ("GitHubOwner", "octo?org"), ("GitHubOwner", "octo-org/models"),
    ("GitHubOwner", ""), ("GitHubOwner", "-octo"), ("GitHubOwner", "octo org"),
    ("GitHubRepo", "*"), ("GitHubRepo", "models*"), ("GitHubRepo", "mod?ls"), ("GitHubRepo", "octo-org/models"),
    ("GitHubRepo", ""), ("GitHubRepo", "[a-z]"),
    ("GitHubBranch", "*"), ("GitHubBranch", "release/*"), ("GitHubBranch", "ma?n"), ("GitHubBranch", ""),
    ("GitHubBranch", "main:environment:production"),
    ("GitHubEnvironment", "*"), ("GitHubEnvironment", "prod*"), ("GitHubEnvironment", "a:b"),
    ("ExistingOidcProviderArn", f"arn:aws:iam::{ACCOUNT}:oidc-provider/gitlab.com"),
    ("StateMachineArn", f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:*"),
    ("RunTableArn", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/*"),
    ("ReportsPrefix", "reports"), ("ReportsPrefix", "*/"), ("ModelPackageGroupPrefix", "mlops"),
    ("ModelPackageGroupPrefix", "*-"), ("ModelPackageGroupPrefix", "MLOps-"), ("AuditBucketName", "*"),
    ("AuditBucketName", "audit/*"), ("AuditBucketName", ""),
])
def test_a_parameter_refuses_a_wildcard_or_a_value_that_would_widen_the_role(name: str, value: str) -> None:
    assert not accepts(name, value)


@pytest.mark.parametrize(("name", "value"), [
    ("GitHubOwner", "octo-org"), ("GitHubOwner", "Octo2"), ("GitHubRepo", "models"), ("GitHubRepo", "my.models_v2-x"),
    ("GitHubBranch", "main"), ("GitHubBranch", "release/2.x"), ("GitHubEnvironment", ""),
    ("GitHubEnvironment", "production"), ("ExistingOidcProviderArn", ""), ("ExistingOidcProviderArn", PROVIDER),
    *PIPELINE_OUTPUTS.items(), ("ReportsPrefix", "reports/"), ("ReportsPrefix", "runs/reports/"),
    ("KmsKeyArn", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/mrk-1234abcd12ab34cd56ef1234567890ab"),
])
def test_a_parameter_accepts_a_real_value(name: str, value: str) -> None:
    assert accepts(name, value)


def test_the_parameters_and_outputs_are_the_ones_the_deploy_code_knows() -> None:
    template = parsed_template()
    assert list(template["Parameters"]) == [*GITHUB_OIDC_TRUST_PARAMETERS, *GITHUB_OIDC_RESOURCE_PARAMETERS]
    assert list(template["Outputs"]) == list(GITHUB_OIDC_OUTPUTS)
    for output, variable in GITHUB_OIDC_OUTPUTS.items():
        assert variable is None or variable in template["Outputs"][output]["Description"], output


def documented_overrides() -> dict[str, str]:
    """The KEY=VALUE pairs of the `aws cloudformation deploy` command in docs/aws-deploy.md."""
    text = (TEMPLATE.parents[2] / "docs" / "aws-deploy.md").read_text(encoding="utf-8")
    command = text.split("aws cloudformation deploy", 1)[1].split("```", 1)[0]
    overrides = command.split("--parameter-overrides", 1)[1].replace("\\\n", " ").split()
    return dict(pair.split("=", 1) for pair in overrides)


def test_the_documented_deploy_command_gives_every_required_parameter_a_valid_value(aws: None) -> None:
    template = parsed_template()
    overrides = documented_overrides()
    required = {name for name, spec in template["Parameters"].items() if "Default" not in spec}
    assert required <= set(overrides) <= set(template["Parameters"])
    assert [name for name, value in overrides.items() if not accepts(name, value)] == []
    outputs = create_stack("mlops-github", overrides, region=overrides["StateMachineArn"].split(":")[3])
    assert outputs["TrustedSubject"] == f"{SUB}:ref:refs/heads/main"
