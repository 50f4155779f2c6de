"""The registry's own rules (mlops.registry.ModelRegistry) over the SageMaker Model Registry backend, on moto:
what a user sees (versions, current, rollback, retention) and what SageMaker then holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlops.backends.aws.clients import AwsClients
from mlops.backends.aws.dynamodb_table import Table
from mlops.backends.aws.s3_store import S3ArtifactStore
from mlops.backends.aws.sagemaker_registry import SageMakerRegistryBackend
from mlops.errors import AwsConflict, RegistryError, UsageError
from mlops.registry import ModelRegistry

BUCKET = "mlops-artifacts"
MODEL = "iris-rf"


@pytest.fixture
def backend(aws: AwsClients, table: Table) -> SageMakerRegistryBackend:
    return SageMakerRegistryBackend(aws.client("sagemaker"), table, BUCKET)


@pytest.fixture
def registry(aws: AwsClients, backend: SageMakerRegistryBackend, tmp_path: Path) -> ModelRegistry:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    key_id = aws.client("kms").create_key()["KeyMetadata"]["KeyId"]
    return ModelRegistry(backend, S3ArtifactStore(aws.client("s3"), BUCKET, key_id, tmp_path / "scratch"))


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "trained"
    directory.mkdir()
    (directory / "model.skops").write_bytes(b"weights")
    (directory / "evaluation.json").write_text('{"accuracy": 0.95}')
    return directory


def register(registry: ModelRegistry, source: Path, training_id: str, **overrides: Any) -> tuple[str, str | None]:
    arguments: dict[str, Any] = {
        "model_id": MODEL, "training_id": training_id, "algorithm": "random_forest",
        "learning_type": "supervised", "task": "classification", "hyperparameters": {"n_estimators": 100},
        "metrics": {"accuracy": 0.95}, "metric": "accuracy", "data_digest": "sha256:abc",
        "issue": {"repository": "acme/ml", "number": 7, "title": "Iris {classifier} \"v2\""},
        "source_dir": source, **overrides,
    }
    ref, previous = registry.register(**arguments)
    registry.mark_verified(ref.model_id, ref.version)
    return ref.version, previous


def packages(backend: SageMakerRegistryBackend) -> list[dict[str, Any]]:
    """Every package of the model as SageMaker describes it, oldest first."""
    summaries = backend.sagemaker.list_model_packages(ModelPackageGroupName=MODEL)["ModelPackageSummaryList"]
    return [backend.sagemaker.describe_model_package(ModelPackageName=s["ModelPackageArn"]) for s in summaries]


def approvals(backend: SageMakerRegistryBackend) -> list[tuple[str, str]]:
    return [(p["CustomerMetadataProperties"]["mlops.version"], p["ModelApprovalStatus"]) for p in packages(backend)]


def test_a_registered_version_is_an_approved_package_with_its_record(
    registry: ModelRegistry, backend: SageMakerRegistryBackend, model_dir: Path
) -> None:
    # WHEN a first model is registered
    version, previous = register(registry, model_dir, "train-1")
    # THEN it is v1.0.0, current, and the whole record (quotes and braces in the title too) reads back
    assert (version, previous, registry.current(MODEL)) == ("v1.0.0", None, "v1.0.0")
    (record,) = registry.versions(MODEL)
    assert record["issue"]["title"] == 'Iris {classifier} "v2"' and record["verified"] is True
    # AND SageMaker holds one group (tagged) with one Approved package, readable metadata and metrics in S3
    (package,) = packages(backend)
    assert package["ModelApprovalStatus"] == "Approved"
    metadata = package["CustomerMetadataProperties"]
    assert metadata["mlops.version"] == "v1.0.0" and metadata["mlops.training_id"] == "train-1"
    assert metadata["mlops.metric"] == "accuracy=0.95"
    uri = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    assert uri == f"s3://{BUCKET}/models/{MODEL}/v1.0.0/evaluation.json"
    assert registry.store.exists("models/iris-rf/v1.0.0/evaluation.json")
    group_arn = backend.sagemaker.describe_model_package_group(ModelPackageGroupName=MODEL)["ModelPackageGroupArn"]
    assert backend.sagemaker.list_tags(ResourceArn=group_arn)["Tags"] == [
        {"Key": "mlops:managed-by", "Value": "mlops-issueops"}
    ]


def test_the_version_handed_back_and_every_record_name_the_model_package_arn(
    registry: ModelRegistry, backend: SageMakerRegistryBackend, model_dir: Path
) -> None:
    # WHEN a model is registered (and registered again by a retried step)
    arguments: dict[str, Any] = {
        "model_id": MODEL, "training_id": "train-1", "algorithm": "random_forest", "learning_type": "supervised",
        "task": "classification", "hyperparameters": {}, "metrics": {"accuracy": 0.95}, "metric": "accuracy",
        "data_digest": "sha256:abc", "issue": {}, "source_dir": model_dir,
    }
    ref, _ = registry.register(**arguments)
    again, _ = registry.register(**arguments)
    # THEN the version names the package SageMaker created (the report's Model Registry ARN line)
    (package,) = packages(backend)
    assert ref.registry_arn == again.registry_arn == package["ModelPackageArn"]
    assert package["ModelPackageArn"].startswith(f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{MODEL}/")
    # AND so do the records `mlops models show` reads
    assert registry.show(MODEL)["registry_arn"] == package["ModelPackageArn"]
    assert [r["registry_arn"] for r in registry.versions(MODEL)] == [package["ModelPackageArn"]]

def test_current_is_the_newest_approved_and_a_rollback_rejects_what_it_leaves(
    registry: ModelRegistry, backend: SageMakerRegistryBackend, model_dir: Path
) -> None:
    register(registry, model_dir, "train-1")
    group = backend.sagemaker.describe_model_package_group(ModelPackageGroupName=MODEL)
    # WHEN new hyperparameters are registered THEN a minor bump, current, both Approved
    assert register(registry, model_dir, "train-2", hyperparameters={"n_estimators": 300}) == ("v1.1.0", "v1.0.0")
    assert approvals(backend) == [("v1.0.0", "Approved"), ("v1.1.0", "Approved")]
    # AND the group was not created again (moto would silently replace it)
    again = backend.sagemaker.describe_model_package_group(ModelPackageGroupName=MODEL)
    assert again["CreationTime"] == group["CreationTime"]
    # WHEN the operator rolls back THEN v1.0.0 is current again and v1.1.0 is Rejected and marked rolled back
    rollback = registry.rollback(MODEL, actor="alice", reason="worse in production")
    assert (rollback["from_version"], rollback["to_version"], registry.current(MODEL)) == ("v1.1.0", "v1.0.0", "v1.0.0")
    assert approvals(backend) == [("v1.0.0", "Approved"), ("v1.1.0", "Rejected")]
    assert [r["status"] for r in registry.versions(MODEL)] == ["registered", "rolled_back"]
    assert registry.rollbacks(MODEL) == [rollback]
    # AND every update sent the full state: the stamped package kept its record, metadata and metrics
    first = packages(backend)[0]
    assert first["CustomerMetadataProperties"]["mlops.rollback"].startswith("from v1.1.0 to v1.0.0 by alice at ")
    assert first["CustomerMetadataProperties"]["mlops.training_id"] == "train-1"
    assert "ModelQuality" in first["ModelMetrics"]


def test_rolling_forward_by_name_approves_the_newer_version_again(
    registry: ModelRegistry, backend: SageMakerRegistryBackend, model_dir: Path
) -> None:
    register(registry, model_dir, "train-1")
    register(registry, model_dir, "train-2", hyperparameters={"n_estimators": 300})
    registry.rollback(MODEL, actor="alice", reason="check")
    registry.rollback(MODEL, "v1.1.0", actor="alice", reason="it was fine")
    assert registry.current(MODEL) == "v1.1.0"
    assert approvals(backend) == [("v1.0.0", "Rejected"), ("v1.1.0", "Approved")]


def test_registering_is_idempotent_per_training(
    registry: ModelRegistry, backend: SageMakerRegistryBackend, model_dir: Path
) -> None:
    register(registry, model_dir, "train-1")
    # WHEN a retried step registers the same training THEN it gets the same version and no second package
    assert register(registry, model_dir, "train-1") == ("v1.0.0", None)
    assert len(packages(backend)) == 1


def test_two_trainings_choosing_one_version_conflict_and_the_same_one_passes(
    backend: SageMakerRegistryBackend,
) -> None:
    record = {"model_id": MODEL, "version": "v1.0.0", "training_id": "train-a", "artifact_key": "models/x/",
              "status": "registering"}
    backend.insert(record)
    # WHEN another training inserts the version at the same time THEN AwsConflict, nothing else written
    with pytest.raises(AwsConflict, match="taken by another training"):
        backend.insert({**record, "training_id": "train-b"})
    assert backend.find_by_training("train-b") is None
    # WHEN the first training's step runs again THEN it passes without a second package
    backend.insert(record)
    assert [r["training_id"] for r in backend.versions(MODEL)] == ["train-a"]


def test_retention_hides_and_rejects_old_versions_and_deletes_their_artifacts(
    registry: ModelRegistry, backend: SageMakerRegistryBackend, model_dir: Path
) -> None:
    for number in range(7):  # seven retrains with the same settings: v1.0.0 .. v1.0.6
        register(registry, model_dir, f"train-{number}")
    kept = [r["version"] for r in registry.versions(MODEL)]
    assert kept == ["v1.0.2", "v1.0.3", "v1.0.4", "v1.0.5", "v1.0.6"]
    deleted = [p for p in packages(backend) if p["CustomerMetadataProperties"].get("mlops.deleted") == "true"]
    assert [p["CustomerMetadataProperties"]["mlops.version"] for p in deleted] == ["v1.0.0", "v1.0.1"]
    assert {p["ModelApprovalStatus"] for p in deleted} == {"Rejected"}
    assert registry.store.list("models/iris-rf/v1.0.0/") == []
    assert backend.find_by_training("train-0") is None


def test_an_automatic_rollback_of_a_first_version_leaves_nothing_current(
    registry: ModelRegistry, backend: SageMakerRegistryBackend, model_dir: Path
) -> None:
    register(registry, model_dir, "train-1")
    registry.rollback(MODEL, actor="mlops", reason="verification failed", automatic=True)
    assert registry.current(MODEL) is None
    assert approvals(backend) == [("v1.0.0", "Rejected")]


def test_the_current_version_cannot_be_deleted_and_unknown_models_are_empty(
    registry: ModelRegistry, backend: SageMakerRegistryBackend, model_dir: Path
) -> None:
    register(registry, model_dir, "train-1")
    with pytest.raises(RegistryError, match="is current and cannot be deleted"):
        backend.delete(MODEL, "v1.0.0")
    assert backend.versions("nobody") == [] and backend.current("nobody") is None
    assert backend.models() == [MODEL]
    with pytest.raises(RegistryError, match=r"has no version v9\.0\.0"):
        backend.update(MODEL, "v9.0.0", {"verified": True})


PREFIX = "mlops-0a1b2c3d-"  # the pipeline stack's ModelPackageGroupPrefix: its IAM grants cover only these names


def test_groups_are_named_with_the_stacks_prefix_so_its_iam_grants_cover_them(
    aws: AwsClients, table: Table, model_dir: Path, tmp_path: Path
) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    key_id = aws.client("kms").create_key()["KeyMetadata"]["KeyId"]
    backend = SageMakerRegistryBackend(aws.client("sagemaker"), table, BUCKET, PREFIX)
    registry = ModelRegistry(backend, S3ArtifactStore(aws.client("s3"), BUCKET, key_id, tmp_path / "scratch"))
    register(registry, model_dir, "train-1")
    register(registry, model_dir, "train-2", hyperparameters={"n_estimators": 200})
    groups = aws.client("sagemaker").list_model_package_groups()["ModelPackageGroupSummaryList"]
    assert [group["ModelPackageGroupName"] for group in groups] == [PREFIX + MODEL]
    arns = [version["registry_arn"] for version in registry.versions(MODEL)]
    assert len(arns) == 2 and all(f":model-package/{PREFIX}{MODEL}/" in arn for arn in arns)
    registry.rollback(MODEL, actor="octocat", reason="drift")
    assert registry.current(MODEL) == "v1.0.0"  # the model is still named by its id; SageMaker by the group
    assert backend.models() == [MODEL]


def test_a_model_id_too_long_for_the_prefix_is_a_usage_error_before_any_call(
    aws: AwsClients, table: Table, model_dir: Path
) -> None:
    backend = SageMakerRegistryBackend(aws.client("sagemaker"), table, BUCKET, PREFIX)
    longest = "m" * (63 - len(PREFIX))
    assert backend.group(longest) == PREFIX + longest  # exactly SageMaker's 63 characters
    record = {"model_id": longest + "x", "version": "v1.0.0", "training_id": "train-1", "artifact_key": "k/"}
    with pytest.raises(UsageError, match=r"49 characters; with backend aws it may have at most 48") as raised:
        backend.insert(record)
    assert PREFIX in str(raised.value)
    assert table.get(f"model#{longest}x", "version#v1.0.0") is None  # nothing claimed
    assert aws.client("sagemaker").list_model_package_groups()["ModelPackageGroupSummaryList"] == []
    with pytest.raises(UsageError, match="not a SageMaker model package group name"):
        SageMakerRegistryBackend(aws.client("sagemaker"), table, BUCKET, "bad_prefix-").group(MODEL)
