"""Settings, resolved once from the environment at start-up and passed down (nothing reads os.environ later)."""

from __future__ import annotations

import math
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlops.errors import UsageError
from mlops.scalars import ScalarError, hint, read_scalar, shown

MAX_SECONDS = 1e9  # ~31 years: no real wait is longer, and 8x it (the back-off) is still under what sleeps accept


@dataclass(frozen=True)
class Settings:
    backend: str = "local"  # MLOPS_BACKEND: local | aws
    home: Path = Path(".mlops")  # MLOPS_HOME: store, registry and run database of the local backend
    history_dir: Path = Path("training_history")  # MLOPS_HISTORY_DIR: where reports are committed
    report_lang: str = "ja"  # MLOPS_REPORT_LANG: ja | en
    keep_versions: int = 5  # MLOPS_KEEP_VERSIONS: model generations kept (at least 5)
    keep_runs: int = 20  # MLOPS_KEEP_RUNS: the newest runs whose training outputs stay in the store (at least 1)
    train_timeout: float = 3600.0  # MLOPS_TRAIN_TIMEOUT: seconds before a training subprocess is killed
    retry_base_delay: float = 2.0  # MLOPS_RETRY_DELAY: first back-off (seconds) after a training crash
    # MLOPS_TRAIN_COMMAND: a command that runs the script-mode entry point once per try (default: a training
    # worker, this Python -m mlops.training.worker); e.g. a wrapper that runs it in a container image of your own.
    train_command: str | None = None
    slack_webhook_url: str | None = None  # MLOPS_SLACK_WEBHOOK_URL: also notify a Slack channel
    aws: AwsSettings = field(default_factory=lambda: AwsSettings())  # read only by the aws backend

    @property
    def store_dir(self) -> Path:
        return self.home / "store"

    @property
    def db_path(self) -> Path:
        return self.home / "mlops.db"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            backend=env.get("MLOPS_BACKEND", cls.backend),
            home=Path(env.get("MLOPS_HOME", str(cls.home))),
            history_dir=Path(env.get("MLOPS_HISTORY_DIR", str(cls.history_dir))),
            report_lang=_language(env.get("MLOPS_REPORT_LANG") or cls.report_lang),
            keep_versions=max(5, whole_number_setting(env, "MLOPS_KEEP_VERSIONS", cls.keep_versions)),
            keep_runs=max(1, whole_number_setting(env, "MLOPS_KEEP_RUNS", cls.keep_runs)),
            train_timeout=seconds_setting(env, "MLOPS_TRAIN_TIMEOUT", cls.train_timeout, zero_ok=False),
            retry_base_delay=seconds_setting(env, "MLOPS_RETRY_DELAY", cls.retry_base_delay),
            train_command=env.get("MLOPS_TRAIN_COMMAND") or None,
            slack_webhook_url=_webhook_url(env.get("MLOPS_SLACK_WEBHOOK_URL", "").strip()),
            aws=AwsSettings.from_env(env),
        )


def whole_number_setting(env: Mapping[str, str], name: str, default: int, *, most: int | None = None) -> int:
    """A count setting (`MLOPS_KEEP_RUNS=20`): a whole number from 0 (to `most`); `default` when unset."""
    value = _number(env, name, default)
    if not isinstance(value, int):
        raise UsageError(f"{name}: {shown(env[name])} is not a whole number; write one such as {default}")
    if most is not None and value > most:
        raise UsageError(f"{name}: must be at most {most} (got {shown(env[name])})")
    return value


def seconds_setting(
    env: Mapping[str, str], name: str, default: float, *, zero_ok: bool = True, most: float = MAX_SECONDS
) -> float:
    """A duration setting in seconds (`MLOPS_RETRY_DELAY=1.5`), from 0 to `most`; `default` when unset."""
    value = float(_number(env, name, default))
    if value > most:
        raise UsageError(f"{name}: must be at most {most:g} seconds (got {shown(env[name])})")
    if value == 0 and not zero_ok:
        raise UsageError(f"{name}: must be more than 0 seconds (got {shown(env[name])})")
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> int | float:
    """The variable read like any number a user writes (mlops.scalars): finite, non-negative; `default` when unset."""
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = read_scalar(text)
    except ScalarError as exc:
        raise UsageError(f"{name}: {exc}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{name}: {shown(text)} is not a number{hint(text)}")
    if not math.isfinite(value):
        raise UsageError(f"{name}: must be a finite number (got {shown(text)})")
    if value < 0:
        raise UsageError(f"{name}: must not be negative (got {shown(text)})")
    return value


def _webhook_url(text: str) -> str | None:
    """A Slack incoming webhook: refused before any run starts unless it is an http(s) URL with a host. The
    value is a secret, so the problem names what is wrong with it, never the value."""
    if not text:
        return None
    try:
        parts = urllib.parse.urlsplit(text)
        host = parts.hostname
    except ValueError:  # a malformed [IPv6] host or port
        parts, host = urllib.parse.SplitResult("", "", "", "", ""), None
    if parts.scheme not in ("https", "http") or not host:
        scheme = f"the scheme {shown(parts.scheme)}" if parts.scheme else "no scheme"
        raise UsageError(
            f"MLOPS_SLACK_WEBHOOK_URL: is not an http(s) URL with a host ({scheme}{'' if host else ', no host'}); "
            "set it to the webhook URL Slack gave you (https://hooks.slack.com/services/...), or unset it"
        )
    return text


def _language(text: str) -> str:
    if text not in ("ja", "en"):
        raise UsageError(f"MLOPS_REPORT_LANG: {shown(text)} is not supported; use ja or en")
    return text


@dataclass(frozen=True)
class AwsSettings:
    """What the AWS backend needs, resolved once like the rest (boto3 is then given it explicitly)."""

    region: str | None = None  # AWS_REGION, else AWS_DEFAULT_REGION
    endpoint_url: str | None = None  # AWS_ENDPOINT_URL: every service (a moto server, LocalStack)
    # AWS_ENDPOINT_URL_<SERVICE> (e.g. AWS_ENDPOINT_URL_S3): one service; the suffix as botocore spells it
    service_endpoints: tuple[tuple[str, str], ...] = ()
    max_attempts: int = 5  # MLOPS_AWS_MAX_ATTEMPTS: botocore's standard retry mode, attempts per call
    bucket: str | None = None  # MLOPS_BUCKET: the artifact bucket
    kms_key_id: str | None = None  # MLOPS_KMS_KEY_ID: SSE-KMS on every write, SageMaker volumes and output
    run_table: str | None = None  # MLOPS_RUN_TABLE: the DynamoDB run table
    sns_topic_arn: str | None = None  # MLOPS_SNS_TOPIC_ARN: e-mail notifications
    github_token_secret: str | None = None  # MLOPS_GITHUB_TOKEN_SECRET: Secrets Manager id of the GitHub token
    slack_url_secret: str | None = None  # MLOPS_SLACK_URL_SECRET: Secrets Manager id of the Slack webhook URL
    sagemaker_role_arn: str | None = None  # MLOPS_SAGEMAKER_ROLE_ARN: the role SageMaker training jobs run as
    # The GitHub the Lambdas talk to (GitHub's own names, as the action reads them on a runner); GitHub Enterprise
    # Server: GITHUB_API_URL=https://HOST/api/v3, GITHUB_SERVER_URL=https://HOST.
    github_api_url: str = "https://api.github.com"  # GITHUB_API_URL
    github_server_url: str = "https://github.com"  # GITHUB_SERVER_URL: links to the repository's files
    state_machine_arn: str | None = None  # MLOPS_STATE_MACHINE_ARN: the pipeline's state machine (the action)
    audit_bucket: str | None = None  # MLOPS_AUDIT_BUCKET: Object Lock bucket holding the history's audit copy
    audit_retention_days: int = 365  # MLOPS_AUDIT_RETENTION_DAYS: COMPLIANCE retention of each audit object
    training_source: str | None = None  # MLOPS_TRAINING_SOURCE: s3://.../sourcedir.tar.gz, the script-mode source
    training_image: str | None = None  # MLOPS_TRAINING_IMAGE: instead of the pinned scikit-learn framework image
    training_instance_type: str = "ml.m5.large"  # MLOPS_TRAINING_INSTANCE_TYPE
    # MLOPS_MODEL_PACKAGE_GROUP_PREFIX: put before each model id to name its SageMaker model package group (the
    # pipeline stack's ModelPackageGroupPrefix output, `mlops-<8 hex>-`: its IAM grants cover only such names)
    model_package_group_prefix: str = ""

    def endpoint_for(self, service_env_name: str) -> str | None:
        """The endpoint of one service (`S3`, `SFN`, `SECRETS_MANAGER`...), else the general one, else None."""
        return dict(self.service_endpoints).get(service_env_name, self.endpoint_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AwsSettings:
        env = os.environ if env is None else env
        return cls(
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            service_endpoints=_service_endpoints(env),
            max_attempts=max(1, whole_number_setting(env, "MLOPS_AWS_MAX_ATTEMPTS", cls.max_attempts)),
            github_api_url=(env.get("GITHUB_API_URL") or cls.github_api_url).rstrip("/"),
            github_server_url=(env.get("GITHUB_SERVER_URL") or cls.github_server_url).rstrip("/"),
            audit_retention_days=_retention_days(env, cls.audit_retention_days),
            **{name: env.get(variable) or getattr(cls, name) for name, variable in AWS_NAMES.items()},
        )


def _retention_days(env: Mapping[str, str], default: int) -> int:
    """At least one day: S3 Object Lock refuses a retention date that is not in the future."""
    days = whole_number_setting(env, "MLOPS_AUDIT_RETENTION_DAYS", default, most=36500)
    if days < 1:
        got = shown(env["MLOPS_AUDIT_RETENTION_DAYS"])
        raise UsageError(f"MLOPS_AUDIT_RETENTION_DAYS: must be at least 1 day (got {got})")
    return days


def _service_endpoints(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    prefix = "AWS_ENDPOINT_URL_"
    return tuple(sorted((name[len(prefix) :], url) for name, url in env.items() if name.startswith(prefix) and url))


AWS_NAMES = {
    "bucket": "MLOPS_BUCKET",
    "kms_key_id": "MLOPS_KMS_KEY_ID",
    "run_table": "MLOPS_RUN_TABLE",
    "sns_topic_arn": "MLOPS_SNS_TOPIC_ARN",
    "github_token_secret": "MLOPS_GITHUB_TOKEN_SECRET",
    "slack_url_secret": "MLOPS_SLACK_URL_SECRET",
    "sagemaker_role_arn": "MLOPS_SAGEMAKER_ROLE_ARN",
    "state_machine_arn": "MLOPS_STATE_MACHINE_ARN",
    "audit_bucket": "MLOPS_AUDIT_BUCKET",
    "training_source": "MLOPS_TRAINING_SOURCE",
    "training_image": "MLOPS_TRAINING_IMAGE",
    "training_instance_type": "MLOPS_TRAINING_INSTANCE_TYPE",
    "model_package_group_prefix": "MLOPS_MODEL_PACKAGE_GROUP_PREFIX",
}
