"""The local runner keeps States Language's semantics, so the two engines cannot differ: a Retry resends the
state's original input, errors match by exact name (no class hierarchy), a task past its timeout fails with
States.Timeout, and a caught error lands in the document at the Catch's result path."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.backends.local.runs_db import SqliteRunStore
from mlops.pipeline.flow import ANY_ERROR, Catch, End, Flow, Retry, Task
from mlops.pipeline.models import RunState, new_training_id
from mlops.pipeline.runner import LocalRunner
from mlops.request import validate_request
from mlops.services import build_ports
from mlops.settings import Settings
from tests.pipeline.conftest import IRIS


class Boom(Exception):
    pass


class BoomSubclass(Boom):
    pass


def _runner(tmp_path: Path, agents: dict, task: Task, delays: list[float]) -> LocalRunner:
    settings = Settings(home=tmp_path / "home", history_dir=tmp_path / "history", retry_base_delay=0.5)
    flow = Flow(task.name, {task.name: task, "Done": End("Done", True), "Caught": End("Caught", False)})
    return LocalRunner(build_ports(settings), SqliteRunStore(settings.db_path), flow=flow, agents=agents,
                       sleep=delays.append)


def _start(runner: LocalRunner) -> RunState:
    return runner.start(RunState(training_id=new_training_id(), request=validate_request(IRIS)))


CAUGHT = (Catch((ANY_ERROR,), "Caught"),)


def test_every_try_gets_the_original_input_and_only_its_number_changes(tmp_path) -> None:
    seen: list[int] = []

    def flaky(run, ports):
        seen.append(len(run.events))
        run.log("Flaky", "a change a retry must not see")
        if len(seen) < 3:
            raise Boom("not yet")
        return run

    task = Task("Flaky", "flaky", "Done", retry=(Retry(("Boom",), max_attempts=2, interval_seconds=1),))
    delays: list[float] = []
    run = _start(_runner(tmp_path, {"flaky": flaky}, task, delays))
    assert seen == [0, 0, 0], "each try must start from the state's original document"
    assert delays == [0.5, 1.0]  # the declared back-off from MLOPS_RETRY_DELAY
    # AND the document holds the successful try's change once, and the engine's record of the two retries
    assert [e.message for e in run.events] == [
        "a change a retry must not see",
        "Boom: not yet; retry 1/2 in 0.5 s",
        "Boom: not yet; retry 2/2 in 1 s",
    ]


def test_errors_match_by_exact_name_not_by_class(tmp_path) -> None:
    def raises_subclass(run, ports):
        raise BoomSubclass("a subclass of a retried error")

    task = Task("Work", "work", "Done", retry=(Retry(("Boom",), max_attempts=3),), catch=CAUGHT)
    delays: list[float] = []
    run = _start(_runner(tmp_path, {"work": raises_subclass}, task, delays))
    assert delays == []  # not retried: its name is BoomSubclass
    assert run.error is not None and (run.error.state, run.error.type) == ("Work", "BoomSubclass")


def test_a_task_past_its_timeout_fails_with_states_timeout(tmp_path) -> None:
    task = Task("Slow", "slow", "Done", catch=CAUGHT, timeout_seconds=0)
    run = _start(_runner(tmp_path, {"slow": lambda run, ports: run}, task, []))
    assert run.error is not None and run.error.type == "States.Timeout"
    assert "longer than its 0 s timeout" in run.error.message


@pytest.mark.parametrize("error", ["Boom", "States.TaskFailed"])
def test_a_declared_retry_runs_out_then_the_catch_writes_the_error(tmp_path, error) -> None:
    task = Task("Work", "work", "Done", retry=(Retry((error,), max_attempts=1),), catch=CAUGHT)
    delays: list[float] = []

    def always(run, ports):
        raise Boom("every time")

    run = _start(_runner(tmp_path, {"work": always}, task, delays))
    assert len(delays) == 1 and run.error is not None and run.error.message == "every time"
