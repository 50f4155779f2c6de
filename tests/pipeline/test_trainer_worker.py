"""The default trainer: a training worker process per try, kept to verify what it trained, never left behind."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from mlops.backends.local.processes import TrainingWorker
from mlops.pipeline.artifacts import OUTPUT_ARCHIVE, read_member
from mlops.pipeline.models import RunState, new_training_id
from mlops.request import validate_request
from mlops.services import build_services
from mlops.settings import Settings
from tests.pipeline.conftest import IRIS, Engine

SLOW_FOREST = {**IRIS, "dataset_id": "digits", "hyperparameters": {"n_estimators": 8000, "max_depth": 20}}


def worker_children() -> list[int]:
    """This process's children that are training workers and still running, bar those an earlier test left
    (a cached Lambda container's, say): each test answers for its own."""
    return sorted(set(_all_worker_children()) - EARLIER)


def _all_worker_children() -> list[int]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            command = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and stat[0] != "Z" and b"mlops.training.worker" in command:
            found.append(int(proc.name))
    return found


pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads Linux /proc")
EARLIER: set[int] = set()


@pytest.fixture(autouse=True)
def _workers_left_by_earlier_tests() -> None:
    EARLIER.clear()
    EARLIER.update(_all_worker_children())


def test_a_training_that_runs_past_its_timeout_is_stopped_and_retried(engine: Engine) -> None:
    # GIVEN a training timeout shorter than the training
    hasty = engine.with_settings(train_timeout=1.0)
    # WHEN the run trains
    started = time.monotonic()
    run = hasty.run(**SLOW_FOREST)
    # THEN each try is stopped at the timeout, retried three times, and the run fails saying why
    assert run.status == "failed"
    assert run.attempts[0].tries == 4
    assert run.error is not None and "timed out after 1 s" in run.error.message
    assert time.monotonic() - started < 60
    # AND no worker is left running
    assert worker_children() == []


def test_a_worker_that_dies_mid_training_is_replaced_by_a_fresh_one(settings: Settings) -> None:
    # GIVEN a run whose first worker is killed by the OOM killer (as it looks from here) while it fits the model:
    # the moment it says it is fitting, not while it is still starting up
    killed: list[int] = []

    def kill_the_worker_as_it_fits(line: str) -> None:
        if not killed and line.startswith("[mlops] progress train fitting"):
            killed.extend(worker_children())
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

    services = build_services(settings, progress=kill_the_worker_as_it_fits)
    request = validate_request({**IRIS, "hyperparameters": {"n_estimators": 300, "max_depth": 5}})
    try:
        run = services.runner.start(RunState(training_id=new_training_id(), request=request))
    finally:
        services.close()
    # THEN the crash is retried with a new worker and the run succeeds, the crash on record
    assert len(killed) == 1, "exactly one worker was training when it said so"
    assert run.status == "succeeded", run.error
    assert run.attempts[0].tries == 2
    assert any("exited with code -9" in event.message for event in run.events)
    assert worker_children() == []


def test_the_verifying_job_without_the_worker_that_trained_starts_a_new_one(engine: Engine) -> None:
    # GIVEN a registered model and a trainer that no longer holds the worker that trained it (a resumed run)
    run = engine.run(**IRIS)
    assert run.registered is not None and run.verification_job is not None
    trainer = engine.services.ports.trainer
    trainer.close()
    # WHEN it runs the job that verifies the registered artifact
    job = run.verification_job
    outcome = trainer.train(job, job.try_name(1), timeout=600)
    # THEN a fresh worker loads it and reproduces the holdout, as the job's verification.json says
    archive = f"{job.output_key(outcome.job_name)}/{OUTPUT_ARCHIVE}"
    found = json.loads(read_member(engine.services.ports.store, archive, "verification.json"))
    assert found["ok"] is True and "reproduced" in found["detail"]
    # AND that worker is gone afterwards
    trainer.close()
    assert worker_children() == []


def test_a_worker_answers_a_command_it_does_not_know_instead_of_hanging() -> None:
    # GIVEN a worker WHEN it is sent something that is not a command THEN it says so, and stays usable
    worker = TrainingWorker()
    try:
        with pytest.raises(RuntimeError, match="bad worker command"):
            worker._ask({"op": "dance"}, timeout=60, sink=lambda line: None)
        ok, detail = worker.verify(Path("/nonexistent-model-dir"), timeout=60)
        assert not ok and "cannot load the model" in detail
    finally:
        worker.close()
