"""The pipeline, declared once as data: its states, transitions, retry policy, timeouts and error paths.

The local runner walks this declaration; mlops/pipeline/asl.py compiles the same declaration to Amazon States
Language, so both engines run the same flow. Keep it free of anything engine-specific: agents are named, not
imported, choices compare a path of the run document with a value, and errors are matched by exact name.

    PrepareData -> BuildTrainingJob -> Train -(job fails: retry x3, back-off)-> Evaluate -> Gate
    Gate: pass -> Register -> Verify (a job) -> RecordVerification -> VerifyChoice: ok -> PublishSucceeded
                                                                                bad -> Rollback -> PublishFailed
          retrain -> AwaitOperator -> ApplyOperatorAnswer -> OperatorChoice: retrain -> BuildTrainingJob
                                                                             abort -> PublishFailed
                     (no answer in time) -> OperatorTimedOut -> PublishFailed
          exhausted -> PublishFailed
    any failing task -> HandleFailure -> PublishFailed -> Failed
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ANY_ERROR = "States.ALL"
TASK_FAILED = "States.TaskFailed"  # as in States Language: any error but a timeout
TIMEOUT = "States.Timeout"
ERROR_PATH = "error"  # where a caught error lands in the run document (a Catch's ResultPath)


def error_matches(errors: tuple[str, ...], name: str) -> bool:
    """States Language's rule: exact names, plus the two wildcards."""
    return name in errors or ANY_ERROR in errors or (TASK_FAILED in errors and name != TIMEOUT)


@dataclass(frozen=True)
class Retry:
    errors: tuple[str, ...]
    max_attempts: int = 3  # retries after the first try, as in States Language
    interval_seconds: float = 2.0
    backoff_rate: float = 2.0

    def delay(self, retry_number: int, base: float | None = None) -> float:
        """Seconds to wait before retry `retry_number` (1-based)."""
        return (self.interval_seconds if base is None else base) * self.backoff_rate ** (retry_number - 1)


@dataclass(frozen=True)
class Catch:
    errors: tuple[str, ...]
    next: str
    result_path: str = ERROR_PATH


@dataclass(frozen=True)
class Task:
    """Run an agent on the run document; its result is the new document."""

    name: str
    agent: str
    next: str
    retry: tuple[Retry, ...] = ()
    catch: tuple[Catch, ...] = ()
    timeout_seconds: int = 900  # a Lambda's limit: longer work belongs in a job


@dataclass(frozen=True)
class TrainingJob:
    """Run the training job specified at `job_path` and write what it produced at `result_path` (SageMaker
    `createTrainingJob.sync` on AWS, the trainer port locally). Every try gets its own job name."""

    name: str
    next: str
    job_path: str = "job"
    result_path: str = "training"
    retry: tuple[Retry, ...] = ()
    catch: tuple[Catch, ...] = ()
    timeout_seconds: int = 24 * 3600


@dataclass(frozen=True)
class Rule:
    variable: str  # dotted path in the run document, e.g. "gate.decision"
    equals: Any
    next: str

    def matches(self, document: dict[str, Any]) -> bool:
        value: Any = document
        for part in self.variable.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return _kind(value) == _kind(self.equals) and bool(value == self.equals)


def _kind(value: Any) -> str:
    """String, boolean or number, as States Language compares them: True is not 1."""
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, (int, float)) else type(value).__name__


@dataclass(frozen=True)
class Choice:
    name: str
    rules: tuple[Rule, ...]
    default: str

    def next_for(self, document: dict[str, Any]) -> str:
        return next((rule.next for rule in self.rules if rule.matches(document)), self.default)


@dataclass(frozen=True)
class AwaitOperator:
    """Notify, then wait for an operator's answer (a task token on AWS, `mlops resume` locally). The answer lands
    at `result_path`; a wait that times out fails with States.Timeout, for a Catch to handle."""

    name: str
    agent: str
    next: str
    result_path: str = "answer"
    catch: tuple[Catch, ...] = ()
    timeout_seconds: int = 7 * 24 * 3600


@dataclass(frozen=True)
class End:
    name: str
    succeeded: bool


State = Task | TrainingJob | Choice | AwaitOperator | End


@dataclass(frozen=True)
class Flow:
    start: str
    states: dict[str, State] = field(default_factory=dict)

    def __getitem__(self, name: str) -> State:
        return self.states[name]


def _flow(start: str, *states: State) -> Flow:
    return Flow(start, {state.name: state for state in states})


# A failed training job surfaces as States.TaskFailed on AWS and locally alike (NFR-003: 3 retries, back-off).
TRAINING_RETRY = Retry(errors=(TASK_FAILED,), max_attempts=3, interval_seconds=2.0, backoff_rate=2.0)
TO_FAILURE = (Catch((ANY_ERROR,), "HandleFailure"),)
TO_ROLLBACK = (Catch((ANY_ERROR,), "Rollback"),)  # a registered model that cannot be verified is rolled back

FLOW = _flow(
    "PrepareData",
    Task("PrepareData", "prepare_data", "BuildTrainingJob", catch=TO_FAILURE),
    Task("BuildTrainingJob", "build_training_job", "Train", catch=TO_FAILURE),
    TrainingJob("Train", "Evaluate", retry=(TRAINING_RETRY,), catch=TO_FAILURE),
    Task("Evaluate", "evaluate", "Gate", catch=TO_FAILURE),
    Choice(
        "Gate",
        (Rule("gate.decision", "pass", "Register"), Rule("gate.decision", "retrain", "AwaitOperator")),
        default="PublishFailed",
    ),
    AwaitOperator(
        "AwaitOperator",
        "await_operator",
        "ApplyOperatorAnswer",
        catch=(Catch((TIMEOUT,), "OperatorTimedOut"), *TO_FAILURE),
    ),
    Task("ApplyOperatorAnswer", "apply_operator_answer", "OperatorChoice", catch=TO_FAILURE),
    Choice("OperatorChoice", (Rule("operator.action", "retrain", "BuildTrainingJob"),), default="PublishFailed"),
    Task("OperatorTimedOut", "expire_operator_wait", "PublishFailed"),
    Task("Register", "register", "Verify", catch=TO_FAILURE),
    # Reloading a model needs the ML libraries and may take long: a job, like training (DESIGN.md §5), whose
    # result a Lambda-safe task then reads. A job that cannot even start is retried like training.
    TrainingJob(
        "Verify",
        "RecordVerification",
        job_path="verification_job",
        result_path="verification",
        retry=(TRAINING_RETRY,),
        catch=TO_ROLLBACK,
        timeout_seconds=3600,
    ),
    Task("RecordVerification", "verify", "VerifyChoice", catch=TO_ROLLBACK),
    Choice("VerifyChoice", (Rule("verify.ok", True, "PublishSucceeded"),), default="Rollback"),
    Task("Rollback", "rollback", "PublishFailed", catch=(Catch((ANY_ERROR,), "PublishFailed"),)),
    Task("HandleFailure", "handle_failure", "PublishFailed"),
    Task("PublishSucceeded", "publish", "Succeeded"),
    Task("PublishFailed", "publish", "Failed"),
    End("Succeeded", succeeded=True),
    End("Failed", succeeded=False),
)
