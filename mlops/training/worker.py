"""`python -m mlops.training.worker`: the training runtime of one local run, started early and kept warm.

The local engine starts it the moment `mlops run` starts, so this interpreter boots while the request is still
being validated, and keeps it after training so that Verify reloads the registered model with libraries that are
already imported. Commands arrive one JSON object per line on stdin:

    {"op": "train", "environment": {"SM_MODEL_DIR": "...", ...}}   the script-mode entry point, once
    {"op": "verify", "model_dir": "..."}                            reload a saved model, re-check its holdout

Each is answered by one line on stdout, after the command's own output (the entry point's progress lines):

    [mlops] worker {"op": "train", "exit": 0}
    [mlops] worker {"op": "verify", "ok": true, "detail": "..."}

The worker leaves when stdin closes. On Linux it is also killed when the engine dies, so a `kill -9` of
`mlops run` leaves no training behind.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import select
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from mlops.training import entrypoint
from mlops.training.console import WORKER_REPLY
from mlops.training.lifeline import die_with_parent

# What every scikit-learn training imports, in the order it does, loaded while the engine is still preparing the
# run. Loading stops at the first command, so a training that needs none of it (reinforcement learning) waits
# at most for the one module being imported then.
PRELOAD = ("scipy.sparse", "scipy.special", "scipy.linalg", "scipy.optimize", "scipy.stats", "sklearn.base")


# Importing scikit-learn creates some hundred thousand objects, none of them garbage: a young-generation
# collection every 2000 of them (the default) is wasted work on the path every run waits for.
GC_THRESHOLD = (50_000, 50, 50)


def main(commands: TextIO = sys.stdin) -> None:
    # Ctrl-C reaches the whole process group; the engine decides what it means and then closes our stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.set_threshold(*GC_THRESHOLD)
    die_with_parent()
    _preload_until_a_command(commands)
    for line in commands:
        if line.strip():
            _reply(_handle(line))
    _leave()


def _handle(line: str) -> dict[str, Any]:
    try:
        command = json.loads(line)
        return {"op": command["op"], **_HANDLERS[command["op"]](command)}
    except (ValueError, KeyError, TypeError) as exc:  # the engine and the worker disagree: say so, never hang
        return {"op": "error", "detail": f"bad worker command {line.strip()[:200]!r}: {type(exc).__name__}: {exc}"}


def _train(command: dict[str, Any]) -> dict[str, Any]:
    return {"exit": entrypoint.main(dict(command["environment"]))}


def _verify(command: dict[str, Any]) -> dict[str, Any]:
    from mlops.training.verify import verify_model

    ok, detail = verify_model(Path(command["model_dir"]))
    return {"ok": ok, "detail": detail}


_HANDLERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"train": _train, "verify": _verify}


def _preload_until_a_command(commands: TextIO) -> None:
    for module in PRELOAD:
        if _command_waiting(commands):
            return
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


def _command_waiting(commands: TextIO) -> bool:
    try:
        return bool(select.select([commands], [], [], 0)[0])
    except (OSError, ValueError):  # not something select can watch (Windows pipes): do not hold a command up
        return True


def _reply(reply: dict[str, Any]) -> None:
    sys.stderr.flush()  # the command's own output first: the engine reads one stream
    print(WORKER_REPLY + json.dumps(reply, ensure_ascii=False), flush=True)


def _leave() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # nothing is open or unwritten; skip the interpreter's slow teardown


if __name__ == "__main__":
    main()
