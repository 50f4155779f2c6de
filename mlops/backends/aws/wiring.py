"""The AWS backend's ports, wired from resolved settings (mlops.services picks this module for MLOPS_BACKEND=aws).

Every client comes from one AwsClients. Building the ports makes no AWS call, except reading the Slack webhook
secret when MLOPS_SLACK_URL_SECRET is set (a Lambda container does it once).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlops.backends.aws.clients import AwsClients
from mlops.backends.aws.dynamodb_runs import DynamoRunStore
from mlops.backends.aws.dynamodb_table import Table
from mlops.backends.aws.history import AuditCopy, S3History
from mlops.backends.aws.s3_store import S3ArtifactStore
from mlops.backends.aws.sagemaker_registry import SageMakerRegistryBackend
from mlops.backends.aws.sns import aws_notifier
from mlops.backends.aws.trainer import StateMachineTrainer
from mlops.backends.local.slack import FanOutNotifier
from mlops.errors import UsageError
from mlops.pipeline.agents import Ports
from mlops.registry import ModelRegistry
from mlops.settings import AwsSettings, Settings

# field of AwsSettings -> (its variable, what to set it to)
SETTINGS = {
    "region": ("AWS_REGION", "the stack's region, e.g. us-east-1 (or AWS_DEFAULT_REGION)"),
    "bucket": ("MLOPS_BUCKET", "the pipeline stack's ArtifactBucketName output"),
    "run_table": ("MLOPS_RUN_TABLE", "the pipeline stack's RunTableName output"),
    "kms_key_id": ("MLOPS_KMS_KEY_ID", "the pipeline stack's KmsKeyArn output"),
    "audit_bucket": ("MLOPS_AUDIT_BUCKET", "the pipeline stack's AuditBucketName output"),
}
FOR_PORTS = ("region", "bucket", "run_table", "kms_key_id", "audit_bucket")  # the Lambdas: everything
FOR_READING = ("region", "bucket", "run_table")  # mlops runs / status / models


def require(aws: AwsSettings, fields: tuple[str, ...]) -> None:
    """One UsageError naming every missing setting, not the first one only."""
    missing = [field for field in fields if not getattr(aws, field)]
    if missing:
        problems = [f"{SETTINGS[field][0]}: not set; set it to {SETTINGS[field][1]}" for field in missing]
        raise UsageError("MLOPS_BACKEND=aws: settings are missing", problems)


def aws_ports(settings: Settings, clients: AwsClients | None = None, *, read_only: bool = False) -> Ports:
    """The agents' ports on AWS; `read_only` for the commands that only look (no notifier, fewer settings)."""
    aws = settings.aws
    require(aws, FOR_READING if read_only else FOR_PORTS)
    clients = clients or AwsClients(aws)
    store = artifact_store(settings, clients)
    registry = SageMakerRegistryBackend(clients.client("sagemaker"), run_table(settings, clients), str(aws.bucket),
                                        aws.model_package_group_prefix)
    return Ports(
        settings=settings,
        store=store,
        registry=ModelRegistry(registry, store, keep=settings.keep_versions),
        trainer=StateMachineTrainer(),
        history=S3History(store, audit_copy(aws, clients), settings.history_dir),
        notifier=FanOutNotifier() if read_only else aws_notifier(settings, clients),
    )


def artifact_store(settings: Settings, clients: AwsClients) -> S3ArtifactStore:
    scratch = Path(tempfile.gettempdir()) / "mlops-scratch"  # a Lambda may write only under /tmp
    return S3ArtifactStore(clients.client("s3"), settings.aws.bucket, settings.aws.kms_key_id, scratch)


def audit_copy(aws: AwsSettings, clients: AwsClients) -> AuditCopy:
    return AuditCopy(clients.client("s3"), aws.audit_bucket, aws.audit_retention_days, aws.kms_key_id)


def run_table(settings: Settings, clients: AwsClients) -> Table:
    return Table(clients.client("dynamodb"), str(settings.aws.run_table))


def run_store(settings: Settings, clients: AwsClients | None = None) -> DynamoRunStore:
    require(settings.aws, FOR_READING)
    return DynamoRunStore(run_table(settings, clients or AwsClients(settings.aws)))

