"""The one client factory: region, endpoints and retries from the settings; AWS errors become ours."""

from __future__ import annotations

import socket

import boto3
import pytest
from botocore.exceptions import ClientError

from mlops.backends.aws.clients import ENDPOINT_SUFFIX, AwsClients, aws_call, translate
from mlops.errors import (
    AwsAccessDenied,
    AwsConflict,
    AwsError,
    AwsNotFound,
    AwsThrottled,
    AwsUnavailable,
    MlopsError,
    UsageError,
)
from mlops.settings import AWS_NAMES, AwsSettings, Settings

REGION = "us-east-1"


@pytest.mark.parametrize("service", sorted(ENDPOINT_SUFFIX))
def test_boto3_itself_honours_the_per_service_endpoint_variable_we_read(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN AWS_ENDPOINT_URL_<SUFFIX> in the environment, spelled as our table says
    url = f"http://127.0.0.1:4566/{service}"
    monkeypatch.setenv(f"AWS_ENDPOINT_URL_{ENDPOINT_SUFFIX[service]}", url)
    # WHEN plain boto3 and our factory (settings read from the same environment) make the client
    plain = boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
    ours = AwsClients(AwsSettings.from_env({"AWS_REGION": REGION, f"AWS_ENDPOINT_URL_{ENDPOINT_SUFFIX[service]}": url}))
    # THEN both talk to that endpoint: the table spells the variable as botocore does
    assert plain.meta.endpoint_url == url
    assert ours.client(service).meta.endpoint_url == url


def test_the_general_endpoint_applies_to_every_service_but_a_specific_one_wins() -> None:
    # GIVEN a moto server for everything, and S3 elsewhere
    settings = Settings.from_env(
        {"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
         "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000"}
    ).aws
    clients = AwsClients(settings)
    # THEN S3 goes to its own endpoint, the others to the general one, all in the configured region
    assert clients.client("s3").meta.endpoint_url == "http://127.0.0.1:9000"
    assert clients.client("sagemaker").meta.endpoint_url == "http://127.0.0.1:5000"
    assert clients.client("dynamodb").meta.region_name == "eu-west-1"


def test_the_settings_decide_the_endpoint_not_a_later_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN settings resolved with no endpoint, and an endpoint variable that appears afterwards
    settings = AwsSettings.from_env({"AWS_DEFAULT_REGION": "us-west-2"})
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    # WHEN the client is made THEN it uses the real AWS endpoint of the resolved region
    assert AwsClients(settings).client("sns").meta.endpoint_url == "https://sns.us-west-2.amazonaws.com"


def test_one_client_per_service_with_bounded_standard_retries() -> None:
    clients = AwsClients(AwsSettings.from_env({"AWS_REGION": REGION, "MLOPS_AWS_MAX_ATTEMPTS": "3"}))
    s3 = clients.client("s3")
    assert clients.client("s3") is s3  # made once, reused (a warm Lambda keeps its connections)
    assert s3.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}


def test_every_aws_setting_is_read_once_from_its_variable() -> None:
    env = {name: f"value-of-{name}" for name in AWS_NAMES.values()}
    settings = Settings.from_env({**env, "AWS_DEFAULT_REGION": "ap-northeast-1"}).aws
    assert settings.region == "ap-northeast-1"
    assert {field: getattr(settings, field) for field in AWS_NAMES} == {
        field: f"value-of-{name}" for field, name in AWS_NAMES.items()
    }
    assert Settings.from_env({}).aws == AwsSettings()  # nothing set: nothing invented


def test_a_missing_region_is_a_usage_error_naming_the_variable() -> None:
    with pytest.raises(UsageError, match="AWS_REGION"):
        AwsClients(AwsSettings.from_env({}))


def test_a_bad_attempt_count_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="MLOPS_AWS_MAX_ATTEMPTS"):
        AwsSettings.from_env({"MLOPS_AWS_MAX_ATTEMPTS": "many"})


def test_a_missing_object_and_a_lost_conditional_write_become_our_errors(aws: AwsClients) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="artifacts")
    # WHEN an absent key is read THEN AwsNotFound, saying what was being done
    with pytest.raises(AwsNotFound, match=r"reading models/x: NoSuchKey"), aws_call("reading models/x"):
        s3.get_object(Bucket="artifacts", Key="models/x")
    # WHEN a create-only write finds the key taken THEN AwsConflict
    s3.put_object(Bucket="artifacts", Key="k", Body=b"1")
    with pytest.raises(AwsConflict, match="PreconditionFailed"), aws_call("writing k"):
        s3.put_object(Bucket="artifacts", Key="k", Body=b"2", IfNoneMatch="*")


def test_sagemaker_s_validation_error_for_a_missing_group_is_not_found(aws: AwsClients) -> None:
    # SageMaker answers "ValidationException ... does not exist." for a missing model package group
    with pytest.raises(AwsNotFound, match="does not exist"), aws_call("reading the group"):
        aws.client("sagemaker").describe_model_package_group(ModelPackageGroupName="nothing-here")


def test_an_unreachable_endpoint_is_unavailable_not_a_traceback() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = AwsSettings(region=REGION, endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1)
    with pytest.raises(AwsUnavailable, match="cannot reach AWS"), aws_call("listing runs"):
        AwsClients(settings).client("dynamodb").list_tables()


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [("ThrottlingException", 400, AwsThrottled), ("AccessDeniedException", 400, AwsAccessDenied),
     ("ConditionalCheckFailedException", 400, AwsConflict), ("InternalError", 500, AwsUnavailable),
     ("ValidationException", 400, AwsError)],
)
def test_error_codes_map_to_the_kind_a_caller_must_tell_apart(code: str, status: int, kind: type) -> None:
    response = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    error = translate(ClientError(response, "Op"), "doing it")  # type: ignore[arg-type]
    assert type(error) is kind
    assert isinstance(error, MlopsError) and error.problems == [f"doing it: {code}: m"]
