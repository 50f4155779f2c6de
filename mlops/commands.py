"""Operator commands written as issue comments: `/mlops <command> [key=value ...]`.

Only the first line that starts with `/mlops` counts, so a comment may explain itself around the command.
Values are read like every other user-written scalar (mlops.scalars: YAML 1.2's core schema, so `300` is an
int, `1e-3` and `0.1` floats, `null` None, `gini` and `yes` text) but are never parsed as YAML documents: no
nesting, no tags, no aliases.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from mlops.errors import InvalidRequest
from mlops.scalars import ScalarError, clip, read_scalar
from mlops.suggest import did_you_mean

COMMANDS = {
    "retrain": "train again with overrides, e.g. `/mlops retrain n_estimators=300 max_depth=12`",
    "abort": "end the paused run, e.g. `/mlops abort data needs cleaning`",
    "approve": "start a request awaiting approval (its author cannot write here); needs write access",
    "status": "show where the run is",
    "help": "list the commands",
}
MAX_COMMENT = 8192
KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")


@dataclass(frozen=True)
class Command:
    name: str
    overrides: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


def help_text() -> str:
    return "\n".join(f"- `/mlops {name}`: {text}" for name, text in COMMANDS.items())


def find_command_line(comment: str) -> str | None:
    """The first `/mlops ...` line of a comment, or None when the comment holds no command."""
    for line in comment[:MAX_COMMENT].splitlines():
        if line.strip().startswith("/mlops"):
            return line.strip()
    return None


def parse_command(comment: str) -> Command:
    """Parse a comment into a Command, or InvalidRequest that says what to write instead."""
    if len(comment) > MAX_COMMENT:
        raise InvalidRequest(f"command: the comment is longer than {MAX_COMMENT} characters")
    line = find_command_line(comment)
    if line is None:
        raise InvalidRequest("command: no `/mlops <command>` line found; try `/mlops help`")
    words = _split(line)[1:]
    if not words:
        raise InvalidRequest(f"command: say what to do after /mlops; the commands are:\n{help_text()}")
    name, args = words[0].lower(), words[1:]
    if name not in COMMANDS:
        raise InvalidRequest(f"command: unknown command '{clip(name)}'{did_you_mean(name, COMMANDS)}")
    if name == "retrain":
        return Command(name, overrides=parse_assignments(args))
    return Command(name, reason=" ".join(args)[:500])


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise InvalidRequest(f"command: cannot read '{clip(line)}': {exc}") from None


def parse_assignments(args: list[str]) -> dict[str, Any]:
    """`['n_estimators=300', 'criterion=gini']` -> `{'n_estimators': 300, 'criterion': 'gini'}`."""
    overrides: dict[str, Any] = {}
    problems = [problem for arg in args if (problem := _assign(overrides, arg)) is not None]
    if problems:
        raise InvalidRequest("the retrain command has problems", problems)
    if not overrides:
        raise InvalidRequest("retrain: say what to change, e.g. `/mlops retrain n_estimators=300`")
    return overrides


def _assign(overrides: dict[str, Any], arg: str) -> str | None:
    """Add one `key=value` to `overrides`, or say what is wrong with it."""
    key, sep, text = arg.partition("=")
    if not sep or not KEY.match(key):
        return f"{clip(arg, 40)}: write overrides as key=value, e.g. n_estimators=300"
    if key in overrides:
        return f"{key}: given twice"
    try:
        overrides[key] = read_scalar(text)
    except ScalarError as exc:
        return f"{key}: {exc}"
    return None
