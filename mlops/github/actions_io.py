"""Actions I/O: the files and workflow commands through which a step talks to the runner.

Outputs go to the file GITHUB_OUTPUT names (the multi-line form, `name<<DELIMITER`, with a random delimiter),
the job summary to GITHUB_STEP_SUMMARY, and annotations (`::error::`, `::warning::`) and masks (`::add-mask::`)
are workflow commands on stdout, escaped as GitHub's own toolkit (@actions/core) escapes them.

Written here rather than over the Python `actions-toolkit` package (0.1.15), which was tried and dropped: its
wheel installs a top-level `tests` package into site-packages, which shadows the `tests` package of whatever
project installs it (it broke this test suite's imports); beyond that it would have added only risk: `error()`
prints every annotation property even when empty (`file=,line=,...`), `set_output()` falls back to the removed
`::set-output` command when GITHUB_OUTPUT is unset, `set_failed()` exits the process, its core module imports
requests, and it has no job summary support. What it did well, the escaping and the heredoc format, is the
ten lines below.

There is no input reading: a composite action hands its inputs to its step through `env:` (GITHUB_TOKEN,
MLOPS_BACKEND, ...), and the inputs of a workflow_dispatch arrive in the event payload.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import TextIO


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(name: str, message: str, properties: dict[str, str] | None = None) -> str:
    """`::name key=value,...::message`, one line whatever `message` holds."""
    listed = ",".join(f"{key}={escape_property(value)}" for key, value in (properties or {}).items())
    return f"::{name}{' ' + listed if listed else ''}::{escape_data(message)}"


def output_entry(name: str, value: str) -> str:
    """One output in GITHUB_OUTPUT's multi-line form, safe for any value."""
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    if delimiter in name or delimiter in value:  # cannot happen by chance; refuse rather than corrupt the file
        raise ValueError(f"output {name}: holds its own delimiter")
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


class ActionsIO:
    """Writes to the files a step was given; without them (outside Actions) outputs and summaries are logged."""

    def __init__(self, output_path: Path | None, summary_path: Path | None, stream: TextIO | None = None) -> None:
        self.output_path, self.summary_path = output_path, summary_path
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stdout

    def set_output(self, name: str, value: str | None) -> None:
        text = value or ""
        if self.output_path is None:
            self.log(f"output {name}={text}")
            return
        _append(self.output_path, output_entry(name, text))

    def add_summary(self, markdown: str) -> None:
        """Append a block of Markdown to the job summary (the page every workflow run shows)."""
        if self.summary_path is None:
            self.log(markdown)
            return
        _append(self.summary_path, markdown.rstrip("\n") + "\n\n")

    def error(self, message: str, title: str | None = None) -> None:
        self.log(workflow_command("error", message, {"title": title} if title else None))

    def warning(self, message: str, title: str | None = None) -> None:
        self.log(workflow_command("warning", message, {"title": title} if title else None))

    def mask(self, secret: str) -> None:
        """From here on the runner shows `***` wherever `secret` would appear in the log."""
        if secret:
            self.log(workflow_command("add-mask", secret))

    def log(self, line: str) -> None:
        print(line, file=self.stream, flush=True)


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8", newline="") as handle:
        handle.write(text)
