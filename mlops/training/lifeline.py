"""Processes of a training that must not outlive the process that started them.

`python -m mlops.training.lifeline COMMAND [ARG ...]` runs a command of your own (MLOPS_TRAIN_COMMAND) the same
way: Linux keeps the request to kill it with its parent across the exec.
"""

from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def fork_with_pipe(child_writes: bool) -> tuple[int, int]:
    """`os.fork()` with a pipe between the two processes: (the pid, or 0 in the child; this side's end).

    Buffered output is flushed first, so that neither process writes it twice, and the child dies with its
    parent: a training that is stopped takes its helpers with it."""
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    child_end, parent_end = (write_end, read_end) if child_writes else (read_end, write_end)
    os.close(parent_end if pid == 0 else child_end)
    if pid == 0:
        die_with_parent()
        return 0, child_end
    return pid, parent_end


if __name__ == "__main__":
    die_with_parent()
    os.execvp(sys.argv[1], sys.argv[1:])
