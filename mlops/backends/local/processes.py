"""The training runtime's processes, as the local engine drives them.

`TrainingWorker` is `python -m mlops.training.worker`: started as early as possible, it trains once and then
verifies the registered model with the libraries it already imported. `run_once` runs any other script-mode
command (MLOPS_TRAIN_COMMAND) to completion. Both merge the child's stderr into its stdout, so progress, warnings
and errors arrive in the order they were written.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mlops.training.console import WORKER_REPLY as REPLY

WORKER_COMMAND = (sys.executable, "-m", "mlops.training.worker")
Sink = Callable[[str], None]


@dataclass(frozen=True)
class Finished:
    """How a training command ended: its exit status and the last lines that were not progress or metrics."""

    code: int
    tail: list[str]


class TimedOut(Exception):
    """The child did not answer within its timeout (it has been killed)."""


class TrainingWorker:
    def __init__(self, command: Sequence[str] = WORKER_COMMAND) -> None:
        self.process = _start(command, {**os.environ, "PYTHONUNBUFFERED": "1"}, stdin=True)
        self.output = _Output(self.process)

    def train(self, environment: dict[str, str], timeout: float, sink: Sink) -> Finished:
        reply = self._ask({"op": "train", "environment": environment}, timeout, sink)
        return Finished(reply["exit"] if reply else self._exit_code(), self.output.tail)

    def verify(self, model_dir: Path, timeout: float) -> tuple[bool, str]:
        reply = self._ask({"op": "verify", "model_dir": str(model_dir)}, timeout, lambda line: None)
        if reply is None:
            detail = " | ".join(self.output.tail[-3:]) or "no output"
            return False, f"the verifying process died (exit code {self._exit_code()}): {detail}"
        return bool(reply["ok"]), str(reply["detail"])

    def close(self) -> None:
        """The engine is done with this worker: whatever it is doing is no longer wanted."""
        _stop(self.process)

    def _ask(self, command: dict[str, Any], timeout: float, sink: Sink) -> dict[str, Any] | None:
        """Send one command; the worker's reply, or None when it died first."""
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps(command) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # it died: the output ends without a reply, and the exit code says how
        for line in self.output.lines(time.monotonic() + timeout, self.process):
            if line.startswith(REPLY):
                reply: dict[str, Any] = json.loads(line[len(REPLY) :])
                if reply.get("op") == "error":
                    raise RuntimeError(reply.get("detail"))
                return reply
            sink(line)
        return None

    def _exit_code(self) -> int:
        return self.process.wait()


def run_once(command: Sequence[str], environment: dict[str, str], timeout: float, sink: Sink) -> Finished:
    """Run a script-mode command with `environment` added to ours, to completion or its timeout; on Linux it is
    killed if the engine dies (through mlops.training.lifeline)."""
    if sys.platform.startswith("linux"):
        command = [sys.executable, "-m", "mlops.training.lifeline", *command]
    process = _start(command, {**os.environ, "PYTHONUNBUFFERED": "1", **environment}, stdin=False)
    output = _Output(process)
    for line in output.lines(time.monotonic() + timeout, process):
        sink(line)
    return Finished(process.wait(), output.tail)


class _Output:
    """A child's output read by a thread, so the engine can wait for it with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._tail: deque[str] = deque(maxlen=20)
        threading.Thread(target=self._pump, args=(process.stdout,), daemon=True).start()

    @property
    def tail(self) -> list[str]:
        return list(self._tail)

    def lines(self, deadline: float, process: subprocess.Popen[str]) -> Any:
        """The lines as they come, until the output ends; kills `process` and raises TimedOut at `deadline`."""
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                _stop(process)
                raise TimedOut() from None
            if line is None:
                return
            if not line.startswith(("[mlops] progress", "[mlops] metric", REPLY)) and line.strip():
                self._tail.append(line)
            yield line

    def _pump(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)


def _start(command: Sequence[str], env: dict[str, str], *, stdin: bool) -> subprocess.Popen[str]:
    return subprocess.Popen(
        list(command),
        env=env,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )


def _stop(process: subprocess.Popen[str]) -> None:
    if process.stdin is not None:
        with contextlib.suppress(OSError):  # it is gone already
            process.stdin.close()
    if process.poll() is None:
        process.kill()
    process.wait()
