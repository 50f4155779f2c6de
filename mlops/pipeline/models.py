"""The run document: everything a run knows, passed from state to state and checkpointed after each.

On AWS this same document is the Step Functions execution input/output, so it must stay plain JSON.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field

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
    sha256: str
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
    tries: int = 0  # how many times the trainer was started (crashes are retried)
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
    state: str
    type: str
    message: str


class Event(BaseModel):
    at: datetime = Field(default_factory=utcnow)
    state: str
    message: str


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


class TrainingJob(BaseModel):
    """One try of one attempt, as the trainer port sees it (a SageMaker CreateTrainingJob on AWS)."""

    training_id: str
    attempt: int
    hyperparameters: dict[str, Any]  # SM_HPS: the algorithm's parameters plus the `mlops_*` control keys
    train_key: str | None = None  # store prefix of the train channel
    test_key: str | None = None
    output_prefix: str  # where the model/ and output/ trees are stored


class TrainingResult(BaseModel):
    output_prefix: str
    evaluation: dict[str, Any]
    duration_seconds: float
