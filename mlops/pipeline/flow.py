"""The pipeline, declared once as data: its states, transitions and retry policy.

The local runner walks this declaration; the AWS engine (planned) compiles the same declaration to Amazon
States Language, so both engines run the same flow. Keep it free of anything engine-specific: agents are named,
not imported, and choices compare a path of the run document with a value.

    PrepareData -> Train -(crash: retry x3, back-off)-> Evaluate -> Gate
    Gate: pass -> Register -> Verify -> VerifyChoice: ok -> PublishSucceeded -> Succeeded
                                                     bad -> Rollback -> PublishFailed -> Failed
          retrain -> AwaitOperator -> OperatorChoice: retrain -> Train; abort -> PublishFailed
          exhausted -> PublishFailed
    any failing task -> HandleFailure -> PublishFailed -> Failed
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ANY_ERROR = "States.ALL"


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


@dataclass(frozen=True)
class Task:
    name: str
    agent: str
    next: str | None = None
    retry: tuple[Retry, ...] = ()
    catch: tuple[Catch, ...] = ()
    timeout_seconds: int | None = None


@dataclass(frozen=True)
class Rule:
    variable: str  # dotted path in the run document, e.g. "gate.decision"
    equals: Any
    next: str

    def matches(self, document: dict[str, Any]) -> bool:
        value: Any = document
        for part in self.variable.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return bool(value == self.equals)


@dataclass(frozen=True)
class Choice:
    name: str
    rules: tuple[Rule, ...]
    default: str

    def next_for(self, document: dict[str, Any]) -> str:
        return next((rule.next for rule in self.rules if rule.matches(document)), self.default)


@dataclass(frozen=True)
class AwaitOperator:
    """Notify, then wait for an operator's answer (a task token on AWS, `mlops resume` locally)."""

    name: str
    agent: str
    next: str
    timeout_seconds: int = 7 * 24 * 3600


@dataclass(frozen=True)
class End:
    name: str
    succeeded: bool


State = Task | Choice | AwaitOperator | End


@dataclass(frozen=True)
class Flow:
    start: str
    states: dict[str, State] = field(default_factory=dict)

    def __getitem__(self, name: str) -> State:
        return self.states[name]


def _flow(start: str, *states: State) -> Flow:
    return Flow(start, {state.name: state for state in states})


TRAINING_RETRY = Retry(errors=("TrainingCrashed",), max_attempts=3, interval_seconds=2.0, backoff_rate=2.0)
TO_FAILURE = (Catch((ANY_ERROR,), "HandleFailure"),)

FLOW = _flow(
    "PrepareData",
    Task("PrepareData", "prepare_data", "Train", catch=TO_FAILURE),
    Task("Train", "train", "Evaluate", retry=(TRAINING_RETRY,), catch=TO_FAILURE, timeout_seconds=24 * 3600),
    Task("Evaluate", "evaluate", "Gate", catch=TO_FAILURE),
    Choice(
        "Gate",
        (Rule("gate.decision", "pass", "Register"), Rule("gate.decision", "retrain", "AwaitOperator")),
        default="PublishFailed",
    ),
    AwaitOperator("AwaitOperator", "await_operator", "OperatorChoice"),
    Choice("OperatorChoice", (Rule("operator.action", "retrain", "Train"),), default="PublishFailed"),
    Task("Register", "register", "Verify", catch=TO_FAILURE),
    Task("Verify", "verify", "VerifyChoice", catch=(Catch((ANY_ERROR,), "Rollback"),)),
    Choice("VerifyChoice", (Rule("verify.ok", True, "PublishSucceeded"),), default="Rollback"),
    Task("Rollback", "rollback", "PublishFailed", catch=(Catch((ANY_ERROR,), "PublishFailed"),)),
    Task("HandleFailure", "handle_failure", "PublishFailed"),
    Task("PublishSucceeded", "publish", "Succeeded"),
    Task("PublishFailed", "publish", "Failed"),
    End("Succeeded", succeeded=True),
    End("Failed", succeeded=False),
)
