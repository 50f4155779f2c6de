"""MLOPS_BACKEND=aws in the composition root: the Lambdas' ports on moto, the read-only CLI commands against the
run table and the SageMaker registry, one error for every missing setting, and no boto3 for the local CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlops.backends.aws.clients import AwsClients
from mlops.backends.aws.dynamodb_runs import DynamoRunStore
from mlops.backends.aws.dynamodb_table import Table
from mlops.backends.aws.history import S3History
from mlops.backends.aws.s3_store import S3ArtifactStore
from mlops.backends.aws.sagemaker_registry import SageMakerRegistryBackend
from mlops.cli import main
from mlops.errors import UsageError
from mlops.pipeline.models import TrainingJob
from mlops.registry import ModelRegistry
from mlops.services import build_ports, build_services
from mlops.settings import Settings
from tests.aws.aws_harness import make_run
from tests.aws.conftest import REGION

BUCKET, AUDIT, TABLE = "mlops-artifacts", "mlops-audit", "mlops-runs"


@pytest.fixture
def aws_env(aws: AwsClients, table: Table, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The deployment on moto (buckets, key, table, topic) and the variables the Lambdas get."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.create_bucket(Bucket=AUDIT, ObjectLockEnabledForBucket=True)
    env = {
        "MLOPS_BACKEND": "aws", "AWS_REGION": REGION, "MLOPS_BUCKET": BUCKET, "MLOPS_RUN_TABLE": TABLE,
        "MLOPS_AUDIT_BUCKET": AUDIT, "MLOPS_KMS_KEY_ID": aws.client("kms").create_key()["KeyMetadata"]["KeyId"],
        "MLOPS_SNS_TOPIC_ARN": aws.client("sns").create_topic(Name="mlops")["TopicArn"],
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_the_lambdas_get_the_aws_ports(aws_env: dict[str, str], aws: AwsClients) -> None:
    ports = build_ports(Settings.from_env(aws_env))
    # THEN each port is the AWS one, on the configured bucket, table and audit bucket
    assert isinstance(ports.store, S3ArtifactStore) and ports.store.bucket == BUCKET
    assert isinstance(ports.registry, ModelRegistry)
    assert isinstance(ports.registry.backend, SageMakerRegistryBackend)
    assert ports.registry.backend.table.name == TABLE
    assert isinstance(ports.history, S3History) and ports.history.audit.bucket == AUDIT
    # AND they work: a rollback recorded through them lands in S3 and in the audit bucket
    ports.history.record_rollback({"model_id": "iris-svm", "from_version": "v1.1.0", "to_version": "v1.0.0",
                                   "actor": "octocat", "reason": "drift", "at": "2025-01-11T09:00:00+00:00"})
    for bucket in (BUCKET, AUDIT):
        keys = [item["Key"] for item in aws.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
        assert "history/rollback-iris-svm-20250111T090000Z.json" in keys


def test_the_notifier_e_mails_through_the_topic(aws_env: dict[str, str], aws: AwsClients) -> None:
    sqs = aws.client("sqs")
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("sns").subscribe(TopicArn=aws_env["MLOPS_SNS_TOPIC_ARN"], Protocol="sqs", Endpoint=queue_arn)
    # WHEN a step notifies
    build_ports(Settings.from_env(aws_env)).notifier.notify(make_run(), "accuracy 0.97: passed")
    # THEN the topic's subscribers get it
    messages = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=queue)["Messages"]]
    assert [(m["Subject"], m["Message"]) for m in messages] == [
        ("[mlops] iris-svm train-20250110-123456-abcd: running", "accuracy 0.97: passed")]


def test_a_lambda_asked_to_train_or_verify_in_process_refuses(aws_env: dict[str, str]) -> None:
    trainer = build_ports(Settings.from_env(aws_env)).trainer
    job = TrainingJob(name="t-a1", training_id="t", attempt=1, hyperparameters={}, output_path="runs/t")
    with pytest.raises(UsageError, match="runs as a SageMaker training job started by the state machine"):
        trainer.train(job, "t-a1-t1", 60)
    with pytest.raises(UsageError, match=r"verification of models/iris/v1\.0\.0/ runs as a SageMaker training job"):
        trainer.verify("models/iris/v1.0.0/")


def test_every_missing_setting_is_named_in_one_error() -> None:
    with pytest.raises(UsageError) as raised:
        build_ports(Settings.from_env({"MLOPS_BACKEND": "aws", "MLOPS_BUCKET": BUCKET}))
    assert [problem.split(":")[0] for problem in raised.value.problems] == [
        "AWS_REGION", "MLOPS_RUN_TABLE", "MLOPS_KMS_KEY_ID", "MLOPS_AUDIT_BUCKET"]
    assert "RunTableName output" in raised.value.problems[1]
    # AND the read-only commands need only where to read
    with pytest.raises(UsageError) as raised:
        build_services(Settings.from_env({"MLOPS_BACKEND": "aws"}), read_only=True)
    assert [problem.split(":")[0] for problem in raised.value.problems] == [
        "AWS_REGION", "MLOPS_BUCKET", "MLOPS_RUN_TABLE"]



@pytest.mark.parametrize(("value", "days"), [(None, 365), ("30", 30), ("36500", 36500)])
def test_the_audit_retention_is_read_once_in_days(aws_env: dict[str, str], value: str | None, days: int) -> None:
    env = {**aws_env, **({"MLOPS_AUDIT_RETENTION_DAYS": value} if value else {})}
    history = build_ports(Settings.from_env(env)).history
    assert isinstance(history, S3History) and history.audit.days == days


@pytest.mark.parametrize(("value", "problem"), [
    ("0", "MLOPS_AUDIT_RETENTION_DAYS: must be at least 1 day (got '0')"),
    ("36501", "MLOPS_AUDIT_RETENTION_DAYS: must be at most 36500 (got '36501')"),
    ("a year", "MLOPS_AUDIT_RETENTION_DAYS: 'a year' is not a number"),
])
def test_a_retention_s3_would_refuse_is_refused_up_front(value: str, problem: str) -> None:
    with pytest.raises(UsageError) as raised:
        Settings.from_env({"MLOPS_AUDIT_RETENTION_DAYS": value})
    assert raised.value.problems[0].startswith(problem)

def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else None, captured.err


def test_runs_and_status_read_the_run_table(aws_env: dict[str, str], table: Table, capsys) -> None:
    # GIVEN a run the state machine is executing (its document in the run table)
    runs = DynamoRunStore(table)
    run = make_run()
    runs.create(run, "Train")
    # WHEN the CLI looks with MLOPS_BACKEND=aws and no KMS key or audit bucket (reading needs neither)
    for name in ("MLOPS_KMS_KEY_ID", "MLOPS_AUDIT_BUCKET", "MLOPS_SNS_TOPIC_ARN"):
        del aws_env[name]
    code, listed, _ = cli(capsys, "runs")
    assert code == 0 and [r["training_id"] for r in listed] == [run.training_id]
    code, status, _ = cli(capsys, "status", run.training_id)
    assert code == 0 and status["next_state"] == "Train" and status["training_id"] == run.training_id
    # AND a mistyped id gets the project's error, with a suggestion
    code, error, err = cli(capsys, "status", run.training_id[:-1] + "x")
    assert code == 2 and error["error"] == "UsageError" and "did you mean" in err


def test_models_reads_the_sagemaker_registry(aws_env: dict[str, str], tmp_path: Path, capsys) -> None:
    # GIVEN a version registered through the Lambdas' ports
    registry = build_ports(Settings.from_env(aws_env)).registry
    source = tmp_path / "trained"
    source.mkdir()
    (source / "model.skops").write_bytes(b"weights")
    (source / "evaluation.json").write_text('{"accuracy": 0.95}')
    registry.register(model_id="iris-svm", training_id="train-20250110-123456-abcd", algorithm="svm",
                      learning_type="supervised", task="classification", hyperparameters={"C": 1.0},
                      metrics={"accuracy": 0.95}, metric="accuracy", data_digest="sha256:abc",
                      issue={"repository": "acme/ml", "number": 7}, source_dir=source)
    # WHEN the CLI lists and shows the models
    code, models, _ = cli(capsys, "models", "list")
    assert code == 0 and [(m["model_id"], m["current"]) for m in models] == [("iris-svm", "v1.0.0")]
    code, shown, _ = cli(capsys, "models", "show", "iris-svm")
    assert code == 0 and shown["version"] == "v1.0.0" and shown["training_id"] == "train-20250110-123456-abcd"


def test_commands_that_run_or_write_are_refused_on_aws(aws_env: dict[str, str], capsys) -> None:
    code, _, err = cli(capsys, "rollback", "iris-svm", "--reason", "drift")
    assert code == 2 and "'aws' runs are started, resumed and rolled back by the GitHub action" in err


def test_the_local_cli_does_not_import_boto3(tmp_path: Path) -> None:
    script = ("import sys; from mlops.cli import main; main(['runs', '--json']); "
              "print('boto3' in sys.modules, 'botocore' in sys.modules, file=sys.stderr)")
    env = {"MLOPS_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    finished = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr
    assert finished.stderr.strip().splitlines()[-1] == "False False"


def test_an_unknown_backend_is_named_with_the_ones_there_are(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("MLOPS_BACKEND", "sagemaker")
    code, error, _ = cli(capsys, "runs")
    assert code == 2 and error["problems"] == ["MLOPS_BACKEND: 'sagemaker' is not a backend; use one of local, aws"]
