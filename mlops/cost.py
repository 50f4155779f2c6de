"""What one run cost on AWS: an estimate from what the run used and the price table `mlops/aws-prices.json`.

Two pure steps. `usage_of(run)` reads from the run document what the run used; `estimate(usage, region)` prices
it. Where each number comes from:
- recorded: the last training job's and the verification job's billable seconds, instance type and count
  (DescribeTrainingJob, through the Train and Verify states' ResultSelector). An earlier attempt's job is gone from
  the document by then: its training time (TrainingStartTime to TrainingEndTime, kept on the attempt) stands in for
  its billable seconds, on the same instances. A failed try's job is not priced (the document keeps no time for it).
- counted: the states the run entered, rebuilt from its document (`states_entered`): each is one Step Functions
  state transition, a retried job (Train, Verify) one more per retry; each Task state is one Lambda invocation,
  plus the progress handler's EventBridge events per job started (training and verification jobs alike).
- assumed (`Assumptions`): each Lambda invocation's memory and duration, and the S3 and DynamoDB requests each
  state makes.
No free tier is deducted, and the deployment's fixed monthly costs are not a run's (docs/aws.md, "Cost").
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from mlops.pipeline.flow import FLOW, AwaitOperator, Task
from mlops.pipeline.models import RunState, try_number

PRICES_FILE = Path(__file__).with_name("aws-prices.json")
DEFAULT_REGION = "us-east-1"  # the region an estimate uses when the report is not told the run's region
TIMEOUT_ACTOR = "mlops (timeout)"  # who "answers" when the operator's wait expires (agents.expire_operator_wait)

SUCCESS_TAIL = ["PublishSucceeded", "Succeeded"]
FAILURE_TAIL = ["PublishFailed", "Failed"]
HANDLED_FAILURE = ["HandleFailure", *FAILURE_TAIL]
VERIFIES = ["Verify", "RecordVerification", "VerifyChoice"]
# How a price the table lacks is named in a report
PRICE_LABELS = {
    "sagemaker_training_hour": "SageMaker {instance_type}",
    "step_functions_transition": "Step Functions transitions",
    "lambda_request": "Lambda requests",
    "lambda_gb_second": "Lambda GB-seconds",
    "s3_put_request": "S3 PUT/LIST requests",
    "s3_get_request": "S3 GET requests",
    "dynamodb_write_request_unit": "DynamoDB write units",
    "dynamodb_read_request_unit": "DynamoDB read units",
    "kms_request": "KMS requests",
}
RETRAIN_LOOP = ["BuildTrainingJob", "Train", "Evaluate", "Gate", "AwaitOperator", "ApplyOperatorAnswer",
                "OperatorChoice"]


@dataclass(frozen=True)
class Assumptions:
    """What the run document does not record, assumed alike for every run."""

    lambda_memory_mb: int = 512  # MemorySize of every function in infra/cloudformation/mlops-pipeline.yml (x86_64)
    lambda_seconds: float = 2.0  # mean billed duration of one agent invocation
    progress_events_per_job: int = 5  # EventBridge job state changes (Starting ... Completed) the progress Lambda gets
    # S3 requests per state entered: (PUT/COPY/POST/LIST, GET). The jobs' (Train, Verify) are per try, Train's
    # plus one GET per data file.
    s3_requests: Mapping[str, tuple[int, int]] = field(default_factory=lambda: {
        "PrepareData": (2, 2),  # list train/ and test/ versions; read what the listing does not say (row counts)
        "Train": (2, 1),  # the job writes model and output archives; reads the source bundle
        "Evaluate": (1, 2),
        "Register": (3, 2),
        "Verify": (3, 5),  # model and output archives, the model channel's listing; the bundle and the model's 4 files
        "RecordVerification": (0, 1),  # verification.json, in the job's output archive
        "Rollback": (1, 1),
        "PublishSucceeded": (8, 2),  # report, record and plots, each also in the audit bucket
        "PublishFailed": (8, 2),
    })
    # DynamoDB: every Lambda invocation reads and writes the run document once (checkpoint); Register claims
    # the version in a transaction (two items, transactional writes bill twice).
    registration_write_units: int = 4


@dataclass(frozen=True)
class TrainingUsage:
    """One SageMaker job: a training job, or the job that verified the registered model."""

    instance_type: str
    instance_count: int
    billable_seconds: float
    recorded: bool = True  # False: an earlier attempt's training time stands in for its billable seconds
    verification: bool = False


@dataclass(frozen=True)
class Usage:
    transitions: int = 0
    lambda_invocations: int = 0
    lambda_gb_seconds: float = 0.0
    training: tuple[TrainingUsage, ...] = ()
    s3_put_requests: int = 0
    s3_get_requests: int = 0
    dynamodb_write_units: int = 0
    dynamodb_read_units: int = 0
    kms_requests: int = 0

    @property
    def billable_seconds(self) -> float:
        return sum(job.billable_seconds * job.instance_count for job in self.training)

    @property
    def verification_seconds(self) -> float:
        return sum(job.billable_seconds * job.instance_count for job in self.training if job.verification)


@dataclass(frozen=True)
class Estimate:
    """USD per service group; a price the table lacks counts 0 and is named in `missing` (the total is then a
    lower bound)."""

    region: str
    prices_read_on: str
    sagemaker: float
    step_functions: float
    aws_lambda: float
    storage: float  # S3, DynamoDB and KMS requests
    missing: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        return self.sagemaker + self.step_functions + self.aws_lambda + self.storage


@dataclass(frozen=True)
class PriceTable:
    read_on: str
    regions: Mapping[str, Mapping[str, Any]]

    def price(self, region: str, name: str, instance_type: str | None = None) -> float | None:
        entry = self.regions.get(region, {}).get(name)
        if instance_type is not None:
            entry = (entry or {}).get(instance_type)
        usd = entry.get("usd") if isinstance(entry, Mapping) else None
        return float(usd) if isinstance(usd, (int, float)) else None


@cache
def price_table(path: Path = PRICES_FILE) -> PriceTable:
    document = json.loads(path.read_text(encoding="utf-8"))
    return PriceTable(read_on=str(document["read_on"]), regions=document["regions"])


# --- pricing ---------------------------------------------------------------------------------------------------


def estimate(usage: Usage, region: str, table: PriceTable | None = None) -> Estimate:
    """Price `usage` at `region`'s list prices."""
    prices = _Pricer(table or price_table(), region)
    sagemaker = sum(
        prices.cost("sagemaker_training_hour", job.billable_seconds * job.instance_count / 3600, job.instance_type)
        for job in usage.training
    )
    step_functions = prices.cost("step_functions_transition", usage.transitions)
    aws_lambda = prices.cost("lambda_request", usage.lambda_invocations)
    aws_lambda += prices.cost("lambda_gb_second", usage.lambda_gb_seconds)
    storage = prices.cost("s3_put_request", usage.s3_put_requests)
    storage += prices.cost("s3_get_request", usage.s3_get_requests)
    storage += prices.cost("dynamodb_write_request_unit", usage.dynamodb_write_units)
    storage += prices.cost("dynamodb_read_request_unit", usage.dynamodb_read_units)
    storage += prices.cost("kms_request", usage.kms_requests)
    return Estimate(region, prices.table.read_on, sagemaker, step_functions, aws_lambda, storage, prices.missing())


class _Pricer:
    def __init__(self, table: PriceTable, region: str) -> None:
        self.table, self.region, self._missing = table, region, dict[str, None]()

    def cost(self, name: str, quantity: float, instance_type: str | None = None) -> float:
        if not quantity:
            return 0.0
        price = self.table.price(self.region, name, instance_type)
        if price is None:
            self._missing[PRICE_LABELS[name].format(instance_type=instance_type)] = None
            return 0.0
        return price * quantity

    def missing(self) -> tuple[str, ...]:
        return tuple(self._missing)


# --- what a run used -------------------------------------------------------------------------------------------


def ran_on_sagemaker(run: RunState) -> bool:
    """Whether the run's training ran as a SageMaker job (the local trainer records no billable time)."""
    return run.training is not None and run.training.billable_seconds is not None


def usage_of(run: RunState, assume: Assumptions | None = None) -> Usage:
    """What the run used, as far as its document tells (see the module's docstring for what is assumed)."""
    assume = assume or Assumptions()
    states = states_entered(run)
    starts = _job_starts(run, states)
    agent_calls = sum(1 for name in states if _is_lambda(name))
    invocations = agent_calls + assume.progress_events_per_job * sum(starts.values())
    puts, gets = _s3_requests(run, states, starts, assume)
    writes, reads = _dynamodb_units(run, agent_calls, "Register" in states, assume)
    return Usage(
        # every job started past the first of its state's entry is a retry, which re-enters the state
        transitions=len(states) + sum(starts.values()) - sum(states.count(name) for name in starts),
        lambda_invocations=invocations,
        lambda_gb_seconds=invocations * assume.lambda_seconds * assume.lambda_memory_mb / 1024,
        training=_training_usage(run),
        s3_put_requests=puts,
        s3_get_requests=gets,
        dynamodb_write_units=writes,
        dynamodb_read_units=reads,
        kms_requests=agent_calls,  # S3 bucket keys: about one data-key call per invocation, not one per object
    )


def _dynamodb_units(run: RunState, agent_calls: int, registered: bool, assume: Assumptions) -> tuple[int, int]:
    """Each agent's checkpoint writes the run document (a write unit per KB) and reads it (a read unit per 4 KB)."""
    document_kb = len(run.model_dump_json().encode()) / 1024
    registration = assume.registration_write_units if registered else 0
    return agent_calls * math.ceil(document_kb) + registration, agent_calls * math.ceil(document_kb / 4)


def _is_lambda(name: str) -> bool:
    return isinstance(FLOW.states.get(name), (Task, AwaitOperator))


def _job_starts(run: RunState, states: list[str]) -> dict[str, int]:
    """How many jobs each job state started: one per try (Train once per attempt, Verify once per run)."""
    train = sum(max(attempt.tries, 1) for attempt in run.attempts[: states.count("Train")])
    return {"Train": train, "Verify": _verification_tries(run) if "Verify" in states else 0}


def _verification_tries(run: RunState) -> int:
    """The verification job's name says its try; a job that failed for good names itself in the error instead."""
    if run.verification is not None:
        return run.verification.tries
    try:
        cause = json.loads(run.error.message) if run.error else {}
    except ValueError:
        cause = {}
    name = cause.get("TrainingJobName") if isinstance(cause, dict) else None
    return try_number(name) if isinstance(name, str) else 1


def _s3_requests(run: RunState, states: list[str], starts: Mapping[str, int], assume: Assumptions) -> tuple[int, int]:
    per_state = [assume.s3_requests.get(name, (0, 0)) for name in states if name not in starts]
    data_files = len(run.data.train) + len(run.data.test) if run.data else 1
    per_job = [(*assume.s3_requests[name], tries) for name, tries in starts.items()]
    puts = sum(put for put, _ in per_state) + sum(put * tries for put, _, tries in per_job)
    gets = sum(get for _, get in per_state) + sum(get * tries for _, get, tries in per_job)
    return puts, gets + data_files * starts["Train"]


def _training_usage(run: RunState) -> tuple[TrainingUsage, ...]:
    last = run.training
    if last is None or last.billable_seconds is None:
        return ()
    instance_type, count = last.instance_type or "unknown", last.instance_count or 1
    earlier = [
        TrainingUsage(instance_type, count, attempt.duration_seconds, recorded=False)
        for attempt in run.attempts[:-1]
        if attempt.duration_seconds is not None
    ]
    return (*earlier, TrainingUsage(instance_type, count, float(last.billable_seconds)), *_verification_usage(run))


def _verification_usage(run: RunState) -> tuple[TrainingUsage, ...]:
    """The job that verified the registered model is billed like a training job."""
    job = run.verification
    if job is None or job.billable_seconds is None:
        return ()
    instance_type, count = job.instance_type or "unknown", job.instance_count or 1
    return (TrainingUsage(instance_type, count, float(job.billable_seconds), verification=True),)


# --- the path the run took -------------------------------------------------------------------------------------


def states_entered(run: RunState) -> list[str]:
    """The states the run entered, in order, rebuilt from its document (a retried Train appears once)."""
    failed = failed_state(run)
    if not run.attempts:
        return ["PrepareData", *(HANDLED_FAILURE if failed else [])]
    path = ["PrepareData"]
    for _ in run.attempts[:-1]:  # every earlier attempt ended in a retrain the operator asked for
        path += RETRAIN_LOOP
    return path + _last_attempt_states(run, failed)


def failed_state(run: RunState) -> str | None:
    """Where the run failed: the error's state when it names one (States Language's Catch does not), else where
    the document stops."""
    if run.error is None:
        return None
    if run.error.state:
        return run.error.state
    attempt = run.attempt
    if attempt is None:
        return "PrepareData"
    if attempt.passed is None:
        return "Evaluate" if run.training is not None else "Train"
    if run.gate is not None and run.gate.decision == "retrain":
        return "AwaitOperator"
    return "Register" if run.registered is None else "Verify"


def _last_attempt_states(run: RunState, failed: str | None) -> list[str]:
    if failed == "BuildTrainingJob":
        return ["BuildTrainingJob", *HANDLED_FAILURE]
    if failed in ("Train", "Evaluate"):
        return ["BuildTrainingJob", "Train", *(["Evaluate"] if failed == "Evaluate" else []), *HANDLED_FAILURE]
    path = ["BuildTrainingJob", "Train", "Evaluate", "Gate"]
    decision = run.gate.decision if run.gate else None
    if decision == "pass":
        return path + _registration_states(run, failed)
    if decision == "retrain":
        return path + _operator_states(run, failed)
    return path + (FAILURE_TAIL if decision == "exhausted" else [])


def _operator_states(run: RunState, failed: str | None) -> list[str]:
    if run.status == "awaiting_operator":
        return ["AwaitOperator"]
    if failed in ("AwaitOperator", "ApplyOperatorAnswer"):
        applied = ["ApplyOperatorAnswer"] if failed == "ApplyOperatorAnswer" else []
        return ["AwaitOperator", *applied, *HANDLED_FAILURE]
    if run.operator is not None and run.operator.actor == TIMEOUT_ACTOR:
        return ["AwaitOperator", "OperatorTimedOut", *FAILURE_TAIL]
    return ["AwaitOperator", "ApplyOperatorAnswer", "OperatorChoice", *FAILURE_TAIL]  # aborted


def _registration_states(run: RunState, failed: str | None) -> list[str]:
    if failed == "Register":
        return ["Register", *HANDLED_FAILURE]
    if run.status == "succeeded":
        return ["Register", *VERIFIES, *SUCCESS_TAIL]
    return ["Register", *_verification_states(run, failed), "Rollback", *FAILURE_TAIL]


def _verification_states(run: RunState, failed: str | None) -> list[str]:
    """The states up to Rollback. A Verify job that failed and a RecordVerification that raised both go to Rollback
    through their Catch, which writes `error`; Rollback then writes a `verify` of its own, so `verify` does not tell
    whether VerifyChoice was entered: the error does (its state locally; on AWS whether the job's outcome is in).
    A failed Rollback after VerifyChoice leaves an AWS document alike to a raised RecordVerification's: it counts
    one state less."""
    if failed in (None, "Rollback"):
        return VERIFIES
    recorded = failed == "RecordVerification" or (failed == "Verify" and run.verification is not None)
    return VERIFIES[:2] if recorded else VERIFIES[:1]
