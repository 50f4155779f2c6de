"""What the `mlops` command and its subcommands share: how they print, read a file argument, and exit.

A module of its own so that mlops.cli (the entry point) and mlops.cli_commands (the subcommands) both import
it rather than each other.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops.errors import UsageError

EXIT_FOR_STATUS = {"succeeded": 0, "failed": 1, "awaiting_operator": 3, "running": 1}


class ReaderGone(Exception):
    """Whoever read our stdout stopped reading (`mlops runs list | head`): there is no one left to tell."""


def emit(args: argparse.Namespace, data: Any, human: Callable[[], str]) -> None:
    """Print `data` as JSON with --json, else the human rendering."""
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str) if getattr(args, "json", False) else human()
    try:
        sys.stdout.write(text + "\n")  # one write, not print's two: unbuffered, a reader could leave in between
    except BrokenPipeError:  # raised here when stdout is unbuffered (PYTHONUNBUFFERED), else when it is flushed
        raise ReaderGone from None


def require_file(path: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"PATH: no such file '{path}'")
    return file
