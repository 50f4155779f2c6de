"""The `mlops` command: the whole pipeline on one machine, and the admin commands.

Exit codes: 0 succeeded, 1 failed, 2 invalid request or usage, 3 awaiting an operator.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mlops.cli_common import ReaderGone
from mlops.errors import MlopsError
from mlops.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]

EPILOG = """\
exit codes: 0 succeeded, 1 failed, 2 invalid request or usage, 3 awaiting an operator

examples:
  mlops validate mlops/examples/iris-issue.md
  mlops run mlops/examples/iris-request.yml
  mlops resume train-20250110-123456-1a2b "/mlops retrain n_estimators=300"
  mlops models list iris-classifier
  mlops rollback iris-classifier --reason "v1.1.0 misbehaves in production"
  mlops history verify

settings (environment): MLOPS_HOME (default .mlops), MLOPS_HISTORY_DIR (default training_history),
MLOPS_REPORT_LANG (ja|en), MLOPS_KEEP_VERSIONS (>= 5), MLOPS_KEEP_RUNS (training outputs kept, default 20),
MLOPS_TRAIN_TIMEOUT (seconds, default 3600), MLOPS_RETRY_DELAY (first back-off after a training crash,
default 2 s), MLOPS_TRAIN_COMMAND, MLOPS_BACKEND (local), MLOPS_SLACK_WEBHOOK_URL (also notify a Slack channel)
"""


TRAINING_COMMANDS = ("run", "resume")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    settings = _settings()
    standby = _start_training_worker(argv, settings)
    try:
        return _main(argv, settings, standby)
    finally:
        if standby is not None:
            standby.close()  # a no-op once the run took it; it leaves with us otherwise


def _settings() -> Settings | MlopsError:
    """The settings, or what is wrong with them (reported once the command line is parsed, in its format)."""
    try:
        return Settings.from_env()
    except MlopsError as exc:
        return exc


def _start_training_worker(argv: list[str], settings: Settings | MlopsError) -> Any:
    """For the commands that may train, the training runtime boots now, on the other core, while this process
    imports the pipeline and validates the request; the run takes it when it reaches Train."""
    if not argv or argv[0] not in TRAINING_COMMANDS or {"-h", "--help"} & set(argv):
        return None
    if not isinstance(settings, Settings) or settings.backend != "local" or settings.train_command:
        return None
    from mlops.backends.local.processes import TrainingWorker

    return TrainingWorker()


def _main(argv: list[str], settings: Settings | MlopsError, standby: Any) -> int:
    args = build_parser().parse_args(argv)
    args.training_worker = standby
    try:
        if isinstance(settings, MlopsError):
            raise settings
        return int(args.handler(args, settings))
    except MlopsError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        if getattr(args, "json", False):  # machines get the problems too, in the shape they asked for
            print(json.dumps({"error": type(exc).__name__, "problems": exc.problems}, ensure_ascii=False))
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "interrupted; `mlops runs list` shows the run, and `mlops resume <training_id>` continues it from its "
            "last finished step",
            file=sys.stderr,
        )
        return 130
    except ReaderGone:
        return 1  # as when the output cannot be flushed at the end (see entry)
    except Exception as exc:  # a bug: one line for the user, the traceback kept for the maintainers
        return _internal_error(exc)


def _internal_error(exc: Exception) -> int:
    path = Path(os.environ.get("MLOPS_HOME") or ".mlops") / "logs" / "cli-error.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(traceback.format_exception(exc)))
        where = f"traceback saved to {path}"
    except OSError:
        where = "the traceback could not be saved"
    print(f"internal error: {type(exc).__name__}: {exc} ({where}; please report it)", file=sys.stderr)
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops",
        description="GitHub-Issue-driven MLOps: train, evaluate, gate, register, report, roll back.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=lambda args, settings: _usage(parser))
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    # Imported only now: the training worker of `run` is already starting, and pydantic and the request
    # model the subcommands bring in load meanwhile.
    from mlops.cli_commands import register_commands

    register_commands(commands)
    return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def entry() -> None:
    """The `mlops` console script: `main`, then leave without tearing the interpreter down.

    Every file is written and closed and every SQLite transaction committed by the time `main` returns; what is
    left is freeing every module and object one by one, which a short command would notice.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # the reader went away (`mlops runs list | head`): nothing to flush to
        code = code or 1
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    entry()
