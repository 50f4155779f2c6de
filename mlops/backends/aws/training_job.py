"""The SageMaker CreateTrainingJob request for one try of a job (training, or verifying a registered model), as
plain boto3/Step Functions parameters: exactly what the compiled Train and Verify states send (mlops/pipeline/
asl.py maps the same fields from the run document, the instance type included; the deployment's role, image and
KMS key are `JobConfig.substitutions()`).

No SageMaker SDK (a 1 GB install, 2.4 s to import): the request is a dict that Step Functions' createTrainingJob
integration or boto3 takes as it is, and tests/aws/test_training_job.py validates it against botocore's own
service model.

Image: the AWS scikit-learn framework image, pinned per region, and our package as the script-mode source
(`sagemaker_submit_directory` + `sagemaker_program`), rather than an image built from a Dockerfile of ours. Why:
the entry point already follows the script-mode contract (SM_* variables) the local trainer imitates, so what
passes locally passes there; AWS builds, patches and scans the framework image, where our own would need an ECR
repository, a build-and-push job in the deployment and its own vulnerability scanning; and a code change ships as
a small tarball, not a new image. The price: what the image lacks (skops, gymnasium, matplotlib) travels as the
bundle's requirements.txt (mlops/backends/aws/training_source.py), and the image's framework version is a choice
to keep in step with the train extra (a test checks them against each other).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from mlops.errors import InvalidRequest, UsageError
from mlops.pipeline.asl import JOB_ENVIRONMENT
from mlops.pipeline.models import METRIC_REGEX, JobResources, TrainingJob, metric_definitions
from mlops.resources import resource_problems
from mlops.settings import AwsSettings

__all__ = ["METRIC_REGEX", "metric_definitions"]  # where the request's metric definitions come from

# sagemaker-scikit-learn:<version>-cpu-py3: the newest training version the SageMaker SDK lists (sagemaker-core's
# image_uri_config/sklearn.json, "training"): scikit-learn 1.4.2, numpy 2.1.0 on Python 3.10, as the train extra
# needs (tests/aws/test_training_source.py checks them against each other; training_source.FRAMEWORK_SHIPS).
FRAMEWORK_VERSION = "1.4-2"
# The account holding sagemaker-scikit-learn in each region (the same file; the same accounts as for 1.2-1).
SKLEARN_ACCOUNTS = {
    "us-east-1": "683313688378", "us-east-2": "257758044811", "us-west-1": "746614075791",
    "us-west-2": "246618743249", "ca-central-1": "341280168497", "sa-east-1": "737474898029",
    "eu-west-1": "141502667606", "eu-west-2": "764974769150", "eu-west-3": "659782779980",
    "eu-central-1": "492215442770", "eu-north-1": "662702820516", "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698", "ap-northeast-3": "867004704886", "ap-south-1": "720646828776",
    "ap-southeast-1": "121021644041", "ap-southeast-2": "783357654285",
}
JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # SageMaker's TrainingJobName pattern


@dataclass(frozen=True)
class Resources:
    """What a job runs on, complete; each may be overridden (see `with_overrides`, which checks the result by
    the same rules as a request's `resources`: mlops/resources.py)."""

    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    volume_gb: int = 30
    max_runtime_seconds: int = 3600
    spot: bool = False  # managed spot training: cheaper, may be interrupted (resumes from checkpoints)
    max_wait_seconds: int = 7200  # spot only: runtime plus time waiting for capacity
    warm_pool_seconds: int = 0  # keep the instance for the next try or retrain (not with spot)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Resources:
        merged = {**asdict(self), **overrides}
        if not merged["spot"] and "max_wait_seconds" not in overrides:
            del merged["max_wait_seconds"]  # the default waits for nothing without spot: no mistake of the caller
        problems = resource_problems(merged)
        if problems:
            raise InvalidRequest("the training resources have problems", problems)
        return replace(self, **overrides)

    def applied_to(self, job: TrainingJob) -> TrainingJob:
        """`job` sized by these resources."""
        sized = {key: value for key, value in asdict(self).items() if key != "max_runtime_seconds"}
        return job.model_copy(update={"resources": JobResources(**sized),
                                      "max_runtime_seconds": self.max_runtime_seconds})


@dataclass(frozen=True)
class JobConfig:
    """The deployment's side of every request: who runs the jobs, on what, encrypted with which key. The state
    machine gets the same values as DefinitionSubstitutions (SageMakerRoleArn, TrainingImage, KmsKeyArn); the
    script-mode source and the instance type travel in the job itself (`TrainingJob.source_uri`, `.resources`:
    `instance_type` is only the default a request without `resources.instance_type` gets)."""

    region: str
    role_arn: str
    kms_key_id: str
    image: str | None = None  # None: the pinned scikit-learn framework image of the region
    instance_type: str = "ml.m5.large"
    framework_version: str = FRAMEWORK_VERSION

    @property
    def training_image(self) -> str:
        return self.image or framework_image(self.region, self.framework_version)

    @classmethod
    def from_settings(cls, aws: AwsSettings) -> JobConfig:
        """From MLOPS_* settings; a missing one is a UsageError naming it."""
        needed = {"AWS_REGION": aws.region, "MLOPS_SAGEMAKER_ROLE_ARN": aws.sagemaker_role_arn,
                  "MLOPS_KMS_KEY_ID": aws.kms_key_id}
        missing = [name for name, value in needed.items() if not value]
        if missing:
            raise UsageError(f"{missing[0]}: not set; training jobs need it (set {', '.join(missing)})")
        return cls(region=str(aws.region), role_arn=str(aws.sagemaker_role_arn), kms_key_id=str(aws.kms_key_id),
                   image=aws.training_image, instance_type=aws.training_instance_type)

    def substitutions(self) -> dict[str, str]:
        """The state machine's DefinitionSubstitutions for these values (the Lambda ARNs aside)."""
        return {"SageMakerRoleArn": self.role_arn, "TrainingImage": self.training_image,
                "KmsKeyArn": self.kms_key_id}


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


def training_job_request(job: TrainingJob, config: JobConfig, *, try_number: int) -> dict[str, Any]:
    """The CreateTrainingJob parameters for one try of `job`: exactly what the compiled Train state sends
    (mlops/pipeline/asl.py maps the same fields from the run document; tests/aws/test_engines.py compares)."""
    check_hyperparameters(job.encoded_hyperparameters)
    return {
        "TrainingJobName": job.try_name(try_number - 1),
        "RoleArn": config.role_arn,
        "AlgorithmSpecification": {
            "TrainingImage": config.training_image,
            "TrainingInputMode": "FastFile",  # data streams from S3 on demand: 1 TB never passes through us
            "MetricDefinitions": job.metric_definitions,
        },
        "HyperParameters": job.encoded_hyperparameters,
        "InputDataConfig": job.input_data_config,
        "OutputDataConfig": {"S3OutputPath": job.output_uri, "KmsKeyId": config.kms_key_id},
        "ResourceConfig": resource_config(job.resources, config),
        "StoppingCondition": job.stopping_condition,
        "EnableManagedSpotTraining": job.resources.spot,
        "EnableInterContainerTrafficEncryption": job.encrypt_inter_container_traffic,
        "CheckpointConfig": {"S3Uri": job.checkpoint_uri},  # an interrupted spot job resumes from here
        "Environment": JOB_ENVIRONMENT,
        "Tags": job.tags,
    }


def check_hyperparameters(encoded: dict[str, str]) -> None:
    too_long = [f"hyperparameters.{name}: longer than SageMaker's 2500 characters" for name, text in encoded.items()
                if len(text) > 2500]
    if too_long or len(encoded) > 100:
        problems = too_long or ["hyperparameters: SageMaker takes at most 100"]
        raise InvalidRequest("the hyperparameters do not fit a SageMaker job", problems)


def resource_config(resources: JobResources, config: JobConfig) -> dict[str, Any]:
    return {
        "InstanceType": resources.instance_type, "InstanceCount": resources.instance_count,
        "VolumeSizeInGB": resources.volume_gb, "VolumeKmsKeyId": config.kms_key_id,
        "KeepAlivePeriodInSeconds": resources.warm_pool_seconds,
    }
