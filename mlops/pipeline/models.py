"""The run document: everything a run knows, passed from state to state and checkpointed after each.

On AWS this same document is the Step Functions execution input/output, so it must stay plain JSON.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, computed_field

from mlops.metric_specs import metrics_for
from mlops.request import TrainingRequest

RunStatus = Literal["running", "awaiting_operator", "succeeded", "failed"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def new_training_id(now: datetime | None = None) -> str:
    """`train-20250110-123456-1a2b3c4d`: the spec's form plus 32 random bits, so concurrent runs do not collide
    (the run store's primary key refuses the astronomically unlikely duplicate rather than mixing two runs)."""
    return f"train-{(now or utcnow()):%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"


class IssueRef(BaseModel):
    repository: str | None = None  # owner/name
    number: int | None = None
    title: str | None = None
    url: str | None = None
    author: str | None = None


class FileEntry(BaseModel):
    key: str  # store key, e.g. datasets/iris/train/data.csv
    size: int
    sha256: str | None  # None: the store does not know it (an object uploaded to S3 by someone else)
    rows: int | None = None


class DataManifest(BaseModel):
    dataset_id: str
    task: str | None = None
    target: str | None = None
    train: list[FileEntry] = Field(default_factory=list)
    test: list[FileEntry] = Field(default_factory=list)
    rows_train: int = 0
    rows_test: int = 0
    digest: str = ""  # sha256 over the entries: one value that names exactly this data


class Attempt(BaseModel):
    """One training of the run: the first, or a retrain with the operator's overrides."""

    number: int
    hyperparameters: dict[str, Any]
    overrides: dict[str, Any] = Field(default_factory=dict)
    algorithm: str
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    tries: int = 0  # how many times the training job was started (the engine retries failed jobs)
    metrics: dict[str, float] = Field(default_factory=dict)
    metric: str | None = None
    value: float | None = None
    passed: bool | None = None
    output_key: str | None = None  # store prefix with the model, evaluation.json and plots


class GateResult(BaseModel):
    metric: str
    value: float
    threshold: float
    comparison: str  # ">=" or "<="
    passed: bool
    decision: Literal["pass", "retrain", "exhausted"]


class ModelRef(BaseModel):
    model_id: str
    version: str
    artifact_key: str  # models/<model_id>/<version>/
    registry_arn: str | None = None  # the SageMaker model package's ARN (AWS only)


class VerifyResult(BaseModel):
    ok: bool
    detail: str


class OperatorDecision(BaseModel):
    action: Literal["retrain", "abort"]
    overrides: dict[str, Any] = Field(default_factory=dict)
    actor: str | None = None
    reason: str = ""
    at: datetime = Field(default_factory=utcnow)


class ErrorInfo(BaseModel):
    """A caught error, written at the Catch's ResultPath. States Language writes `{"Error", "Cause"}` there (and
    knows no state name): both spellings are read."""

    state: str | None = None
    type: str = Field(validation_alias=AliasChoices("type", "Error"))
    message: str = Field(default="", validation_alias=AliasChoices("message", "Cause"))


class Event(BaseModel):
    at: datetime = Field(default_factory=utcnow)
    state: str
    message: str


# console.metric prints `[mlops] metric <name>=<repr(float)>` (mlops/training/console.py); SageMaker charts what
# these capture
METRIC_REGEX = r"\[mlops\] metric {name}=([-+0-9.eE]+|nan|inf)"
SCRIPT_MODE_PROGRAM = "mlops_train.py"  # the entry script at the root of the training source bundle


def metric_definitions(task: str | None) -> list[dict[str, str]]:
    """One definition per metric the entry point prints for the task, so SageMaker charts them."""
    names = metrics_for(task) if task else []
    return [{"Name": name, "Regex": METRIC_REGEX.format(name=re.escape(name))} for name in names]


class JobResources(BaseModel):
    """What a job runs on: the request's `resources`, the deployment's settings for what it leaves out."""

    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    volume_gb: int = 30
    spot: bool = False  # managed spot training: cheaper, may be interrupted (resumes from checkpoints)
    max_wait_seconds: int = 7200  # spot only: runtime plus time waiting for capacity
    warm_pool_seconds: int = 0  # keep the instance for the next job (not with spot); 0: none


class TrainingJob(BaseModel):
    """One training job of one attempt (or the job that verifies a registered model), as the trainer port sees
    it: a SageMaker CreateTrainingJob on AWS, the script-mode entry point in a child process locally.

    The engine names each try `<name>-t<try>` (SageMaker refuses a name used before) and the job writes under
    `<output_path>/<that name>/output/`, as SageMaker does under its S3OutputPath. The computed fields are the
    same data in the shapes CreateTrainingJob takes (its hyperparameters are strings), which the compiled Train
    state sends as they are; only the role, image and KMS key come from the deployment."""

    name: str
    training_id: str
    attempt: int
    hyperparameters: dict[str, Any]  # SM_HPS: the algorithm's parameters plus the `mlops_*` control keys
    channels: dict[str, str] = Field(default_factory=dict)  # channel name -> store prefix
    channel_uris: dict[str, str] = Field(default_factory=dict)  # the same prefixes as the store addresses them
    output_path: str  # store prefix under which each try's outputs go
    output_uri: str = ""
    max_runtime_seconds: int = 24 * 3600
    task: str | None = None  # what the entry point prints metrics for
    source_uri: str | None = None  # the script-mode source bundle (AWS); None: the installed package runs
    checkpoint_uri: str = ""  # where an interrupted (spot) job resumes from
    labels: dict[str, str] = Field(default_factory=dict)  # tags: training id, repository, issue
    resources: JobResources = Field(default_factory=JobResources)

    def try_name(self, retry_count: int) -> str:
        return f"{self.name}-t{retry_count + 1}"

    def output_key(self, job_name: str) -> str:
        return f"{self.output_path}/{job_name}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def encoded_hyperparameters(self) -> dict[str, str]:
        """SM_HPS as the framework container decodes it: every value JSON-encoded, the script-mode keys added
        (the container keeps `sagemaker_*` keys out of SM_HPS)."""
        values = dict(self.hyperparameters)
        if self.source_uri:
            values |= {"sagemaker_program": SCRIPT_MODE_PROGRAM, "sagemaker_submit_directory": self.source_uri}
        return {name: json.dumps(value) for name, value in values.items()}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def input_data_config(self) -> list[dict[str, Any]]:
        """Each channel straight from its prefix, streamed on demand (FastFile: 1 TB never passes through us)."""
        s3 = {"S3DataType": "S3Prefix", "S3DataDistributionType": "FullyReplicated"}
        return [
            {"ChannelName": name, "InputMode": "FastFile", "DataSource": {"S3DataSource": {**s3, "S3Uri": _dir(uri)}}}
            for name, uri in self.channel_uris.items()
        ]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def metric_definitions(self) -> list[dict[str, str]]:
        return metric_definitions(self.task)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def stopping_condition(self) -> dict[str, int]:
        condition = {"MaxRuntimeInSeconds": self.max_runtime_seconds}
        if self.resources.spot:  # SageMaker refuses a wait time without spot
            condition["MaxWaitTimeInSeconds"] = max(self.resources.max_wait_seconds, self.max_runtime_seconds)
        return condition

    @computed_field  # type: ignore[prop-decorator]
    @property
    def tags(self) -> list[dict[str, str]]:
        return [{"Key": key, "Value": value} for key, value in self.labels.items()]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def encrypt_inter_container_traffic(self) -> bool:
        return self.resources.instance_count > 1


def _dir(uri: str) -> str:
    """A prefix as a directory: `.../train/` does not also match `.../train-old/`."""
    return uri if uri.endswith("/") else uri + "/"


class TrainingOutcome(BaseModel):
    """What a finished training job reports (selected from DescribeTrainingJob on AWS)."""

    job_name: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    # what the job ran on and was billed for (SageMaker's BillableTimeInSeconds and ResourceConfig), for a cost
    # estimate; the local trainer leaves them unset
    billable_seconds: int | None = None
    instance_type: str | None = None
    instance_count: int | None = None

    @property
    def tries(self) -> int:
        return try_number(self.job_name)

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return round((self.ended_at - self.started_at).total_seconds(), 3)


def try_number(job_name: str) -> int:
    """The try a job name says it is (`...-t3` is the third), or 1 for a name without one."""
    head, _, number = job_name.rpartition("-t")
    return int(number) if head and number.isdigit() else 1


class RunState(BaseModel):
    training_id: str
    request: TrainingRequest
    issue: IssueRef = Field(default_factory=IssueRef)
    source: str | None = None  # the file or issue the request came from
    status: RunStatus = "running"
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    data: DataManifest | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    gate: GateResult | None = None
    registered: ModelRef | None = None
    previous_version: str | None = None  # the current version before this run registered
    verify: VerifyResult | None = None
    rolled_back_to: str | None = None
    operator: OperatorDecision | None = None
    answer: OperatorDecision | None = None  # what the operator's wait returned, until ApplyOperatorAnswer merges it
    wait_token: str | None = None  # the Step Functions task token of the operator's wait (AWS only)
    job: TrainingJob | None = None  # the next training job, as BuildTrainingJob specified it
    training: TrainingOutcome | None = None  # what the last training job produced
    verification_job: TrainingJob | None = None  # the job that verifies the registered model (Register specifies it)
    verification: TrainingOutcome | None = None  # what that job produced
    error: ErrorInfo | None = None
    report: str | None = None  # training_history/<training_id>.md
    events: list[Event] = Field(default_factory=list)

    @property
    def attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def retrains_used(self) -> int:
        return max(0, len(self.attempts) - 1)

    def log(self, state: str, message: str) -> None:
        self.events.append(Event(state=state, message=message))
