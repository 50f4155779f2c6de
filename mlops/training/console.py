"""The entry point's stdout/stderr lines, in a fixed format that SageMaker metric definitions can match.

    [mlops] progress <step> <message>
    [mlops] metric <name>=<float>
    [mlops] warning <message>          (stderr)
    [mlops] error <message>            (stderr, one line)

A SageMaker metric definition for accuracy is then `\\[mlops\\] metric accuracy=([-+0-9.eE]+|nan|inf)`.
Every line is flushed at once so the logs show progress while training runs.
"""

from __future__ import annotations

import sys

PREFIX = "[mlops]"
WORKER_REPLY = f"{PREFIX} worker "  # the training worker's answer to a command (mlops.training.worker)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def format_float(value: float) -> str:
    """The shortest text that reads back as exactly `value` (e.g. 0.9666666666666667, 1e-05)."""
    return repr(float(value))


def progress(step: str, message: str) -> None:
    print(f"{PREFIX} progress {step} {_one_line(message)}", flush=True)


def metric(name: str, value: float) -> None:
    print(f"{PREFIX} metric {name}={format_float(value)}", flush=True)


def warning(message: str) -> None:
    print(f"{PREFIX} warning {_one_line(message)}", file=sys.stderr, flush=True)


def error(message: str) -> None:
    print(f"{PREFIX} error {_one_line(message)}", file=sys.stderr, flush=True)
