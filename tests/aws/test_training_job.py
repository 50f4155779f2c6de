"""The CreateTrainingJob request: valid for botocore's own service model, accepted by moto, and right in what a
user relies on (the image, the channels, the metrics SageMaker charts, unique names, encryption, tags)."""

from __future__ import annotations

import re

import botocore.session
import pytest
from botocore.validate import ParamValidator

from mlops.backends.aws.clients import AwsClients
from mlops.backends.aws.training_job import (
    JOB_NAME,
    JobConfig,
    Resources,
    job_name,
    metric_definitions,
    training_job_request,
)
from mlops.backends.local.store import LocalArtifactStore
from mlops.errors import InvalidRequest, UsageError
from mlops.pipeline.agents import Ports, build_training_job
from mlops.pipeline.models import RunState, TrainingJob
from mlops.request import validate_request
from mlops.settings import AwsSettings, Settings
from mlops.training import console

CONFIG = JobConfig(region="us-east-1", role_arn="arn:aws:iam::123456789012:role/mlops-training",
                   kms_key_id="alias/mlops")
RUN = "runs/train-20250110-123456-1a2b3c4d"
JOB = TrainingJob(name="train-20250110-123456-1a2b3c4d-a2", training_id="train-20250110-123456-1a2b3c4d", attempt=2,
                  hyperparameters={"n_estimators": 300, "max_depth": None, "mlops_metric": "accuracy"},
                  channels={"train": "datasets/iris/train", "test": "datasets/iris/test"},
                  channel_uris={"train": "s3://mlops-artifacts/datasets/iris/train",
                                "test": "s3://mlops-artifacts/datasets/iris/test"},
                  output_path=RUN, output_uri=f"s3://mlops-artifacts/{RUN}", task="classification",
                  source_uri="s3://mlops-artifacts/code/src.tar.gz", checkpoint_uri=f"s3://mlops-artifacts/{RUN}/checkpoints",
                  labels={"mlops:training-id": "train-20250110-123456-1a2b3c4d", "mlops:repository": "acme/ml",
                          "mlops:issue": "7"})


def request(resources: Resources | None = None) -> dict:
    job = resources.applied_to(JOB) if resources else JOB
    return training_job_request(job, CONFIG, try_number=1)


def botocore_problems(params: dict) -> str:
    model = botocore.session.get_session().get_service_model("sagemaker")
    report = ParamValidator().validate(params, model.operation_model("CreateTrainingJob").input_shape)
    return report.generate_report() if report.has_errors() else ""


@pytest.mark.parametrize("resources", [Resources(), Resources(spot=True), Resources(warm_pool_seconds=1800,
                                                                                    instance_count=2)])
def test_the_request_validates_against_botocore_s_service_model(resources: Resources) -> None:
    assert botocore_problems(request(resources=resources)) == ""


def test_the_validation_is_real_a_broken_request_is_reported() -> None:
    broken = request()
    broken["ResourceConfig"]["InstanceCount"] = "2"
    del broken["RoleArn"]
    assert "RoleArn" in botocore_problems(broken) and "InstanceCount" in botocore_problems(broken)


def test_moto_s_sagemaker_accepts_the_request_as_it_is(aws: AwsClients) -> None:
    sagemaker = aws.client("sagemaker")
    sagemaker.create_training_job(**request())
    job = sagemaker.describe_training_job(TrainingJobName="train-20250110-123456-1a2b3c4d-a2-t1")
    assert job["AlgorithmSpecification"]["TrainingImage"] == (
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
    )
    assert job["HyperParameters"]["n_estimators"] == "300"


def test_the_script_mode_source_channels_and_output_come_from_s3_prefixes() -> None:
    params = request()
    hps = params["HyperParameters"]
    assert (hps["sagemaker_program"], hps["sagemaker_submit_directory"]) == (
        '"mlops_train.py"', '"s3://mlops-artifacts/code/src.tar.gz"'
    )
    assert hps["max_depth"] == "null"  # JSON: the container decodes SM_HPS values back to None
    sources = {c["ChannelName"]: (c["InputMode"], c["DataSource"]["S3DataSource"]["S3Uri"])
               for c in params["InputDataConfig"]}
    assert sources == {"train": ("FastFile", "s3://mlops-artifacts/datasets/iris/train/"),
                       "test": ("FastFile", "s3://mlops-artifacts/datasets/iris/test/")}
    assert params["OutputDataConfig"] == {
        "S3OutputPath": "s3://mlops-artifacts/runs/train-20250110-123456-1a2b3c4d", "KmsKeyId": "alias/mlops"
    }
    assert params["ResourceConfig"]["VolumeKmsKeyId"] == "alias/mlops"
    assert {t["Key"]: t["Value"] for t in params["Tags"]} == {
        "mlops:training-id": JOB.training_id, "mlops:repository": "acme/ml", "mlops:issue": "7"
    }


@pytest.mark.parametrize("value", [0.9666666666666667, 1e-05, -3.25, 12.0, 1.5e300])
def test_the_metric_regexes_capture_what_the_entry_point_prints(value: float, capsys: pytest.CaptureFixture) -> None:
    console.metric("accuracy", value)
    console.metric("f1_macro", 0.5)
    printed = capsys.readouterr().out.splitlines()
    definitions = {d["Name"]: d["Regex"] for d in metric_definitions("classification")}
    # THEN the accuracy definition picks exactly its own line, and reads the printed number back exactly
    matches = [m for line in printed if (m := re.search(definitions["accuracy"], line))]
    assert [float(m.group(1)) for m in matches] == [value]


def test_every_metric_of_the_task_is_charted_and_none_without_a_task() -> None:
    names = [d["Name"] for d in metric_definitions("regression")]
    assert "r2" in names and "accuracy" not in names
    assert metric_definitions(None) == []


def test_job_names_are_unique_per_try_and_retrain_and_fit_sagemaker_s_rules() -> None:
    names = {job_name(JOB.training_id, attempt, try_number) for attempt in (1, 2) for try_number in (1, 2)}
    assert len(names) == 4 and all(JOB_NAME.match(name) for name in names)
    long_a, long_b = job_name("train_" + "x" * 80 + "a", 1, 1), job_name("train_" + "x" * 80 + "b", 1, 1)
    assert long_a != long_b and len(long_a) <= 63 and JOB_NAME.match(long_a)


def test_spot_and_warm_pool_options_shape_the_request() -> None:
    spot = request(resources=Resources(spot=True, max_runtime_seconds=600, max_wait_seconds=1200))
    assert spot["EnableManagedSpotTraining"] is True
    assert spot["StoppingCondition"] == {"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 1200}
    assert spot["CheckpointConfig"]["S3Uri"].endswith("/runs/train-20250110-123456-1a2b3c4d/checkpoints")
    warm = request(resources=Resources(warm_pool_seconds=900))
    assert warm["ResourceConfig"]["KeepAlivePeriodInSeconds"] == 900 and warm["EnableManagedSpotTraining"] is False
    assert "MaxWaitTimeInSeconds" not in warm["StoppingCondition"]  # SageMaker refuses it without spot
    assert request()["ResourceConfig"]["KeepAlivePeriodInSeconds"] == 0  # no warm pool


def test_request_overrides_are_checked_and_every_problem_reported() -> None:
    bigger = Resources().with_overrides({"instance_type": "ml.c5.2xlarge", "instance_count": 2})
    assert (bigger.instance_type, bigger.instance_count, bigger.max_runtime_seconds) == ("ml.c5.2xlarge", 2, 3600)
    with pytest.raises(InvalidRequest) as caught:
        Resources().with_overrides({"gpus": 4, "spot": True, "warm_pool_seconds": 60, "instance_count": 0})
    assert caught.value.problems == [
        "gpus: not a training resource (valid: instance_count, instance_type, max_runtime_seconds, max_wait_seconds, "
        "spot, volume_gb, warm_pool_seconds)",
        "instance_count: must be a whole number from 1 to 100 (got 0)",
        "warm_pool_seconds: warm pools do not work with spot; remove one of them",
    ]


def test_a_region_without_a_pinned_image_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no scikit-learn image is pinned for mars-north-1"):
        training_job_request(JOB, JobConfig(**{**CONFIG.__dict__, "region": "mars-north-1"}), try_number=1)


def test_an_image_of_your_own_replaces_the_pinned_one() -> None:
    own = JobConfig(**{**CONFIG.__dict__, "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mine:1"})
    assert training_job_request(JOB, own, try_number=1)["AlgorithmSpecification"]["TrainingImage"].endswith("/mine:1")


def test_the_job_config_comes_from_the_settings_and_names_what_is_missing() -> None:
    settings = AwsSettings.from_env({"AWS_REGION": "eu-west-1", "MLOPS_SAGEMAKER_ROLE_ARN": CONFIG.role_arn,
                                     "MLOPS_KMS_KEY_ID": "alias/k", "MLOPS_TRAINING_INSTANCE_TYPE": "ml.c5.xlarge"})
    config = JobConfig.from_settings(settings)
    assert (config.instance_type, config.training_image.split("/")[0]) == (
        "ml.c5.xlarge", "141502667606.dkr.ecr.eu-west-1.amazonaws.com")
    with pytest.raises(UsageError, match="MLOPS_SAGEMAKER_ROLE_ARN: not set"):
        JobConfig.from_settings(AwsSettings.from_env({"AWS_REGION": "eu-west-1"}))


DEFAULTS = Settings(train_timeout=1800, aws=AwsSettings(training_instance_type="ml.m5.xlarge"))
IRIS = {"learning_type": "supervised", "algorithm": "random_forest", "dataset_id": "iris",
        "evaluation_threshold": 0.85}


def requested(tmp_path, **resources: object) -> dict:
    """The CreateTrainingJob request BuildTrainingJob specifies for an iris request asking for `resources`."""
    request = validate_request({**IRIS, "resources": resources} if resources else IRIS)
    run = RunState(training_id="train-20250110-123456-1a2b3c4d", request=request)
    store = LocalArtifactStore(tmp_path)
    ports = Ports(settings=DEFAULTS, store=store, registry=None, trainer=None, history=None, notifier=None)  # type: ignore[arg-type]
    return training_job_request(build_training_job(run, ports).job, CONFIG, try_number=1)


def test_a_request_without_resources_gets_the_deployment_s_defaults(tmp_path) -> None:
    params = requested(tmp_path)
    assert params["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"  # MLOPS_TRAINING_INSTANCE_TYPE
    assert (params["ResourceConfig"]["InstanceCount"], params["ResourceConfig"]["VolumeSizeInGB"]) == (1, 30)
    assert params["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800}  # MLOPS_TRAIN_TIMEOUT
    assert params["EnableManagedSpotTraining"] is False
    assert botocore_problems(params) == ""


def test_a_request_s_instance_type_count_volume_and_warm_pool_reach_the_job(tmp_path) -> None:
    params = requested(tmp_path, instance_type="ml.c5.2xlarge", instance_count=2, volume_gb=100,
                       max_runtime_seconds=900, warm_pool_seconds=1200)
    assert params["ResourceConfig"] == {"InstanceType": "ml.c5.2xlarge", "InstanceCount": 2, "VolumeSizeInGB": 100,
                                        "VolumeKmsKeyId": "alias/mlops", "KeepAlivePeriodInSeconds": 1200}
    assert params["StoppingCondition"] == {"MaxRuntimeInSeconds": 900}
    assert params["EnableInterContainerTrafficEncryption"] is True  # two instances talk to each other
    assert botocore_problems(params) == ""


def test_a_request_for_spot_gets_a_wait_time_and_a_checkpoint_to_resume_from(tmp_path) -> None:
    params = requested(tmp_path, spot=True, max_runtime_seconds=600, max_wait_seconds=3000)
    assert params["EnableManagedSpotTraining"] is True
    assert params["StoppingCondition"] == {"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 3000}
    assert params["CheckpointConfig"]["S3Uri"].endswith("/runs/train-20250110-123456-1a2b3c4d/checkpoints")
    assert params["ResourceConfig"]["KeepAlivePeriodInSeconds"] == 0
    assert botocore_problems(params) == ""
