"""Plots rendered beside the training, by a child forked as the job starts.

The child imports matplotlib on the other core while the model trains, then renders the figures it is handed
through a private pipe (as JSON: they are plain data) and leaves. Where fork is not available, the figures are
rendered in this process instead.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from mlops.training import console, plots
from mlops.training.lifeline import fork_with_pipe
from mlops.training.plots import Figure


class Plotter:
    def __init__(self, pid: int | None = None, pipe: int | None = None) -> None:
        self._pid, self._pipe = pid, pipe

    @classmethod
    def start(cls) -> Plotter:
        if not hasattr(os, "fork"):
            return cls()
        pid, pipe = fork_with_pipe(child_writes=False)
        if pid == 0:
            _serve(pipe)
        return cls(pid, pipe)

    def draw(self, figures: Sequence[Figure], plots_dir: Path) -> None:
        """Hand the figures to the child (or render them now, without one); `finish` waits for them."""
        if self._pipe is None:
            plots.render(figures, plots_dir)
            return
        message = {"plots_dir": str(plots_dir), "figures": [asdict(figure) for figure in figures]}
        pipe, self._pipe = os.fdopen(self._pipe, "wb"), None
        try:
            with pipe:
                pipe.write(json.dumps(message).encode())
        except BrokenPipeError:
            pass  # the child is gone (no matplotlib, say): `finish` reports it

    def finish(self) -> None:
        """Wait for the child; nothing is drawn if `draw` was never called (training failed, say)."""
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if self._pid is not None:
            _, status = os.waitpid(self._pid, 0)
            self._pid = None
            if os.waitstatus_to_exitcode(status) != 0:
                console.warning("plots were not drawn; the model and its evaluation are complete")


def _serve(pipe: int) -> None:
    """The child: import matplotlib, render what arrives, and leave without the parent's exit handlers."""
    code = 0
    try:
        if plots.pyplot() is not None:  # the import is the point: it happens while the parent trains
            with os.fdopen(pipe, "rb") as handle:
                payload = handle.read()
            if payload:
                message = json.loads(payload)
                plots.render([Figure(**figure) for figure in message["figures"]], Path(message["plots_dir"]))
    except BaseException as exc:  # reported by the parent through the exit code
        console.warning(f"plots failed: {type(exc).__name__}: {exc}")
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
