"""The ports: what the agents need from the world, each a small Protocol with a local and an AWS implementation.

Registry *logic* (semantic versions, promotion, rollback, retention) lives in mlops/registry.py; a registry
backend only stores and fetches records.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from mlops.pipeline.models import RunState, TrainingJob, TrainingOutcome


@dataclass(frozen=True)
class StoredObject:
    """What the store knows of an object without reading it for the caller (S3: HeadObject's size and its
    SHA-256 checksum)."""

    key: str
    size: int
    sha256: str


class ArtifactStore(Protocol):
    """Objects under keys laid out as in S3 (`datasets/<id>/train/...`, `models/<model_id>/<version>/...`)."""

    def put_file(self, key: str, source: Path) -> None: ...
    def put_bytes(self, key: str, data: bytes) -> None: ...
    def put_tree(self, prefix: str, source_dir: Path) -> list[str]: ...
    def get_bytes(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def head(self, key: str) -> StoredObject: ...
    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """The object as a stream (S3: GetObject's body), for reading large objects without holding them."""
        ...

    def list(self, prefix: str) -> list[str]: ...
    def delete_prefix(self, prefix: str) -> None: ...
    def uri(self, key: str) -> str:
        """How a training job addresses `key` (`s3://bucket/key` on S3)."""
        ...

    def local_path(self, prefix: str) -> AbstractContextManager[Path]:
        """A local directory holding the objects under `prefix` (the directory itself locally; a download on S3)."""
        ...


class RegistryBackend(Protocol):
    """Stores model version records (plain dicts) and which version of a model is current."""

    def insert(self, record: dict[str, Any]) -> None: ...
    def versions(self, model_id: str) -> list[dict[str, Any]]: ...
    def find_by_training(self, training_id: str) -> dict[str, Any] | None: ...
    def set_current(self, model_id: str, version: str | None) -> None: ...
    def current(self, model_id: str) -> str | None: ...
    def update(self, model_id: str, version: str, fields: dict[str, Any]) -> None: ...
    def delete(self, model_id: str, version: str) -> None: ...
    def models(self) -> list[str]: ...
    def locked(self, model_id: str) -> AbstractContextManager[None]:
        """Hold while choosing and inserting a version, so concurrent runs get distinct versions."""
        ...


class RunStore(Protocol):
    """Run documents with the state each run is at; one checkpoint per finished step."""

    def create(self, run: RunState, next_state: str) -> None: ...
    def checkpoint(self, run: RunState, next_state: str | None) -> None: ...
    def load(self, training_id: str) -> tuple[RunState, str | None]: ...
    def runs(self) -> Iterator[RunState]: ...
    def outline(self) -> list[tuple[str, bool]]:
        """(training_id, whether the run has ended) of every run, oldest first."""
        ...

    def claim(self, training_id: str) -> None:
        """Mark the calling process as the one executing the run; refuse while another live one holds it."""
        ...

    def release(self, training_id: str) -> None: ...


class Notifier(Protocol):
    def notify(self, run: RunState, message: str) -> None: ...


class Trainer(Protocol):
    """The training runtime (where the ML libraries are): trains, and verifies what was registered."""

    def train(self, job: TrainingJob, name: str, timeout: float) -> TrainingOutcome:
        """One try of the script-mode entry point, as the job `name`, stopped after `timeout` seconds. Any
        exception is a failed job (States.TaskFailed to the flow)."""
        ...

    def verify(self, artifact_key: str) -> tuple[bool, str]:
        """(ok, detail): does the model stored under `artifact_key` load and reproduce its recorded holdout?"""
        ...

    def close(self) -> None:
        """Let go of whatever the trainer keeps between steps (a warm process, say)."""
        ...
