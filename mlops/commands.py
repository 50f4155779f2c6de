"""Operator commands written as issue comments: `/mlops <command> [key=value ...]`.

Only the first line that starts with `/mlops` counts, so a comment may explain itself around the command.
Values follow YAML's scalar rules (`300` is an int, `0.1` a float, `null` None, `gini` a string) but are never
parsed as YAML documents: no nesting, no tags, no aliases.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import yaml

from mlops.errors import InvalidRequest
from mlops.suggest import did_you_mean

COMMANDS = {
    "retrain": "train again with overrides, e.g. `/mlops retrain n_estimators=300 max_depth=12`",
    "abort": "end the paused run, e.g. `/mlops abort data needs cleaning`",
    "approve": "start a request that waits for approval (its author cannot write to the repository)",
    "status": "show where the run is",
    "help": "list the commands",
}
MAX_COMMENT = 8192
KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")
# YAML 1.1 reads `1e-3` (no dot) as a string; users mean a number.
EXPONENT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


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
        raise InvalidRequest(f"command: unknown command '{name}'{did_you_mean(name, COMMANDS)}")
    if name == "retrain":
        return Command(name, overrides=parse_assignments(args))
    return Command(name, reason=" ".join(args)[:500])


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise InvalidRequest(f"command: cannot read '{line[:80]}': {exc}") from None


def parse_assignments(args: list[str]) -> dict[str, Any]:
    """`['n_estimators=300', 'criterion=gini']` -> `{'n_estimators': 300, 'criterion': 'gini'}`."""
    overrides: dict[str, Any] = {}
    problems = []
    for arg in args:
        key, sep, text = arg.partition("=")
        if not sep or not KEY.match(key):
            problems.append(f"{arg[:40]}: write overrides as key=value, e.g. n_estimators=300")
        elif key in overrides:
            problems.append(f"{key}: given twice")
        else:
            overrides[key] = scalar(text)
    if problems:
        raise InvalidRequest("the retrain command has problems", problems)
    if not overrides:
        raise InvalidRequest("retrain: say what to change, e.g. `/mlops retrain n_estimators=300`")
    return overrides


def scalar(text: str) -> Any:
    """A value by YAML's scalar rules, without ever building a YAML document from user text."""
    node = yaml.ScalarNode("tag:yaml.org,2002:str", text)
    tag = yaml.resolver.Resolver().resolve(yaml.ScalarNode, text, (True, False))
    if tag in (
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
    ):
        node.tag = tag
        return yaml.SafeLoader("").construct_object(node)
    return float(text) if EXPONENT.match(text) else text
