"""Actions I/O: the files and workflow commands through which a step talks to the runner.

Outputs go to the file GITHUB_OUTPUT names, the job summary to GITHUB_STEP_SUMMARY, and annotations
(`::error::`, `::warning::`) and masks (`::add-mask::`) are workflow commands on stdout. actions-toolkit
provides the parts that are easy to get wrong: the escaping of command data and properties, and the
multi-line output format with a random heredoc delimiter. The rest is written here, because the toolkit's own
functions would add risk: `core.error()` prints every annotation property even when empty (`file=,line=,...`),
`core.set_output()` reads GITHUB_OUTPUT itself and falls back to the removed `::set-output` command,
`core.set_failed()` exits the process, and there is no job summary support at all. `actions_toolkit.core` also
imports requests for its OIDC client; the two modules used here import nothing but the standard library.

There is no input reading: a composite action hands its inputs to its step through `env:` (GITHUB_TOKEN,
MLOPS_BACKEND, ...), and the inputs of a workflow_dispatch arrive in the event payload.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from actions_toolkit.command import Command
from actions_toolkit.file_command import prepare_key_value_message


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
        _append(self.output_path, prepare_key_value_message(name, text) + "\n")

    def add_summary(self, markdown: str) -> None:
        """Append a block of Markdown to the job summary (the page every workflow run shows)."""
        if self.summary_path is None:
            self.log(markdown)
            return
        _append(self.summary_path, markdown.rstrip("\n") + "\n\n")

    def error(self, message: str, title: str | None = None) -> None:
        self._command("error", message, title)

    def warning(self, message: str, title: str | None = None) -> None:
        self._command("warning", message, title)

    def mask(self, secret: str) -> None:
        """From here on the runner shows `***` wherever `secret` would appear in the log."""
        if secret:
            self._command("add-mask", secret, None)

    def log(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def _command(self, name: str, message: str, title: str | None) -> None:
        properties = {"title": title} if title else {}
        self.log(str(Command(name, properties, message)))


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8", newline="") as handle:
        handle.write(text)
