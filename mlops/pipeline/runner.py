"""The local engine: walks the flow declaration, checkpointing the run document after every step.

A run killed at any point resumes from its last checkpoint: finished steps are not redone, and Register is
idempotent per training id, so a step that finished but was not yet checkpointed is safe to run again.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mlops.errors import MlopsError, RunStateError
from mlops.pipeline.agents import AGENTS, Agent, Ports, check_operator_answer
from mlops.pipeline.flow import (
    FLOW,
    TIMEOUT,
    AwaitOperator,
    Choice,
    End,
    Flow,
    Retry,
    Task,
    TrainingJob,
    error_matches,
)
from mlops.pipeline.models import ErrorInfo, OperatorDecision, RunState, utcnow
from mlops.pipeline.models import TrainingJob as TrainingJobSpec
from mlops.ports import RunStore

log = logging.getLogger("mlops")


class LocalRunner:
    def __init__(
        self,
        ports: Ports,
        runs: RunStore,
        *,
        flow: Flow = FLOW,
        agents: Mapping[str, Agent] = AGENTS,
        sleep: Callable[[float], None] = time.sleep,
        on_step: Callable[[str, RunState], None] = lambda state, run: None,
    ) -> None:
        self.ports, self.runs, self.flow, self.agents = ports, runs, flow, agents
        self.sleep, self.on_step = sleep, on_step

    def start(self, run: RunState) -> RunState:
        self.runs.create(run, self.flow.start)
        with self._claimed(run.training_id):
            return self._walk(run, self.flow.start)

    def resume(self, training_id: str, decision: OperatorDecision | None = None) -> RunState:
        """Continue a paused run with an operator's decision, or a killed run from its last checkpoint."""
        with self._claimed(training_id):
            run, next_state = self._resumable(training_id, decision)
            return self._walk(run, next_state)

    def _resumable(self, training_id: str, decision: OperatorDecision | None) -> tuple[RunState, str]:
        run, next_state = self.runs.load(training_id)
        if next_state is None:
            raise RunStateError(f"training_id: run {training_id} already {run.status}; nothing to resume")
        wait = self.flow[next_state]
        if isinstance(wait, AwaitOperator) and run.status == "awaiting_operator":
            if decision is None:
                raise RunStateError(
                    f"training_id: run {training_id} is waiting for an operator; resume it with "
                    '"/mlops retrain key=value ..." or "/mlops abort [reason]"'
                )
            next_state = self._answer(run, wait, decision)
            # Kept at once: a run killed during the retrain resumes with the operator's answer, not without it.
            self.runs.checkpoint(run, next_state)
        elif decision is not None:
            raise RunStateError(f"training_id: run {training_id} is not waiting for an operator ({run.status})")
        return run, next_state

    def _answer(self, run: RunState, wait: AwaitOperator, decision: OperatorDecision) -> str:
        """End the wait as Step Functions would: with the answer at the wait's result path, or, when it came
        after the wait's timeout, with States.Timeout for the wait's Catch."""
        waited = (utcnow() - (run.events[-1].at if run.events else run.created_at)).total_seconds()
        if waited < wait.timeout_seconds:
            check_operator_answer(run, decision)  # as the callback checks before it sends the task token
            _set_path(run, wait.result_path, decision)
            return wait.next
        timeout = f"no answer within {wait.timeout_seconds / 3600:g} h (it came after {waited / 3600:.1f} h)"
        return self._caught(run, wait, TIMEOUT, timeout, None)

    @contextmanager
    def _claimed(self, training_id: str) -> Iterator[None]:
        """Only one process executes a run at a time; the claim goes when this one stops, however it stops."""
        self.runs.claim(training_id)
        try:
            yield
        finally:
            self.runs.release(training_id)

    def _walk(self, run: RunState, name: str) -> RunState:
        while True:
            state = self.flow[name]
            self.on_step(name, run)
            if isinstance(state, End):
                self.runs.checkpoint(run, None)
                return run
            if isinstance(state, Choice):
                name = state.next_for(run.model_dump(mode="json"))
                continue
            run, name = self._step(run, state)
            self.runs.checkpoint(run, name)
            if isinstance(state, AwaitOperator) and name == state.name:
                return run  # paused until an operator answers (resume)

    def _step(self, run: RunState, state: Task | TrainingJob | AwaitOperator) -> tuple[RunState, str]:
        """Run a state's work with its Retry and Catch. Every try starts from the state's ORIGINAL input, as a
        States Language Retry resends it: the only thing a try learns from the ones before is its number. The
        retries are logged in the timeline once the state is done, like the execution history Step Functions
        keeps beside the document."""
        retried: list[str] = []
        while True:
            try:
                result, name = self._try(run.model_copy(deep=True), state, len(retried))
                return _logged(result, state.name, retried), name
            except Exception as exc:
                error = error_name(exc)
                retry = next((r for r in _retries(state) if error_matches(r.errors, error)), None)
                if retry is None or len(retried) >= retry.max_attempts:
                    cause = _cause(state, run, len(retried), exc)
                    return _logged(run, state.name, retried), self._caught(run, state, error, cause, exc)
                delay = retry.delay(len(retried) + 1, self.ports.settings.retry_base_delay)
                retried.append(f"{error}: {exc}; retry {len(retried) + 1}/{retry.max_attempts} in {delay:g} s")
                self.sleep(delay)

    def _try(self, run: RunState, state: Task | TrainingJob | AwaitOperator, retries: int) -> tuple[RunState, str]:
        if isinstance(state, TrainingJob):
            job = _job(run, state)
            outcome = self.ports.trainer.train(job, job.try_name(retries), state.timeout_seconds)
            _set_path(run, state.result_path, outcome)
            return run, state.next
        started = time.monotonic()
        run = self.agents[state.agent](run, self.ports)
        if isinstance(state, AwaitOperator):
            return run, state.name
        if time.monotonic() - started > state.timeout_seconds:  # Step Functions would have failed it by now
            raise StateTimedOut(f"{state.name} took longer than its {state.timeout_seconds} s timeout")
        return run, state.next

    def _caught(
        self, run: RunState, state: Task | TrainingJob | AwaitOperator, error: str, cause: str, exc: Exception | None
    ) -> str:
        catch = next((c for c in state.catch if error_matches(c.errors, error)), None)
        if catch is None:
            if exc is None:
                raise RunStateError(f"{state.name}: {error}: {cause}")
            raise exc
        _set_path(run, catch.result_path, ErrorInfo(state=state.name, type=error, message=cause))
        run.log(state.name, f"failed: {error}: {exc if exc is not None else cause}")
        if exc is not None and not isinstance(exc, MlopsError):
            # a bug, not a user-facing failure: keep the traceback for the maintainers
            _save_traceback(self.ports.settings.home / "logs" / f"{run.training_id}.log", exc)
        return catch.next


class StateTimedOut(Exception):
    """A task ran past its declared TimeoutSeconds."""

    error_name = TIMEOUT


def error_name(exc: Exception) -> str:
    """The exact name the flow's Retry and Catch match: an exception's declared `error_name`, or its class
    name (as a Lambda reports `errorType`). No class hierarchy: States Language has none."""
    return str(getattr(exc, "error_name", None) or type(exc).__name__)


def _logged(run: RunState, state: str, messages: list[str]) -> RunState:
    for message in messages:
        run.log(state, message)
    return run


def _retries(state: Task | TrainingJob | AwaitOperator) -> tuple[Retry, ...]:
    return () if isinstance(state, AwaitOperator) else state.retry


def _cause(state: Task | TrainingJob | AwaitOperator, run: RunState, retries: int, exc: Exception) -> str:
    """What States Language puts in `Cause`: for a failed training job, the job's description."""
    if not isinstance(state, TrainingJob) or isinstance(exc, StateTimedOut):
        return str(exc)
    name = _job(run, state).try_name(retries)
    return json.dumps({"TrainingJobName": name, "TrainingJobStatus": "Failed", "FailureReason": str(exc)})


def _job(run: RunState, state: TrainingJob) -> TrainingJobSpec:
    job = getattr(run, state.job_path)
    if not isinstance(job, TrainingJobSpec):
        raise RunStateError(f"{state.name}: no training job at '{state.job_path}' in the run document")
    return job


def _set_path(run: RunState, path: str, value: object) -> None:
    """Write `value` at a top-level field of the run document (the flow's result paths are top-level)."""
    setattr(run, path, value)


def _save_traceback(path: Path, exc: Exception) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write("".join(traceback.format_exception(exc)))
    log.error("unexpected error; traceback saved to %s", path)
