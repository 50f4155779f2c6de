"""`record` and `rollback` with MLOPS_BACKEND=aws, as subprocesses against a moto server and the fake GitHub:
a finished run's history files come from `history/` in the bucket (as S3History wrote them) and land in the
repository in one commit, byte for byte; a rollback goes through the SageMaker registry, is recorded in the
bucket's history (and its audit copy) and committed the same way."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops.backends.aws.dynamodb_table import Table
from mlops.backends.aws.history import AuditCopy, S3History
from mlops.backends.aws.s3_store import S3ArtifactStore
from mlops.backends.aws.sagemaker_registry import SageMakerRegistryBackend
from mlops.history import HistoryLog, plot_links
from mlops.pipeline.models import Attempt, GateResult, ModelRef, RunState
from mlops.registry import ModelRegistry
from mlops.report import render_report
from tests.aws.action_on_aws import (
    ACTION_KEY,
    BUCKET,
    RUN_TABLE,
    ActionRunner,
    FakeGitHub,
    MotoServer,
    aws_env,
    create_run_table,
    moto_server,
    octokit,
)
from tests.aws.aws_harness import make_run

AUDIT = "mlops-audit"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:mlops-pipeline"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


@pytest.fixture
def key_id(moto: MotoServer) -> str:
    """Fresh buckets (the audit one with Object Lock), a KMS key and the run table."""
    moto.reset()
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.create_bucket(Bucket=AUDIT, ObjectLockEnabledForBucket=True)
    create_run_table(moto)
    return str(moto.client("kms").create_key()["KeyMetadata"]["KeyId"])


@pytest.fixture
def history(moto: MotoServer, key_id: str, tmp_path: Path) -> S3History:
    """The history as the Publish Lambda keeps it (S3History), written by the test."""
    store = S3ArtifactStore(moto.client("s3"), BUCKET, key_id, tmp_path / "scratch")
    return S3History(store, AuditCopy(moto.client("s3"), AUDIT, 30, key_id))


@pytest.fixture
def action(tmp_path: Path) -> Iterator[ActionRunner]:
    with FakeGitHub() as fake:
        yield ActionRunner(tmp_path, fake)
    assert not fake.problems, "requests GitHub's REST API description does not allow:\n" + "\n".join(fake.problems)


GROUP_PREFIX = "mlops-0a1b2c3d-"  # the stack's ModelPackageGroupPrefix: the role may touch only those groups


def env(moto: MotoServer, key_id: str) -> dict[str, str]:
    return aws_env(moto, MACHINE, MLOPS_KMS_KEY_ID=key_id, MLOPS_AUDIT_BUCKET=AUDIT,
                   MLOPS_MODEL_PACKAGE_GROUP_PREFIX=GROUP_PREFIX)


def failed_verification_run() -> RunState:
    """A run that registered v1.1.0, failed its verification and was rolled back (so it carries a rollback)."""
    run = make_run("train-20261202-111111-0000abcd", issue=7)
    run.status = "failed"
    run.attempts = [Attempt(number=1, hyperparameters={"C": 1.0}, algorithm="svm", metrics={"accuracy": 0.95},
                            metric="accuracy", value=0.95, passed=True)]
    run.gate = GateResult(metric="accuracy", value=0.95, threshold=0.9, comparison=">=", passed=True,
                          decision="pass")
    run.registered = ModelRef(model_id="iris-svm", version="v1.1.0", artifact_key="models/iris-svm/v1.1.0/")
    run.rolled_back_to = "v1.0.0"
    return run


def bucket_history(moto: MotoServer) -> dict[str, bytes]:
    s3 = moto.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="history/").get("Contents", [])
    return {
        "training_history/" + item["Key"].removeprefix("history/"): s3.get_object(Bucket=BUCKET, Key=item["Key"])[
            "Body"
        ].read()
        for item in listed
        if not item["Key"].endswith(".head.json")
    }


def dispatch(training_id: str) -> dict[str, Any]:
    payload = octokit("repository_dispatch")
    payload["action"] = "mlops-run-finished"
    payload["client_payload"] = {"training_id": training_id}
    return payload


def test_record_commits_the_run_s_files_from_the_bucket_byte_for_byte_once(
    action: ActionRunner, moto: MotoServer, key_id: str, history: S3History, tmp_path: Path
) -> None:
    # GIVEN a finished run the Publish Lambda recorded in the bucket, with the automatic rollback it caused
    run = failed_verification_run()
    plots = {"confusion_matrix": PNG}
    history.record_training(run, render_report(run, plots=plot_links(run.training_id, plots)), plots)
    history.record_rollback({"model_id": "iris-svm", "from_version": "v1.1.0", "to_version": "v1.0.0",
                             "actor": "mlops (automatic)", "reason": "verification failed", "automatic": True,
                             "at": "2026-12-02T11:20:00+00:00"})
    moto.recorder.calls.clear()

    # WHEN the run's mlops-run-finished dispatch is answered, twice (a redelivery)
    recorded = action.run("record", "repository_dispatch", dispatch(run.training_id), **env(moto, key_id))
    again = action.run("record", "repository_dispatch", dispatch(run.training_id), **env(moto, key_id))

    # THEN one commit holds exactly the bucket's files for the run and its rollback, with the same bytes
    assert recorded.returncode == 1 and recorded.outputs["status"] == "failed", recorded  # the run failed
    assert recorded.outputs["training-id"] == run.training_id
    commits = [c for c in action.fake.commits() if any(p.startswith("training_history/") for p in c["paths"])]
    (commit,) = commits
    in_bucket = bucket_history(moto)
    assert sorted(commit["paths"]) == sorted(in_bucket)
    assert f"training_history/{run.training_id}/confusion_matrix.png" in in_bucket
    assert any(path.startswith("training_history/rollback-iris-svm-") for path in in_bucket)
    assert all(action.fake.file(path) == data for path, data in in_bucket.items())
    assert "already in the repository" in again.summary

    # AND the committed history verifies as a chain, and the action only read from the bucket
    checkout = tmp_path / "checkout"
    for path, data in in_bucket.items():
        (checkout / path).parent.mkdir(parents=True, exist_ok=True)
        (checkout / path).write_bytes(data)
    assert HistoryLog(checkout / "training_history").verify() == []
    assert {call.split(" ")[0] for call in moto.recorder.by(ACTION_KEY)} == {"s3:GET"}


def test_record_of_a_succeeded_run_reads_only_its_own_files(
    action: ActionRunner, moto: MotoServer, key_id: str, history: S3History
) -> None:
    run = failed_verification_run()
    run.status, run.rolled_back_to = "succeeded", None
    history.record_training(run, render_report(run, plots={}), {})
    moto.recorder.calls.clear()

    result = action.run("record", "repository_dispatch", dispatch(run.training_id), **env(moto, key_id))

    assert result.returncode == 0 and result.outputs["status"] == "succeeded", result
    assert result.outputs["model-version"] == "v1.1.0"
    assert sorted(moto.recorder.by(ACTION_KEY)) == [  # no listing: a succeeded run caused no rollback
        f"s3:GET /{BUCKET}/history/{run.training_id}.json", f"s3:GET /{BUCKET}/history/{run.training_id}.md"
    ]


def test_record_of_a_run_the_bucket_does_not_have_says_so(
    action: ActionRunner, moto: MotoServer, key_id: str
) -> None:
    result = action.run("record", "repository_dispatch", dispatch("train-20261202-000000-deadbeef"),
                        **env(moto, key_id))

    assert result.returncode == 1, result
    assert any("no history record train-20261202-000000-deadbeef in s3://mlops-artifacts/history/" in e
               for e in result.errors), result


def test_rollback_goes_through_the_sagemaker_registry_and_commits_the_record_the_bucket_holds(
    action: ActionRunner, moto: MotoServer, key_id: str, tmp_path: Path
) -> None:
    # GIVEN iris-rf v1.0.0 and v1.0.1 (same algorithm and settings: a patch) in SageMaker, the newer one current
    store = S3ArtifactStore(moto.client("s3"), BUCKET, key_id, tmp_path / "scratch")
    backend = SageMakerRegistryBackend(moto.client("sagemaker"), Table(moto.client("dynamodb"), RUN_TABLE), BUCKET,
                                       GROUP_PREFIX)
    registry = ModelRegistry(backend, store)
    model_dir = tmp_path / "trained"
    model_dir.mkdir()
    (model_dir / "model.skops").write_bytes(b"weights")
    (model_dir / "evaluation.json").write_text(json.dumps({"accuracy": 0.95}))
    for training_id in ("train-20261202-100000-00000001", "train-20261202-100100-00000002"):
        ref, _ = registry.register(
            model_id="iris-rf", training_id=training_id, algorithm="random_forest", learning_type="supervised",
            task="classification", hyperparameters={"n_estimators": 100}, metrics={"accuracy": 0.95},
            metric="accuracy", data_digest="sha256:abc", issue={"repository": "Codertocat/Hello-World"},
            source_dir=model_dir,
        )
        registry.mark_verified(ref.model_id, ref.version)
    assert registry.current("iris-rf") == "v1.0.1"
    groups = moto.client("sagemaker").list_model_package_groups()["ModelPackageGroupSummaryList"]
    assert [group["ModelPackageGroupName"] for group in groups] == [GROUP_PREFIX + "iris-rf"]

    # WHEN a rollback is dispatched without a version
    payload = octokit("workflow_dispatch")
    payload["inputs"] = {"model_id": "iris-rf", "version": "", "reason": "drift in production"}
    moto.recorder.calls.clear()
    result = action.run("rollback", "workflow_dispatch", payload, **env(moto, key_id))

    # THEN SageMaker serves the previous version, and the rollback's record is committed as the bucket holds it
    assert result.returncode == 0, result
    assert result.outputs["model-id"] == "iris-rf" and result.outputs["model-version"] == "v1.0.0"
    assert registry.current("iris-rf") == "v1.0.0"
    in_bucket = bucket_history(moto)
    (commit,) = [c for c in action.fake.commits() if any(p.startswith("training_history/") for p in c["paths"])]
    assert sorted(commit["paths"]) == sorted(in_bucket) and len(in_bucket) == 2
    assert all(action.fake.file(path) == data for path, data in in_bucket.items())
    record = json.loads(next(data for path, data in in_bucket.items() if path.endswith(".json")))
    assert record["reason"] == "drift in production" and record["from_version"] == "v1.0.1"
    audit = moto.client("s3").list_objects_v2(Bucket=AUDIT, Prefix="history/").get("Contents", [])
    assert {item["Key"].removeprefix("history/") for item in audit} >= {
        path.removeprefix("training_history/") for path in in_bucket
    }
    assert "v1.0.0 of iris-rf is current" in result.summary

    # AND what the job called on AWS: the registry, the run table, and history/ in the two buckets only
    made = {re.sub(r"history/\S+", "history/*", call) for call in moto.recorder.by(ACTION_KEY)}
    assert made == {
        "sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage", "sagemaker:UpdateModelPackage",
        "dynamodb:GetItem", "dynamodb:PutItem",
        f"s3:GET /{BUCKET}/history/*", f"s3:HEAD /{BUCKET}/history/*", f"s3:PUT /{BUCKET}/history/*",
        f"s3:PUT /{AUDIT}/history/*",
    }, made
