"""Notifier port, locally: a line on the console and an append-only notifications log under MLOPS_HOME, both
plain text (the message is written as GitHub Markdown)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from mlops.pipeline.models import RunState, utcnow
from mlops.report.markdown import plain_text


class ConsoleNotifier:
    def __init__(self, log_path: Path, stream: TextIO | None = None) -> None:
        self.log_path = log_path
        self.stream = stream

    def notify(self, run: RunState, message: str) -> None:
        message = plain_text(message)  # the summary is GitHub Markdown; a console and a log show it as text
        if self.stream is not None:
            print(
                f"[mlops] {run.training_id}: {message.splitlines()[0] if message else ''}", file=self.stream
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        entry = {
            "at": utcnow().isoformat(),
            "training_id": run.training_id,
            "status": run.status,
            "message": message,
        }
        with self.log_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

