"""GIVEN the pipeline template on moto's CloudFormation, WHEN ManageSageMakerLogGroup=true, THEN the stack creates
/aws/sagemaker/TrainingJobs with its 90-day retention, and fails where the group already exists (why it is opt-in;
the default, false, deploying beside an existing group is tested in test_pipeline_on_moto.py)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from tests.infra.pipeline_template import TEMPLATE
from tests.infra.test_pipeline_on_moto import CODE, REGION, TRAINING_LOGS, create_stack, training_log_group

PARAMETERS = {"GitHubRepository": "octo-org/models", "CodeBucket": "mlops-code", "CreateCloudTrail": "false",
              "ManageSageMakerLogGroup": "true", **CODE}

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS")


@pytest.fixture
def account() -> Iterator[None]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="mlops-code")
        for key in CODE.values():
            s3.put_object(Bucket="mlops-code", Key=key, Body=b"uploaded by the deploy command")
        yield


def test_asked_the_stack_creates_the_training_log_group_with_a_retention(account: None) -> None:
    create_stack("mlops", TEMPLATE, PARAMETERS)
    (group,) = training_log_group()
    assert group["retentionInDays"] == 90  # (moto drops KmsKeyId; test_pipeline_security checks it on the template)


def test_asked_where_sagemaker_already_made_the_group_the_stack_fails(account: None) -> None:
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName=TRAINING_LOGS)
    # moto fails the create call itself; AWS would roll the stack back
    with pytest.raises(Exception, match="log group already exists"):
        create_stack("mlops", TEMPLATE, PARAMETERS)
