"""GIVEN infra/cloudformation/mlops-pipeline.yml, THEN it agrees with the code it deploys: the state machine's
DefinitionSubstitutions are exactly the compiled flow's placeholders, there is one Lambda per agent of the compiled
flow (plus the progress Lambda) running that agent's handler, the Lambdas' environment holds only settings
mlops/settings.py reads, the run table is the one dynamodb_table.py creates, the training image is the one
training_job.py names, and the parameters and outputs are mlops/deploy/stacks.py's contract.

Agents and placeholders are computed from the flow, never listed here: a flow that gains an agent fails these
tests until the template gains its Lambda.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

import mlops.handlers
from mlops.backends.aws.dynamodb_table import TABLE_DEFINITION
from mlops.backends.aws.training_job import SKLEARN_ACCOUNTS, JobConfig, framework_image
from mlops.deploy.stacks import GITHUB_OIDC_RESOURCE_PARAMETERS, PIPELINE_OUTPUTS, PIPELINE_PARAMETERS
from mlops.errors import UsageError
from mlops.pipeline import asl
from mlops.settings import AWS_NAMES, Settings
from tests.infra.pipeline_template import (
    asl_functions,
    get_att,
    handler_of,
    properties,
    resources,
    template,
)

PROGRESS_HANDLER = "mlops.handlers.progress"
LAMBDA_TIMEOUT_LIMIT = 900
# Settings the Lambdas do not get, and why: the state machine's ARN would make the Lambdas depend on the state
# machine that depends on them (only the action starts executions); the image override is for a hand-made image.
NOT_FOR_LAMBDAS = {"MLOPS_STATE_MACHINE_ARN", "MLOPS_TRAINING_IMAGE"}


def functions() -> dict[str, dict[str, Any]]:
    return {name: body["Properties"] for name, body in resources("AWS::Lambda::Function").items()}


def substitutions() -> dict[str, Any]:
    return dict(properties("StateMachine")["DefinitionSubstitutions"])


def test_the_substitutions_are_exactly_the_compiled_flow_s_placeholders() -> None:
    assert sorted(substitutions()) == asl.substitution_names(asl.compile_flow())


def test_each_agent_of_the_compiled_flow_has_its_own_lambda_running_its_handler() -> None:
    handlers = {}
    for camel in asl_functions():
        function, attribute = get_att(substitutions()[f"{camel}FunctionArn"])
        assert attribute == "Arn"
        handlers[function] = functions()[function]["Handler"]
        assert handlers[function] == handler_of(camel), function
    assert len(set(handlers.values())) == len(handlers), "two agents share a Lambda"


def test_the_lambdas_are_the_agents_plus_progress_and_every_handler_exists() -> None:
    expected = {handler_of(camel) for camel in asl_functions()} | {PROGRESS_HANDLER}
    handlers = [body["Handler"] for body in functions().values()]
    assert sorted(handlers) == sorted(expected)
    for handler in handlers:
        assert callable(getattr(mlops.handlers, handler.rpartition(".")[2], None)), f"{handler} does not exist"


@pytest.mark.parametrize("name", sorted(functions()))
def test_every_lambda_runs_the_uploaded_code_with_limits_a_dead_letter_queue_and_tracing(name: str) -> None:
    function = functions()[name]
    assert function["Runtime"] == "python3.12"
    assert function["Code"] == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "LambdaCodeKey"}}
    assert 1 <= function["ReservedConcurrentExecutions"] <= 50
    assert get_att(function["DeadLetterConfig"]["TargetArn"]) == ("DeadLetterQueue", "Arn")
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert get_att(function["KmsKeyArn"]) == ("Key", "Arn")


def test_no_lambda_outlives_the_state_that_waits_for_it() -> None:
    """A Lambda still running after its Task state timed out would act on a run that has moved on."""
    for camel, timeouts in asl_functions().items():
        function, _ = get_att(substitutions()[f"{camel}FunctionArn"])
        assert functions()[function]["Timeout"] <= min([*timeouts, LAMBDA_TIMEOUT_LIMIT]), camel


def environments() -> list[dict[str, Any]]:
    return [function["Environment"]["Variables"] for function in functions().values()]


def test_every_lambda_gets_the_same_environment_with_the_aws_backend() -> None:
    first, *others = environments()
    assert all(other == first for other in others)
    assert first["MLOPS_BACKEND"] == "aws"


def settings_read(name: str) -> bool:
    """Does mlops/settings.py read this variable? Setting it alone changes the resolved Settings, or is refused."""
    try:
        return Settings.from_env({name: "7"}) != Settings.from_env({})
    except UsageError:
        return True


def test_settings_read_tells_a_setting_from_a_name_nobody_reads() -> None:
    assert [settings_read(name) for name in ("MLOPS_BUCKET", "MLOPS_KEEP_VERSIONS", "MLOPS_BUKCET")] == [
        True, True, False]


def test_the_lambda_environment_names_only_settings_the_code_reads() -> None:
    """A variable Settings does not read would be ignored by the Lambdas: a contract that drifted."""
    (environment, *_) = environments()
    assert [name for name in sorted(environment) if not settings_read(name)] == []


def test_the_lambdas_get_every_aws_setting_but_the_two_they_must_not_have() -> None:
    (environment, *_) = environments()
    assert sorted(set(AWS_NAMES.values()) - set(environment) - NOT_FOR_LAMBDAS) == []
    assert sorted(NOT_FOR_LAMBDAS & set(environment)) == []


def test_the_training_source_setting_points_at_the_uploaded_bundle() -> None:
    (environment, *_) = environments()
    assert environment["MLOPS_TRAINING_SOURCE"] == {"Fn::Sub": "s3://${CodeBucket}/${TrainingSourceKey}"}


def test_the_run_table_is_the_one_the_code_creates() -> None:
    table = properties("RunTable")
    assert {key: table[key] for key in TABLE_DEFINITION} == TABLE_DEFINITION
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"]["SSEType"] == "KMS"
    assert get_att(table["SSESpecification"]["KMSMasterKeyId"]) == ("Key", "Arn")


def training_image(region: str) -> str:
    """The TrainingImage substitution as CloudFormation resolves it in `region` (Fn::Sub over Fn::FindInMap)."""
    pattern, variables = substitutions()["TrainingImage"]["Fn::Sub"]
    mapping, _, key = variables["Account"]["Fn::FindInMap"]
    account = template()["Mappings"][mapping][region][key]
    return pattern.replace("${Account}", account).replace("${AWS::Region}", region)


def test_the_training_image_is_the_one_the_engine_names_in_every_pinned_region() -> None:
    mapping = template()["Mappings"]["ScikitLearnImage"]
    assert {region: row["Account"] for region, row in mapping.items()} == SKLEARN_ACCOUNTS
    for region in SKLEARN_ACCOUNTS:
        assert training_image(region) == framework_image(region)


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-northeast-1"])
def test_the_state_machine_s_constants_are_what_the_lambdas_settings_give(region: str) -> None:
    """The Lambdas build the same request (JobConfig from their environment) as the state machine sends: each of
    JobConfig.substitutions() is, in the template, the same expression as the Lambdas' variable it comes from."""
    (environment, *_) = environments()
    symbolic = {name: repr(value) for name, value in environment.items()}
    config = JobConfig.from_settings(Settings.from_env({**symbolic, "AWS_REGION": region}).aws)
    expected = {name: repr(substitutions()[name]) for name in config.substitutions()}
    expected["TrainingImage"] = training_image(region)
    assert config.substitutions() == expected


def test_the_training_instance_type_defaults_as_the_settings_do() -> None:
    assert template()["Parameters"]["TrainingInstanceType"]["Default"] == JobConfig.instance_type


def test_the_definition_is_the_uploaded_committed_asl() -> None:
    machine = properties("StateMachine")
    assert machine["DefinitionS3Location"] == {"Bucket": {"Ref": "CodeBucket"},
                                               "Key": {"Ref": "StateMachineDefinitionKey"}}
    assert "Definition" not in machine and "DefinitionString" not in machine


def test_the_parameters_are_the_deploy_contract() -> None:
    assert list(template()["Parameters"]) == list(PIPELINE_PARAMETERS)


def test_the_outputs_are_the_deploy_contract_and_name_their_repository_variable() -> None:
    outputs = template()["Outputs"]
    assert list(outputs) == list(PIPELINE_OUTPUTS)
    for output, variable in PIPELINE_OUTPUTS.items():
        if variable:
            assert re.search(rf"\b{variable}\b", outputs[output]["Description"]), output


def test_the_oidc_stack_s_resource_parameters_are_all_outputs_here() -> None:
    assert sorted(set(GITHUB_OIDC_RESOURCE_PARAMETERS) - set(template()["Outputs"])) == []


def test_the_reports_prefix_is_where_the_history_is_mirrored() -> None:
    """contracts.md: history/ in the bucket mirrors the repository's training_history/."""
    assert template()["Outputs"]["ReportsPrefix"]["Value"] == "history/"
    assert template()["Outputs"]["ReportsBucketName"]["Value"] == {"Ref": "ArtifactBucket"}
