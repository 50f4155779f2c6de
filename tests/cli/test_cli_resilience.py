"""What a user sees when things go wrong: a run killed mid-way, a trainer that keeps crashing, ten runs at once."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mlops.pipeline.agents import AGENTS, Ports
from mlops.pipeline.models import RunState, new_training_id
from mlops.pipeline.runner import LocalRunner
from mlops.request import validate_request
from tests.pipeline.conftest import IRIS, Engine, wrapper_script

from .conftest import IRIS_REQUEST, Mlops, ServedIris, Started, current_versions, request_file

MODEL = "iris-classifier"


def wait_for(started: Started, mlops: Mlops, condition: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Poll the run database until the (single) run's row meets `condition`; fail if the command ends first."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        rows = mlops.run_rows()
        if rows and condition(rows[0]):
            return rows[0]
        if started.process.poll() is not None:
            pytest.fail(f"the run ended before the awaited state: {started.wait()!r} rows={rows}")
        time.sleep(0.02)
    started.kill_group()
    pytest.fail(f"the run never reached the awaited state: {mlops.run_rows()}")


def kill_9(started: Started) -> None:
    """`kill -9` the mlops process itself; what it started goes with it (checked where Linux /proc tells)."""
    os.kill(started.process.pid, signal.SIGKILL)
    assert started.process.wait(timeout=30) == -signal.SIGKILL
    left = left_after(started, seconds=3) if sys.platform.startswith("linux") else []
    started.kill_group()
    assert left == [], "processes outlived the killed mlops"


def assert_resumes_to_one_version(mlops: Mlops, training_id: str) -> None:
    """`mlops resume <id>` finishes the run, with one registered version and one report in a sound history."""
    resumed = mlops("resume", training_id, "--json")
    assert resumed.returncode == 0, resumed
    summary = resumed.json()
    assert summary["training_id"] == training_id
    assert (summary["status"], summary["version"], summary["attempts"]) == ("succeeded", "v1.0.0", 1), summary
    versions = mlops.versions(MODEL)
    assert [(v["version"], v["training_id"], v["current"]) for v in versions] == [("v1.0.0", training_id, True)]
    assert [(r["training_id"], r["status"]) for r in mlops("runs", "list", "--json").json()] == [
        (training_id, "succeeded")
    ]
    assert [(e["kind"], e["id"]) for e in mlops("history", "list", "--json").json()] == [("training", training_id)]
    verified = mlops("history", "verify")
    assert verified.returncode == 0, verified
    assert Path(summary["report"]).is_file()


# --- (a) killed mid-way ------------------------------------------------------------------------------------


def test_a_run_killed_during_training_resumes_and_registers_once(mlops: Mlops, tmp_path: Path) -> None:
    # GIVEN a run whose training takes a few seconds longer than usual
    training = tmp_path / "training-started"
    slow = wrapper_script(tmp_path / "slow_trainer.py", f"open({str(training)!r}, 'w').close()\ntime.sleep(4)")
    started = mlops.start("run", str(IRIS_REQUEST), "--json", MLOPS_TRAIN_COMMAND=slow)
    # WHEN it is killed with SIGKILL while its trainer runs
    row = wait_for(started, mlops, lambda row: row["next_state"] == "Train" and training.exists())
    kill_9(started)
    # THEN `mlops status` shows it stopped in Train, with nothing registered
    status = mlops("status", row["training_id"], "--json")
    assert status.returncode == 0, status
    assert (status.json()["status"], status.json()["next_state"]) == ("running", "Train")
    assert mlops.versions(MODEL) == []
    # AND `mlops resume <id>` (with the ordinary trainer) finishes it: one version, one report, a sound history
    assert_resumes_to_one_version(mlops, row["training_id"])


def test_ctrl_c_during_training_exits_130_and_says_how_to_resume(mlops: Mlops, tmp_path: Path) -> None:
    # GIVEN a run whose trainer is running
    training = tmp_path / "training-started"
    slow = wrapper_script(tmp_path / "slow_trainer.py", f"open({str(training)!r}, 'w').close()\ntime.sleep(4)")
    started = mlops.start("run", str(IRIS_REQUEST), MLOPS_TRAIN_COMMAND=slow)
    row = wait_for(started, mlops, lambda row: row["next_state"] == "Train" and training.exists())
    # WHEN the user presses Ctrl-C (SIGINT to the terminal's process group)
    os.killpg(started.process.pid, signal.SIGINT)
    interrupted = started.wait()
    # THEN it exits 130 with one line saying how to continue, and `mlops resume <id>` finishes the run
    assert interrupted.returncode == 130, interrupted
    assert "`mlops resume <training_id>` continues" in interrupted.stderr, interrupted
    assert mlops.run_rows() == [{**row, "status": "running"}]
    assert_resumes_to_one_version(mlops, row["training_id"])


SLOW_FOREST = {
    "learning_type": "supervised",
    "algorithm": "random_forest",
    "dataset_id": "digits",
    "hyperparameters": {"n_estimators": 8000, "max_depth": 20},  # about ten seconds of fitting
    "evaluation_threshold": 0.5,
}


def wait_for_progress(started: Started, marker: str) -> None:
    """Read the command's progress (stderr) until a line containing `marker`; fail if it ends first."""
    assert started.process.stderr is not None
    for line in started.process.stderr:
        if marker in line:
            return
    pytest.fail(f"the command ended before printing {marker!r}: {started.wait()!r}")


def live_processes(group: int) -> list[int]:
    """The processes of process group `group` that are still running (a zombie has finished)."""
    alive = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = status.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group and fields[0] != "Z":
                alive.append(int(status.parent.name))
    return alive


def left_after(started: Started, seconds: float) -> list[int]:
    """The processes of the command's group still running `seconds` after it ended (none, soon, if all is well)."""
    deadline = time.monotonic() + seconds
    while live_processes(started.process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return live_processes(started.process.pid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the worker asks Linux to kill it with its parent")
def test_a_killed_run_leaves_no_training_behind(mlops: Mlops, tmp_path: Path) -> None:
    # GIVEN a run whose (ordinary) training worker is fitting a large forest
    started = mlops.start("run", str(request_file(tmp_path / "slow.yml", "Slow Digits", SLOW_FOREST)))
    wait_for_progress(started, "[mlops] progress train fitting")
    assert len(live_processes(started.process.pid)) >= 3  # mlops, its worker and the worker's plotting child
    # WHEN mlops itself is killed with SIGKILL
    os.kill(started.process.pid, signal.SIGKILL)
    started.process.wait(timeout=30)
    # THEN its worker (and the worker's plotting child) go too, at once rather than when the fit is over
    left = left_after(started, seconds=3)
    started.kill_group()
    assert left == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux /proc")
def test_ctrl_c_during_ordinary_training_exits_130_and_stops_the_worker(mlops: Mlops, tmp_path: Path) -> None:
    # GIVEN a run whose training worker is fitting a large forest
    started = mlops.start("run", str(request_file(tmp_path / "slow.yml", "Slow Digits", SLOW_FOREST)))
    wait_for_progress(started, "[mlops] progress train fitting")
    row = mlops.run_rows()[0]
    # WHEN the user presses Ctrl-C
    os.killpg(started.process.pid, signal.SIGINT)
    interrupted = started.wait(timeout=30)
    # THEN it exits 130 at once, saying how to continue, with the run left resumable in Train and no worker left
    assert interrupted.returncode == 130, interrupted
    assert left_after(started, seconds=3) == []
    assert "`mlops resume <training_id>` continues" in interrupted.stderr, interrupted
    assert mlops.run_rows() == [{**row, "status": "running"}]


@contextmanager
def history_locked(mlops: Mlops) -> Iterator[None]:
    """Hold the history directory's append lock: a run gets through Register and Verify, then waits in Publish."""
    mlops.history.mkdir(parents=True, exist_ok=True)
    with (mlops.history / ".history.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def test_a_run_killed_after_it_registered_resumes_without_registering_again(mlops: Mlops) -> None:
    # GIVEN a run that has registered and verified its model and is about to publish its report
    with history_locked(mlops):
        started = mlops.start("run", str(IRIS_REQUEST), "--json")
        row = wait_for(started, mlops, lambda row: row["next_state"] == "VerifyChoice")
        assert [v["version"] for v in mlops.versions(MODEL)] == ["v1.0.0"]
        # WHEN it is killed with SIGKILL there
        kill_9(started)
    assert not list(mlops.history.glob("*.md"))
    # THEN `mlops resume <id>` publishes it, and v1.0.0 is still the only version
    assert_resumes_to_one_version(mlops, row["training_id"])


class Killed(BaseException):
    """The process dies: nothing after this point runs, not even the runner's error handling."""


def test_a_run_killed_inside_register_before_its_checkpoint_registers_once(mlops: Mlops) -> None:
    # GIVEN a run that dies the moment Register has written the registry, before the step is checkpointed
    def register_then_die(run: RunState, ports: Ports) -> RunState:
        AGENTS["register"](run, ports)
        raise Killed

    with contextlib.closing(Engine(mlops.settings)) as engine:
        agents = {**AGENTS, "register": register_then_die}
        runner = LocalRunner(engine.services.ports, engine.services.runs, agents=agents)
        run = RunState(training_id=new_training_id(), request=validate_request(IRIS), source="in-process")
        with pytest.raises(Killed):
            runner.start(run)
    # THEN its last checkpoint is from before Register (Evaluate, then the Gate), although its version is registered
    assert [(r["training_id"], r["next_state"]) for r in mlops.run_rows()] == [(run.training_id, "Gate")]
    assert [v["version"] for v in mlops.versions(MODEL)] == ["v1.0.0"]
    # AND `mlops resume <id>` runs Register again without making a second version
    assert_resumes_to_one_version(mlops, run.training_id)


# --- (b) a trainer that keeps crashing ---------------------------------------------------------------------


def test_a_trainer_that_always_crashes_fails_after_4_tries_and_the_current_version_stays(
    served_iris: ServedIris, tmp_path: Path
) -> None:
    # GIVEN a model with v1.0.1 current, and a trainer that crashes every time it starts
    mlops = served_iris.copy(tmp_path / "copy")
    tries = tmp_path / "tries.log"
    crashing = wrapper_script(
        tmp_path / "crashing_trainer.py",
        f"open({str(tries)!r}, 'a').write('try\\n')\n"
        "print('simulated trainer crash: out of memory', file=sys.stderr)\n"
        "sys.exit(1)\n",
    )
    # WHEN a run is started
    result = mlops("run", str(IRIS_REQUEST), "--json", MLOPS_TRAIN_COMMAND=crashing)
    # THEN it exits 1 after the first try and 3 retries, and says why
    assert result.returncode == 1, result
    summary = result.json()
    assert summary["status"] == "failed" and summary["version"] is None, summary
    assert len(tries.read_text().splitlines()) == 4
    assert "exited with code 1" in summary["error"] and "simulated trainer crash" in summary["error"], summary
    # AND the model that was serving still is, with no version added
    versions = mlops.versions(MODEL)
    assert [v["version"] for v in versions] == ["v1.0.0", "v1.0.1"]
    assert current_versions(versions) == ["v1.0.1"]
    # AND the failure is reported in the history, which still verifies
    assert Path(summary["report"]).is_file()
    assert mlops("history", "verify").returncode == 0


# --- (c) ten runs at once ----------------------------------------------------------------------------------


def test_ten_concurrent_runs_of_one_request_get_ten_distinct_versions(mlops: Mlops) -> None:
    # GIVEN one request, started ten times at once
    request = request_file(
        mlops.root / "iris.yml",
        "Iris Classifier",
        {
            "learning_type": "supervised",
            "algorithm": "random_forest",
            "dataset_id": "iris",
            "hyperparameters": {"n_estimators": 10},
            "evaluation_threshold": 0.8,
        },
    )
    # on a fresh home: all ten create its database at once (the race has its own test below)
    started = [mlops.start("run", str(request), "--json") for _ in range(10)]
    results = [run.wait() for run in started]
    # THEN every run succeeds, each with its own version v1.0.0 .. v1.0.9
    assert [r.returncode for r in results] == [0] * 10, [r for r in results if r.returncode != 0]
    summaries = [r.json() for r in results]
    assert {s["status"] for s in summaries} == {"succeeded"}
    assert sorted(s["version"] for s in summaries) == [f"v1.0.{n}" for n in range(10)]
    # AND `runs list` has the ten runs, and the history verifies
    runs = mlops("runs", "list", "--json").json()
    assert sorted(r["training_id"] for r in runs) == sorted(s["training_id"] for s in summaries)
    assert {r["status"] for r in runs} == {"succeeded"}
    # AND the registry, with the default retention of five generations, keeps at least the newest five, each
    # the version its run reported, with exactly one current
    versions = mlops.versions(MODEL)
    listed = {(v["version"], v["training_id"]) for v in versions}
    assert listed <= {(s["version"], s["training_id"]) for s in summaries}
    assert {f"v1.0.{n}" for n in range(5, 10)} <= {v["version"] for v in versions}
    assert len(current_versions(versions)) == 1
    verified = mlops("history", "verify", "--json")
    assert verified.returncode == 0, verified
    assert verified.json()["records"] == 10


def test_a_run_outpaced_by_five_concurrent_registrations_still_verifies(mlops: Mlops) -> None:
    # GIVEN a run that has registered v1.0.0, and five runs of the same request that register (v1.0.1..v1.0.5)
    # before it gets to verify its version, as happens with more than five runs at once on a loaded machine
    def others_register_then_verify(run: RunState, ports: Ports) -> RunState:
        for _ in range(5):
            AGENTS["register"](run.model_copy(deep=True, update={"training_id": new_training_id()}), ports)
        return AGENTS["verify"](run, ports)

    with contextlib.closing(Engine(mlops.settings)) as engine:
        agents = {**AGENTS, "verify": others_register_then_verify}
        runner = LocalRunner(engine.services.ports, engine.services.runs, agents=agents)
        run = runner.start(RunState(training_id=new_training_id(), request=validate_request(IRIS)))
    assert [v["version"] for v in mlops.versions(MODEL)][-1] == "v1.0.5"
    # THEN the run still verifies its own (good) model and succeeds
    assert run.status == "succeeded", (run.verify, run.error)


def has_open(pid: int, path: Path) -> bool:
    """Does process `pid` hold `path` open (Linux /proc)?"""
    with contextlib.suppress(OSError):
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    return False


NANOSLEEP_SYSCALLS = {"x86_64": {"35", "230"}, "aarch64": {"101", "115"}}  # nanosleep, clock_nanosleep


def sleeping(pid: int) -> bool:
    """Is process `pid` in a timed sleep (Linux /proc)? Once mlops has its database open, the only time it
    sleeps is between two tries of a lock that another process holds."""
    with contextlib.suppress(OSError):
        if "nanosleep" in Path(f"/proc/{pid}/wchan").read_text():
            return True
        syscall = Path(f"/proc/{pid}/syscall").read_text().split(" ", 1)[0]
        return syscall in NANOSLEEP_SYSCALLS.get(os.uname().machine, set())
    return False


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_a_command_waits_while_another_process_is_creating_the_database(mlops: Mlops) -> None:
    # GIVEN another process creating the home's database: it holds the write lock, not yet switched to WAL
    database = mlops.home / "mlops.db"
    mlops.home.mkdir(parents=True)
    creator = sqlite3.connect(database, isolation_level=None)
    creator.execute("BEGIN IMMEDIATE")
    creator.execute("CREATE TABLE created_by_another_process (x)")
    # WHEN a command opens the home meanwhile, and is seen waiting for the lock
    started = mlops.start("runs", "list", "--json")
    deadline = time.monotonic() + 60
    while not (has_open(started.process.pid, database) and sleeping(started.process.pid)):
        if started.process.poll() is not None:
            pytest.fail(f"mlops ended before it waited for the lock: {started.wait()!r}")
        assert time.monotonic() < deadline, "mlops never waited for the database's lock"
        time.sleep(0.001)
    creator.execute("COMMIT")
    creator.close()
    # THEN it waits its turn (as every other database lock does) and succeeds
    result = started.wait()
    assert result.returncode == 0, result
    assert result.json() == []
