"""The ports: what the agents need from the world, each a small Protocol with a local and an AWS implementation.

Registry *logic* (semantic versions, promotion, rollback, retention) lives in mlops/registry.py: its one
`ModelRegistry` (the `Registry` port) works over any `RegistryBackend`, which only stores and fetches records.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from mlops.pipeline.models import ModelRef, RunState, TrainingJob, TrainingOutcome


class ObjectFacts(Protocol):
    """What a store knows of an object without reading it for the caller (S3: HeadObject)."""

    @property
    def key(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def sha256(self) -> str | None:
        """Hex SHA-256 of the content, when the store knows it (S3: for objects this project wrote)."""
        ...


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str | None


class ArtifactStore(Protocol):
    """Objects under keys laid out as in S3 (`datasets/<id>/train/...`, `models/<model_id>/<version>/...`)."""

    # Where the objects are on this machine (locally, the store itself). PrepareData writes bundled datasets
    # under `root/datasets/`; an S3 store will need a scratch root and an upload of what is written there.
    root: Path

    def put_file(self, key: str, source: Path) -> None: ...
    def put_bytes(self, key: str, data: bytes) -> None: ...
    def put_tree(self, prefix: str, source_dir: Path) -> list[str]: ...
    def get_bytes(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def head(self, key: str) -> ObjectFacts: ...
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


class Registry(Protocol):
    """The registry as the agents and the commands use it (mlops.registry.ModelRegistry holds its rules)."""

    def register(
        self,
        *,
        model_id: str,
        training_id: str,
        algorithm: str,
        learning_type: str,
        task: str | None,
        hyperparameters: dict[str, Any],
        metrics: dict[str, Any],
        metric: str,
        data_digest: str,
        issue: dict[str, Any],
        source_dir: Path,
        explicit_version: str | None = None,
    ) -> tuple[ModelRef, str | None]:
        """Register the model in `source_dir` as a new version and make it current; idempotent per training
        id. Returns the version and the one that was current before."""
        ...

    def register_training_output(self, *, output_key: str, **fields: Any) -> tuple[ModelRef, str | None]:
        """`register` what a training job stored under `output_key` (its model.tar.gz and output.tar.gz)."""
        ...

    def mark_verified(self, model_id: str, version: str) -> None: ...
    def rollback(
        self, model_id: str, to: str | None = None, *, actor: str, reason: str, automatic: bool = False
    ) -> dict[str, Any]:
        """Make `to` (default: the previous version) current; returns the rollback record."""
        ...

    def current(self, model_id: str) -> str | None: ...
    def versions(self, model_id: str) -> list[dict[str, Any]]: ...
    def show(self, model_id: str, version: str | None = None) -> dict[str, Any]: ...
    def models(self) -> list[dict[str, Any]]: ...


class History(Protocol):
    """The append-only, hash-chained record of runs and rollbacks (mlops.history.HistoryLog)."""

    def report_location(self, training_id: str) -> str:
        """Where `record_training` puts the run's report."""
        ...

    def record_training(
        self, run: RunState, markdown: str, plots: Mapping[str, Path | bytes] | None = None
    ) -> Path: ...
    def record_rollback(self, rollback: Mapping[str, Any], lang: str = "ja") -> Path: ...


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
