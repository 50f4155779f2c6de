"""The local engine: walks the flow declaration, checkpointing the run document after every step.

A run killed at any point resumes from its last checkpoint: finished steps are not redone, and Register is
idempotent per training id, so a step that finished but was not yet checkpointed is safe to run again.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mlops.errors import MlopsError, RunStateError
from mlops.pipeline.agents import AGENTS, Agent, Ports, apply_operator_decision
from mlops.pipeline.flow import ANY_ERROR, FLOW, AwaitOperator, Choice, End, Flow, Task
from mlops.pipeline.models import ErrorInfo, OperatorDecision, RunState, utcnow
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
        if run.status == "awaiting_operator":
            if decision is None:
                raise RunStateError(
                    f"training_id: run {training_id} is waiting for an operator; resume it with "
                    '"/mlops retrain key=value ..." or "/mlops abort [reason]"'
                )
            run = apply_operator_decision(run, self._unless_expired(run, decision))
            # Kept at once: a run killed during the retrain resumes with the operator's answer, not without it.
            self.runs.checkpoint(run, next_state)
        elif decision is not None:
            raise RunStateError(f"training_id: run {training_id} is not waiting for an operator ({run.status})")
        return run, next_state

    def _unless_expired(self, run: RunState, decision: OperatorDecision) -> OperatorDecision:
        """An answer that comes after the wait's timeout ends the run instead, as Step Functions would."""
        timeout = max(s.timeout_seconds for s in self.flow.states.values() if isinstance(s, AwaitOperator))
        waited = (utcnow() - (run.events[-1].at if run.events else run.created_at)).total_seconds()
        if waited < timeout:
            return decision
        reason = f"no operator answer within {timeout / 3600:g} h (the answer came after {waited / 3600:.1f} h)"
        return OperatorDecision(action="abort", actor="mlops (timeout)", reason=reason)

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
            if isinstance(state, AwaitOperator):
                run = self.agents[state.agent](run, self.ports)
                self.runs.checkpoint(run, state.next)
                return run
            run, name = self._task(run, state)
            self.runs.checkpoint(run, name)

    def _task(self, run: RunState, task: Task) -> tuple[RunState, str]:
        retries = 0
        while True:
            try:
                return self.agents[task.agent](run, self.ports), task.next or ""
            except Exception as exc:
                retry = next((r for r in task.retry if _matches(r.errors, exc)), None)
                if retry is not None and retries < retry.max_attempts:
                    retries += 1
                    delay = retry.delay(retries, self.ports.settings.retry_base_delay)
                    run.log(
                        task.name,
                        f"{type(exc).__name__}: {exc}; retry {retries}/{retry.max_attempts} in {delay:g} s",
                    )
                    self.sleep(delay)
                    continue
                return run, self._caught(run, task, exc)

    def _caught(self, run: RunState, task: Task, exc: Exception) -> str:
        catch = next((c for c in task.catch if _matches(c.errors, exc)), None)
        if catch is None:
            raise exc
        run.error = ErrorInfo(state=task.name, type=type(exc).__name__, message=str(exc))
        run.log(task.name, f"failed: {type(exc).__name__}: {exc}")
        if not isinstance(exc, MlopsError):  # a bug, not a user-facing failure: keep the traceback for the maintainers
            _save_traceback(self.ports.settings.home / "logs" / f"{run.training_id}.log", exc)
        return catch.next


def _matches(errors: tuple[str, ...], exc: Exception) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return ANY_ERROR in errors or bool(names & set(errors))


def _save_traceback(path: Path, exc: Exception) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write("".join(traceback.format_exception(exc)))
    log.error("unexpected error; traceback saved to %s", path)
