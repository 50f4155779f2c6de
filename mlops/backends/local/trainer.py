"""Trainer port, locally: the script-mode entry point in a child process with SageMaker's `SM_*` contract.

The same entry point runs in a SageMaker framework container, so what passes here passes there. By default the
child is a training worker (`mlops.training.worker`), possibly started before the run was even created, that
afterwards runs the verifying job (the entry point with mlops_mode=verify) with the libraries it imported to
train; MLOPS_TRAIN_COMMAND replaces it by a command of your own, run once per job, the verifying one included.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import shlex
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from mlops.backends.local.processes import Finished, TimedOut, TrainingWorker, run_once
from mlops.backends.local.store import LocalArtifactStore
from mlops.errors import TrainingCrashed, TrainingError
from mlops.pipeline.artifacts import MODEL_ARCHIVE, OUTPUT_ARCHIVE, pack
from mlops.pipeline.models import TrainingJob, TrainingOutcome
from mlops.training.hyperparameters import MODE_KEY, VERIFICATION, VERIFY_MODE

NOT_RETRYABLE_EXIT = 2  # the entry point's code for "retrying would give the same result"


class LocalTrainer:
    def __init__(
        self,
        store: LocalArtifactStore,
        *,
        command: str | None = None,
        timeout: float = 3600.0,
        progress: Callable[[str], None] = lambda line: None,
        standby: TrainingWorker | None = None,
    ) -> None:
        self.store = store
        self.command = shlex.split(command) if command else None
        self.timeout = timeout
        self.progress = progress
        self._standby = standby  # started early, not used yet
        self._trained: TrainingWorker | None = None  # trained the last try; kept to verify what it made

    def train(self, job: TrainingJob, name: str, timeout: float) -> TrainingOutcome:
        """Run the job as `name`; its model and outputs are stored packed, as SageMaker stores them."""
        prefix = job.output_key(name)
        # A try of this name that a killed engine left half-written is garbage: this try replaces it.
        self.store.delete_prefix(prefix)
        limit = min(self.timeout, job.max_runtime_seconds, timeout)
        with tempfile.TemporaryDirectory(prefix="mlops-train-") as tmp:
            model_dir, output_dir = Path(tmp, "model"), Path(tmp, "output")
            started = datetime.now(timezone.utc)
            verifying = job.hyperparameters.get(MODE_KEY) == VERIFY_MODE
            _raise_for_exit(self._execute(self._environment(job, model_dir, output_dir), limit, verifying))
            ended = datetime.now(timezone.utc)
            _check_evaluation(output_dir)
            for directory, key in ((model_dir, MODEL_ARCHIVE), (output_dir, OUTPUT_ARCHIVE)):
                self.store.put_file(f"{prefix}/{key}", pack(directory, Path(tmp, Path(key).name)))
        return TrainingOutcome(job_name=name, started_at=started, ended_at=ended)

    def verify(self, artifact_key: str) -> tuple[bool, str]:
        """Load a registered artifact back in the training runtime and re-check the holdout it recorded."""
        worker, self._trained = self._trained or self._take_standby(), None
        try:
            with self.store.local_path(artifact_key) as model_dir:
                return worker.verify(Path(model_dir), self.timeout)
        except TimedOut:
            return False, f"verification did not finish within {self.timeout:g} s"
        finally:
            worker.close()

    def close(self) -> None:
        self._close_trained()
        if self._standby is not None:
            self._standby.close()
            self._standby = None

    def _execute(self, environment: dict[str, str], timeout: float, verifying: bool) -> Finished:
        threading.Thread(target=_prewarm, daemon=True).start()
        try:
            if self.command is not None:
                return run_once(self.command, environment, timeout, self.progress)
            return self._train_in_worker(environment, timeout, verifying)
        except TimedOut:
            raise TrainingCrashed(f"training timed out after {timeout:g} s and was stopped") from None

    def _train_in_worker(self, environment: dict[str, str], timeout: float, verifying: bool) -> Finished:
        """A verifying job runs in the worker that trained, whose ML libraries are imported already; a
        training try in a fresh one."""
        if verifying and self._trained is not None:
            worker, self._trained = self._trained, None
        else:
            self._close_trained()
            worker = self._take_standby()
        finished = worker.train(environment, timeout, self.progress)
        if finished.code == 0:
            self._trained = worker
        else:  # a failed try may have left the process in any state: the next try gets a fresh one
            worker.close()
        return finished

    def _close_trained(self) -> None:
        if self._trained is not None:
            self._trained.close()
            self._trained = None

    def _take_standby(self) -> TrainingWorker:
        worker, self._standby = self._standby or TrainingWorker(), None
        return worker

    def _environment(self, job: TrainingJob, model_dir: Path, output_dir: Path) -> dict[str, str]:
        for directory in (model_dir, output_dir):
            directory.mkdir()
        env = {
            "SM_MODEL_DIR": str(model_dir),
            "SM_OUTPUT_DATA_DIR": str(output_dir),
            "SM_HPS": json.dumps(job.hyperparameters),
            "SM_CHANNELS": json.dumps(list(job.channels)),
        }
        for name, key in job.channels.items():
            env[f"SM_CHANNEL_{name.upper()}"] = str(self.store.root / key)
        return env


def _prewarm() -> None:
    """This process only waits while the trainer runs: import what Publish needs meanwhile."""
    with contextlib.suppress(ImportError):
        importlib.import_module("mlops.report")


def _raise_for_exit(finished: Finished) -> None:
    if finished.code == 0:
        return
    detail = " | ".join(line for line in finished.tail[-5:] if line.strip()) or "no error output"
    if finished.code == NOT_RETRYABLE_EXIT:
        raise TrainingError(f"training failed (retrying would not help): {detail}")
    raise TrainingCrashed(f"training exited with code {finished.code}: {detail}")


def _check_evaluation(output_dir: Path) -> None:
    """A finished try wrote evaluation.json, or rejected.json (its input, which Evaluate then reports), or a
    verifying job verification.json."""
    if not any((output_dir / name).is_file() for name in ("evaluation.json", "rejected.json", VERIFICATION)):
        raise TrainingCrashed("training finished but wrote no evaluation.json")
