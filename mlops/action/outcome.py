"""What one invocation of the action ends with: its outputs (GITHUB_OUTPUT) and its exit status."""

from __future__ import annotations

from dataclasses import dataclass

from mlops.github.actions_io import ActionsIO

# The `status` output: what became of the request or the run, as far as this invocation saw it.
STATUSES = ("invalid", "awaiting_approval", "started", "awaiting_operator", "succeeded", "failed", "ignored")


@dataclass(frozen=True)
class Outcome:
    status: str
    training_id: str | None = None
    model_id: str | None = None
    model_version: str | None = None
    execution_arn: str | None = None  # backend aws: the request's Step Functions execution
    # A `/mlops status` answer: `status` describes the run asked about; answering it fails nothing.
    answers_query: bool = False

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown action status {self.status!r}")

    @property
    def exit_code(self) -> int:
        """1 for an invalid request and a run that failed in this invocation; 0 otherwise (a pause, an ignored
        event and a status query about a failed run included)."""
        return 1 if self.status in ("invalid", "failed") and not self.answers_query else 0

    def write(self, io: ActionsIO) -> None:
        io.set_output("training-id", self.training_id)
        io.set_output("status", self.status)
        io.set_output("model-id", self.model_id)
        io.set_output("model-version", self.model_version)
        io.set_output("execution-arn", self.execution_arn)
