"""Trainer port, locally: the script-mode entry point in a subprocess with SageMaker's `SM_*` contract.

The same entry point runs in a SageMaker framework container, so what passes here passes there.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops.backends.local.store import LocalArtifactStore
from mlops.errors import TrainingCrashed, TrainingError
from mlops.pipeline.models import TrainingJob, TrainingResult

DEFAULT_COMMAND = (sys.executable, "-m", "mlops.training")
NOT_RETRYABLE_EXIT = 2  # the entry point's code for "retrying would give the same result"


class LocalTrainer:
    def __init__(
        self,
        store: LocalArtifactStore,
        *,
        command: str | None = None,
        timeout: float = 3600.0,
        progress: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.store = store
        self.command = shlex.split(command) if command else list(DEFAULT_COMMAND)
        self.timeout = timeout
        self.progress = progress

    def train(self, job: TrainingJob) -> TrainingResult:
        with tempfile.TemporaryDirectory(prefix="mlops-train-") as tmp:
            model_dir, output_dir = Path(tmp, "model"), Path(tmp, "output")
            started = time.monotonic()
            self._run(self._environment(job, model_dir, output_dir))
            duration = time.monotonic() - started
            evaluation = _read_evaluation(output_dir)
            self.store.put_tree(f"{job.output_prefix}/model", model_dir)
            self.store.put_tree(f"{job.output_prefix}/output", output_dir)
        return TrainingResult(output_prefix=job.output_prefix, evaluation=evaluation, duration_seconds=duration)

    def _environment(self, job: TrainingJob, model_dir: Path, output_dir: Path) -> dict[str, str]:
        for directory in (model_dir, output_dir):
            directory.mkdir()
        channels = {"train": job.train_key, "test": job.test_key}
        env = {
            **os.environ,
            "SM_MODEL_DIR": str(model_dir),
            "SM_OUTPUT_DATA_DIR": str(output_dir),
            "SM_HPS": json.dumps(job.hyperparameters),
            "PYTHONUNBUFFERED": "1",
            "SM_CHANNELS": json.dumps([name for name, key in channels.items() if key]),
        }
        for name, key in channels.items():
            if key:
                env[f"SM_CHANNEL_{name.upper()}"] = str(self.store.root / key)
        return env

    def _run(self, env: dict[str, str]) -> None:
        threading.Thread(target=_prewarm, daemon=True).start()
        process = subprocess.Popen(
            self.command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace"
        )
        stderr_tail: deque[str] = deque(maxlen=20)
        readers = [
            threading.Thread(target=self._pump, args=(process.stdout, self.progress), daemon=True),
            threading.Thread(target=self._pump, args=(process.stderr, stderr_tail.append), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            code = process.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise TrainingCrashed(f"training timed out after {self.timeout:g} s and was stopped") from None
        for reader in readers:
            reader.join(timeout=5)
        _raise_for_exit(code, list(stderr_tail))

    @staticmethod
    def _pump(stream: Any, sink: Callable[[str], object]) -> None:
        for line in stream:
            sink(line.rstrip("\n"))


def _prewarm() -> None:
    """This process only waits while the trainer runs: import what Verify and Publish need meanwhile, on the
    otherwise idle core, so they do not pay for scikit-learn's and skops' imports after training."""
    for module in ("mlops.report", "mlops.training.verify", "skops.io", "sklearn.pipeline", "sklearn.ensemble"):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


def _raise_for_exit(code: int, stderr_tail: list[str]) -> None:
    if code == 0:
        return
    detail = " | ".join(line for line in stderr_tail[-5:] if line.strip()) or "no error output"
    if code == NOT_RETRYABLE_EXIT:
        raise TrainingError(f"training failed (retrying would not help): {detail}")
    raise TrainingCrashed(f"training exited with code {code}: {detail}")


def _read_evaluation(output_dir: Path) -> dict[str, Any]:
    path = output_dir / "evaluation.json"
    if not path.is_file():
        raise TrainingCrashed("training finished but wrote no evaluation.json")
    return json.loads(path.read_text())
