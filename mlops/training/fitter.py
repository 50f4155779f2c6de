"""Training in a forked child while this process imports what comes after it.

Saving and verifying a scikit-learn model need skops, whose import (it lists every scikit-learn estimator, so
it imports all of them) takes longer than fitting a small model. So for a small job the fit and the evaluation
run in a child forked after scikit-learn is imported, while this process imports skops on the other core; the
child hands the outcome back, model included, pickled through a private pipe. The pickle never leaves this
process and its own child: it is not a file, and nothing else can write to that pipe.
"""

from __future__ import annotations

import importlib
import os
import pickle
import sys
from collections.abc import Callable, Sequence
from typing import Any

from mlops.errors import TrainingCrashed
from mlops.training.lifeline import fork_with_pipe

# Beyond this much training data, the model may be as big (a KNN keeps its training rows), and holding it
# twice for a moment to save a fraction of a second would be a bad trade; the fit is long then anyway.
MAX_FORKED_BYTES = 64 * 1024 * 1024


def fit_while_importing(fit: Callable[[], Any], modules: Sequence[str], data_bytes: int) -> Any:
    """`fit()`'s result, computed in a forked child while this process imports `modules` (in-process when
    fork is unavailable, the data is large, or the modules are imported already)."""
    if not hasattr(os, "fork") or data_bytes > MAX_FORKED_BYTES or all(m in sys.modules for m in modules):
        return fit()
    pid, pipe = fork_with_pipe(child_writes=True)
    if pid == 0:
        _fit_and_hand_back(fit, pipe)
    for module in modules:
        importlib.import_module(module)
    return _received(pipe, pid)


def _fit_and_hand_back(fit: Callable[[], Any], pipe: int) -> None:
    """The child: fit, send (True, result) or (False, the exception), and leave without the parent's exit
    handlers."""
    try:
        outcome: tuple[bool, Any] = (True, fit())
    except BaseException as exc:  # the parent raises it as its own
        outcome = (False, exc)
    try:
        with os.fdopen(pipe, "wb") as handle:
            pickle.dump(outcome, handle, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # an exception that cannot be pickled, say: the parent reports a crash
        print(f"[mlops] error could not hand the fitted model back: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _received(pipe: int, pid: int) -> Any:
    with os.fdopen(pipe, "rb") as handle:
        try:
            ok, result = pickle.load(handle)  # written by our own forked child: see the module's docstring
        except (EOFError, pickle.UnpicklingError):
            ok, result = False, None
    _, status = os.waitpid(pid, 0)
    if result is None and not ok:
        code = os.waitstatus_to_exitcode(status)
        raise TrainingCrashed(f"the training process ended without handing its model back (exit status {code})")
    if not ok:
        raise result
    return result
