"""The compiled state machine in moto's Step Functions interpreter with the AWS adapters behind its Lambdas: the S3
artifact store, the SageMaker Model Registry over the DynamoDB run table, the S3 history with its Object Lock
audit copy, all on moto in-process. Training jobs still run for real (tests/aws/sagemaker_jobs.py's runner), but
read their channels from, and write their outputs to, moto's S3, as SageMaker does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from mlops import handlers
from mlops.backends.aws.clients import AwsClients
from mlops.backends.aws.dynamodb_runs import DynamoRunStore
from mlops.backends.aws.dynamodb_table import TABLE_DEFINITION
from mlops.backends.aws.run_record import RunRecord
from mlops.backends.aws.s3_store import S3ArtifactStore
from mlops.backends.aws.wiring import aws_ports, run_table
from mlops.lambda_runtime import LambdaRuntime
from mlops.pipeline.artifacts import MODEL_ARCHIVE, OUTPUT_ARCHIVE, pack
from mlops.pipeline.asl import render
from mlops.pipeline.flow import FLOW, Flow
from mlops.pipeline.models import new_training_id
from mlops.pipeline.runner import LocalRunner
from mlops.services import Services
from mlops.settings import AwsSettings, Settings
from tests.aws.conftest import REGION, create, substitute
from tests.aws.engines import TRAINING_SOURCE, MotoEngine, _record_retry_sleeps, _route_lambda_to_handlers
from tests.aws.sagemaker_jobs import TrainingJobs, serve_training_jobs

BUCKET, AUDIT, TABLE = "mlops-artifacts", "mlops-audit", "mlops-runs"


def deploy_on_moto(settings: Settings) -> Settings:
    """What the pipeline stack creates, on moto: the artifact bucket (versioned), the audit bucket (Object Lock),
    the KMS key and the run table; returns the settings the Lambdas get (MLOPS_BACKEND=aws)."""
    clients = AwsClients(AwsSettings(region=REGION))
    s3 = clients.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.create_bucket(Bucket=AUDIT, ObjectLockEnabledForBucket=True)
    clients.client("dynamodb").create_table(TableName=TABLE, **TABLE_DEFINITION)
    key = clients.client("kms").create_key()["KeyMetadata"]["KeyId"]
    aws = AwsSettings(region=REGION, max_attempts=2, bucket=BUCKET, run_table=TABLE, kms_key_id=key,
                      audit_bucket=AUDIT, audit_retention_days=1, training_source=TRAINING_SOURCE)
    return Settings(backend="aws", home=settings.home, history_dir=settings.history_dir,
                    retry_base_delay=settings.retry_base_delay, train_timeout=settings.train_timeout, aws=aws)


class AwsMotoEngine(MotoEngine):
    """MotoEngine's execution, answers and walk, with the Lambdas' ports on AWS (moto) instead of local ones."""

    name = "moto-aws"

    def __init__(self, settings: Settings, sfn: Any, monkeypatch: pytest.MonkeyPatch, flow: Flow = FLOW) -> None:
        self.settings, self.sfn, self.delays = deploy_on_moto(settings), sfn, list[float]()
        clients = AwsClients(self.settings.aws)
        ports = aws_ports(self.settings, clients)  # its trainer refuses: every job, Verify's too, is SageMaker's
        assert isinstance(ports.store, S3ArtifactStore)
        runs = DynamoRunStore(run_table(self.settings, clients))
        self.services = Services(ports, runs, LocalRunner(ports, runs))
        self.jobs = S3TrainingJobs(ports.store)
        monkeypatch.setattr(handlers, "ports", lambda: self.services.ports)  # one container, warm
        # The Lambdas keep every run's document in the run table; no task tokens: these runs have no issue to key
        # a token by (tests/aws/test_handlers_wait.py covers the operator's wait on the table).
        monkeypatch.setattr(handlers, "runtime", lambda: LambdaRuntime(None, None, RunRecord(runs)))
        _route_lambda_to_handlers(monkeypatch)
        serve_training_jobs(monkeypatch, self.jobs)
        _record_retry_sleeps(monkeypatch, self.delays)
        self.machine = create(sfn, substitute(render(flow)), name=f"mlops-{new_training_id()[-8:]}")


class S3TrainingJobs(TrainingJobs):
    """The jobs moto was asked to create (training and verification), run for real on S3: each channel downloaded
    from its S3 prefix, the model and outputs packed and uploaded to `<S3OutputPath>/<job name>/output/`, as
    SageMaker does; `crash` and `reject` as in TrainingJobs."""

    def __init__(self, store: S3ArtifactStore) -> None:
        super().__init__(store)  # type: ignore[arg-type]
        self.s3_store = store

    def _train(self, job: Any) -> tuple[str, str | None]:
        with tempfile.TemporaryDirectory(prefix="sagemaker-job-") as tmp, ExitStack() as downloads:
            model_dir, output_dir = Path(tmp, "model"), Path(tmp, "output")
            model_dir.mkdir(), output_dir.mkdir()
            channels = {
                channel["ChannelName"]: downloads.enter_context(self.s3_store.local_path(self._key(_uri(channel))))
                for channel in job.input_data_config or []
            }
            finished = subprocess.run(
                [sys.executable, "-m", "mlops.training"],
                env={**os.environ, **_environment(job, channels, model_dir, output_dir, self.reject)},
                capture_output=True, text=True, timeout=600,
            )
            if finished.returncode != 0:
                return "Failed", f"AlgorithmError: exit {finished.returncode}: {finished.stderr[-300:]}"
            prefix = f"{self._key(job.output_data_config['S3OutputPath'])}/{job.training_job_name}"
            for directory, key in ((model_dir, MODEL_ARCHIVE), (output_dir, OUTPUT_ARCHIVE)):
                self.s3_store.put_file(f"{prefix}/{key}", pack(directory, Path(tmp, Path(key).name)))
        return "Completed", None

    def _key(self, uri: str) -> str:
        parsed = urlparse(uri)
        assert (parsed.scheme, parsed.netloc) == ("s3", self.s3_store.bucket), f"not in the artifact bucket: {uri}"
        return parsed.path.strip("/")


def _uri(channel: dict[str, Any]) -> str:
    return str(channel["DataSource"]["S3DataSource"]["S3Uri"])


def _environment(
    job: Any, channels: dict[str, Path], model_dir: Path, output_dir: Path, reject: bool
) -> dict[str, str]:
    """SageMaker's script-mode contract: decoded hyperparameters (without the container's own `sagemaker_*`
    keys), a directory per channel; `reject` misspells a hyperparameter of a training job, as TrainingJobs does."""
    hps = {name: json.loads(value) for name, value in job.hyper_parameters.items() if not name.startswith("sagemaker_")}
    if reject and "mlops_algorithm" in hps:
        hps["n_estimator"] = 5  # not random_forest's n_estimators
    return {
        "SM_MODEL_DIR": str(model_dir),
        "SM_OUTPUT_DATA_DIR": str(output_dir),
        "SM_HPS": json.dumps(hps),
        "SM_CHANNELS": json.dumps(sorted(channels)),
        **{f"SM_CHANNEL_{name.upper()}": str(path) for name, path in channels.items()},
    }
