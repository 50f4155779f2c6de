"""`python -m mlops.action start|comment|record|rollback`: what the composite action runs (docs/github-action.md).
MLOPS_BACKEND picks where runs execute: `local` (in this job) or `aws` (Step Functions; the job starts, answers
and records executions: mlops/action/aws_*.py).

Exit status 0, also for a pause, a duplicate delivery and an ignored comment; 1 for an invalid request, a run
that failed, or an error of the action itself. Errors a user can cause (MlopsError) become `::error::`
annotations, one per problem, never a traceback; anything else is a bug: one annotation, and the traceback in
the job's log for the maintainers.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from mlops.errors import MlopsError, UsageError
from mlops.github.actions_io import ActionsIO

MODES = ("start", "comment", "record", "rollback")
BACKENDS = ("local", "aws")


def main(argv: Sequence[str]) -> int:
    io = ActionsIO(None, None)
    try:
        mode = _mode(argv)
        from mlops.action.context import ActionContext

        ctx = ActionContext.from_env()
        io = ActionsIO(ctx.output_path, ctx.summary_path)
        io.mask(ctx.connection.token)
        if ctx.settings.backend not in BACKENDS:
            raise UsageError(
                f"MLOPS_BACKEND: '{ctx.settings.backend[:40]}' is not a backend; use local (the default, on a "
                "self-hosted runner) or aws (the pipeline on AWS Step Functions, docs/github-action.md)"
            )
        outcome = importlib.import_module(f"mlops.action.{mode}").run(ctx, io)
        outcome.write(io)
        return int(outcome.exit_code)
    except MlopsError as exc:
        for problem in exc.problems:
            io.error(problem, title="mlops")
        return 1
    except KeyboardInterrupt:  # the job was cancelled
        io.error("cancelled; a run that had started continues from its last finished step when resumed")
        return 1
    except Exception as exc:
        io.error(f"internal error: {type(exc).__name__}: {exc} (the traceback is below in the log; please report it)")
        io.log("".join(traceback.format_exception(exc)))
        return 1


def _mode(argv: Sequence[str]) -> str:
    if len(argv) != 1 or argv[0] not in MODES:
        raise UsageError(f"usage: python -m mlops.action {{{'|'.join(MODES)}}} (got: {' '.join(argv) or 'nothing'})")
    return argv[0]


def entry() -> None:
    """Run `main` and leave without tearing the interpreter down (every file is closed by then)."""
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    entry()
