"""The SageMaker CreateTrainingJob request for one try of a training, as plain boto3/Step Functions parameters.

No SageMaker SDK (a 1 GB install, 2.4 s to import): the request is a dict that Step Functions' createTrainingJob
integration or boto3 takes as it is, and tests/aws/test_training_job.py validates it against botocore's own
service model.

Image: the AWS scikit-learn framework image, pinned per region, and our package as the script-mode source
(`sagemaker_submit_directory` + `sagemaker_program`), rather than an image built from a Dockerfile of ours. Why:
the entry point already follows the script-mode contract (SM_* variables) the local trainer imitates, so what
passes locally passes there; AWS builds, patches and scans the framework image, where our own would need an ECR
repository, a build-and-push job in the deployment and its own vulnerability scanning; and a code change ships as
a small tarball, not a new image. The price: our dependencies (pydantic, skops, and a scikit-learn newer than the
image's) must travel in the source bundle (a requirements.txt with wheels vendored beside it, since the job runs
without internet access), and the image's framework version is a choice to keep in step with the train extra.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from mlops.errors import InvalidRequest, UsageError
from mlops.metric_specs import metrics_for
from mlops.pipeline.models import TrainingJob

FRAMEWORK_VERSION = "1.2-1"  # sagemaker-scikit-learn:<version>-cpu-py3
# The account holding sagemaker-scikit-learn in each region (the SageMaker SDK's image_uri_config/sklearn.json).
SKLEARN_ACCOUNTS = {
    "us-east-1": "683313688378", "us-east-2": "257758044811", "us-west-1": "746614075791",
    "us-west-2": "246618743249", "ca-central-1": "341280168497", "sa-east-1": "737474898029",
    "eu-west-1": "141502667606", "eu-west-2": "764974769150", "eu-west-3": "659782779980",
    "eu-central-1": "492215442770", "eu-north-1": "662702820516", "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698", "ap-northeast-3": "867004704886", "ap-south-1": "720646828776",
    "ap-southeast-1": "121021644041", "ap-southeast-2": "783357654285",
}
# console.metric prints `[mlops] metric <name>=<repr(float)>` (mlops/training/console.py)
METRIC_REGEX = r"\[mlops\] metric {name}=([-+0-9.eE]+|nan|inf)"
JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # SageMaker's TrainingJobName pattern
MAX_WARM_POOL_SECONDS = 3600


@dataclass(frozen=True)
class Resources:
    """What a job runs on; each may be overridden per request (see `with_overrides`)."""

    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    volume_gb: int = 30
    max_runtime_seconds: int = 3600
    spot: bool = False  # managed spot training: cheaper, may be interrupted (resumes from checkpoints)
    max_wait_seconds: int = 7200  # spot only: runtime plus time waiting for capacity
    warm_pool_seconds: int = 0  # keep the instance for the next try or retrain (not with spot)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Resources:
        problems = [f"{key}: not a training resource (use one of {', '.join(FIELDS)})" for key in overrides
                    if key not in FIELDS]
        changed = replace(self, **{key: value for key, value in overrides.items() if key in FIELDS})
        problems += _resource_problems(changed)
        if problems:
            raise InvalidRequest("the training resources have problems", problems)
        return changed


FIELDS = tuple(Resources.__dataclass_fields__)


@dataclass(frozen=True)
class JobConfig:
    """The deployment's side of every request: where things are and who runs them."""

    region: str
    role_arn: str
    bucket: str
    kms_key_id: str
    source_uri: str  # s3://.../sourcedir.tar.gz: the package and the script-mode entry program
    program: str = "mlops_train.py"
    framework_version: str = FRAMEWORK_VERSION
    resources: Resources = Resources()


def framework_image(region: str, version: str = FRAMEWORK_VERSION) -> str:
    account = SKLEARN_ACCOUNTS.get(region)
    if account is None:
        pinned = ", ".join(SKLEARN_ACCOUNTS)
        raise UsageError(f"AWS_REGION: no scikit-learn image is pinned for {region} (pinned: {pinned})")
    return f"{account}.dkr.ecr.{region}.amazonaws.com/sagemaker-scikit-learn:{version}-cpu-py3"


def job_name(training_id: str, attempt: int, try_number: int) -> str:
    """Unique per try and retrain (SageMaker refuses a name used before), at most 63 characters."""
    suffix = f"-a{attempt}-t{try_number}"
    base = re.sub(r"[^a-zA-Z0-9]+", "-", training_id).strip("-")
    if len(base) + len(suffix) > 63:  # keep it unique: a digest of the whole id replaces the cut-off tail
        base = base[: 63 - len(suffix) - 9].rstrip("-") + "-" + hashlib.sha256(training_id.encode()).hexdigest()[:8]
    return base + suffix


def metric_definitions(task: str | None) -> list[dict[str, str]]:
    """One definition per metric the entry point prints for the task, so SageMaker charts them."""
    names = metrics_for(task) if task else []
    return [{"Name": name, "Regex": METRIC_REGEX.format(name=re.escape(name))} for name in names]


def training_job_request(
    job: TrainingJob, config: JobConfig, *, try_number: int, task: str | None,
    issue: tuple[str, int] | None = None, resources: Resources | None = None,
) -> dict[str, Any]:
    """The CreateTrainingJob parameters for one try of `job` (`issue`: repository and number, for the tags)."""
    resources = resources or config.resources
    request = {
        "TrainingJobName": job_name(job.training_id, job.attempt, try_number),
        "RoleArn": config.role_arn,
        "AlgorithmSpecification": {
            "TrainingImage": framework_image(config.region, config.framework_version),
            "TrainingInputMode": "FastFile",  # data streams from S3 on demand: 1 TB never passes through us
            "MetricDefinitions": metric_definitions(task),
        },
        "HyperParameters": hyperparameters(job, config),
        "InputDataConfig": channels(job, config.bucket),
        "OutputDataConfig": {"S3OutputPath": _s3(config.bucket, job.output_path), "KmsKeyId": config.kms_key_id},
        "ResourceConfig": resource_config(resources, config.kms_key_id),
        "StoppingCondition": stopping_condition(resources),
        "EnableManagedSpotTraining": resources.spot,
        "EnableInterContainerTrafficEncryption": resources.instance_count > 1,
        "Tags": tags(job.training_id, issue),
    }
    if resources.spot:  # an interrupted spot job resumes from here
        request["CheckpointConfig"] = {"S3Uri": _s3(config.bucket, f"runs/{job.training_id}/checkpoints")}
    return request


def hyperparameters(job: TrainingJob, config: JobConfig) -> dict[str, str]:
    """SM_HPS as the framework container decodes it: every value JSON-encoded, the script-mode keys added."""
    values = {
        **job.hyperparameters,
        "sagemaker_program": config.program,
        "sagemaker_submit_directory": config.source_uri,
        "sagemaker_region": config.region,
    }
    encoded = {name: json.dumps(value) for name, value in values.items()}
    too_long = [f"hyperparameters.{name}: longer than SageMaker's 2500 characters" for name, text in encoded.items()
                if len(text) > 2500]
    if too_long or len(encoded) > 100:
        problems = too_long or ["hyperparameters: SageMaker takes at most 100"]
        raise InvalidRequest("the hyperparameters do not fit a SageMaker job", problems)
    return encoded


def channels(job: TrainingJob, bucket: str) -> list[dict[str, Any]]:
    """train and test straight from the dataset's S3 prefixes (SM_CHANNEL_TRAIN, SM_CHANNEL_TEST)."""
    return [
        {"ChannelName": name, "InputMode": "FastFile", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": _s3(bucket, prefix), "S3DataDistributionType": "FullyReplicated"}}}
        for name, prefix in job.channels.items()
    ]


def resource_config(resources: Resources, kms_key_id: str) -> dict[str, Any]:
    config: dict[str, Any] = {
        "InstanceType": resources.instance_type, "InstanceCount": resources.instance_count,
        "VolumeSizeInGB": resources.volume_gb, "VolumeKmsKeyId": kms_key_id,
    }
    if resources.warm_pool_seconds:
        config["KeepAlivePeriodInSeconds"] = resources.warm_pool_seconds
    return config


def stopping_condition(resources: Resources) -> dict[str, int]:
    condition = {"MaxRuntimeInSeconds": resources.max_runtime_seconds}
    if resources.spot:
        condition["MaxWaitTimeInSeconds"] = resources.max_wait_seconds
    return condition


def tags(training_id: str, issue: tuple[str, int] | None) -> list[dict[str, str]]:
    found = [{"Key": "mlops:training-id", "Value": training_id}]
    if issue is not None:
        found += [{"Key": "mlops:repository", "Value": issue[0]}, {"Key": "mlops:issue", "Value": str(issue[1])}]
    return found


def _resource_problems(resources: Resources) -> list[str]:
    checks = [
        (isinstance(resources.instance_count, int) and resources.instance_count >= 1, "instance_count: at least 1"),
        (str(resources.instance_type).startswith("ml."), "instance_type: a SageMaker type such as ml.m5.large"),
        (0 <= resources.warm_pool_seconds <= MAX_WARM_POOL_SECONDS, "warm_pool_seconds: between 0 and 3600"),
        (not (resources.spot and resources.warm_pool_seconds), "warm_pool_seconds: warm pools do not work with spot"),
        (not resources.spot or resources.max_wait_seconds >= resources.max_runtime_seconds,
         "max_wait_seconds: with spot, at least max_runtime_seconds"),
        (1 <= resources.max_runtime_seconds <= 28 * 24 * 3600, "max_runtime_seconds: between 1 and 2419200 (28 days)"),
    ]
    return [problem for ok, problem in checks if not ok]


def _s3(bucket: str, prefix: str) -> str:
    return f"s3://{bucket}/{prefix.strip('/')}/"
