"""GIVEN an account and a region, WHEN the deployment bucket is needed, THEN it is made in that region, once, and an
upload goes to a key that names its content, made only when that content is not there yet; a bucket of that name
that this account does not own is refused."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from mlops.deploy.artifacts import DeploymentBucket, deployment_bucket_name
from mlops.errors import DeployError
from tests.deploy.conftest import ACCOUNT


def bucket(region: str, said: list[str], account: str = ACCOUNT) -> DeploymentBucket:
    name = deployment_bucket_name(account, region)
    return DeploymentBucket(boto3.client("s3", region_name=region), name, account, region, said.append)


def test_the_bucket_is_made_in_its_region_once(aws: None) -> None:
    said: list[str] = []
    bucket("eu-west-1", said).ensure()
    bucket("eu-west-1", said).ensure()
    s3 = boto3.client("s3", region_name="eu-west-1")
    name = f"mlops-deploy-{ACCOUNT}-eu-west-1"
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    assert said == [f"creating the deployment bucket s3://{name}"]


def test_an_upload_is_keyed_by_its_sha256_and_made_once(aws: None, tmp_path: Path) -> None:
    said: list[str] = []
    target = bucket("us-east-1", said)
    target.ensure()
    file = tmp_path / "mlops-lambda.zip"
    file.write_bytes(b"code")
    first, again = target.upload(file, "lambda"), target.upload(file, "lambda")
    digest = "5694d08a2e53ffcae0c3103e5ad6f6076abd960eb1f8a56577040bc1028f702b"  # sha256 of b"code"
    assert first.key == again.key == f"lambda/{digest}/mlops-lambda.zip"
    assert (first.uploaded, again.uploaded) == (True, False)
    file.write_bytes(b"new code")
    assert target.upload(file, "lambda").key != first.key
    assert first.url(target.name, "us-east-1") == f"https://{target.name}.s3.us-east-1.amazonaws.com/{first.key}"


def test_a_bucket_of_that_name_owned_by_another_account_is_refused() -> None:
    """S3 answers HeadBucket with ExpectedBucketOwner of another account 403 (moto ignores ExpectedBucketOwner, so
    botocore's Stubber gives S3's answer here)."""
    s3 = boto3.client("s3", region_name="us-east-1")
    name = deployment_bucket_name(ACCOUNT, "us-east-1")
    with Stubber(s3) as stub:
        stub.add_client_error("head_bucket", service_error_code="403", service_message="Forbidden",
                              http_status_code=403, expected_params={"Bucket": name, "ExpectedBucketOwner": ACCOUNT})
        with pytest.raises(DeployError, match=r"exists but this account \(123456789012\) cannot use it"):
            DeploymentBucket(s3, name, ACCOUNT, "us-east-1", print).ensure()
        stub.assert_no_pending_responses()
