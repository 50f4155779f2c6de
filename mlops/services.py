"""The composition root: the one place that picks a backend and wires the ports from resolved settings."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from mlops.errors import UsageError
from mlops.pipeline.agents import Ports
from mlops.pipeline.models import RunState
from mlops.pipeline.runner import LocalRunner
from mlops.ports import Notifier, RunStore
from mlops.scalars import shown
from mlops.settings import Settings

if TYPE_CHECKING:
    from mlops.backends.local.processes import TrainingWorker


BACKENDS = ("local", "aws")


@dataclass
class Services:
    ports: Ports
    runs: RunStore
    runner: LocalRunner

    def close(self) -> None:
        self.ports.trainer.close()

    def tidy(self) -> list[str]:
        """Drop the training outputs of old runs that have ended (mlops/backends/local/housekeeping.py)."""
        from mlops.backends.local.housekeeping import prune_run_outputs

        return prune_run_outputs(self.runs, self.ports.store, self.ports.settings.keep_runs)


def build_services(
    settings: Settings,
    progress: Callable[[str], None] | None = None,
    on_step: Callable[[str, RunState], None] | None = None,
    *,
    writes_history: bool = False,
    standby: TrainingWorker | None = None,
    read_only: bool = False,
) -> Services:
    """The local engine's services. `writes_history` checks the history directory up front, for the commands
    that write it (run, resume, rollback). `read_only` is for the commands that only look (status, runs,
    models): they create nothing, and an MLOPS_HOME without a database reads as one with no runs and no models.
    `standby` is a training worker started before the services, to be used for the first training."""
    if settings.backend == "aws":
        return _aws(settings, read_only)
    _check_backend(settings)
    if read_only and not settings.db_path.exists():  # nothing to read yet; looking must not create it
        if settings.home.exists() and not settings.home.is_dir():
            raise UsageError(f"MLOPS_HOME: {shown(str(settings.home))} is not a directory")
        return _local(settings, lambda line: None, lambda state, run: None, None, _NothingYet(settings.home))
    _check_writable_directory(settings.home, "MLOPS_HOME")
    if writes_history:
        _check_writable_directory(settings.history_dir, "MLOPS_HISTORY_DIR")
    return _local(settings, progress or (lambda line: None), on_step or (lambda state, run: None), standby)


def _check_backend(settings: Settings) -> None:
    if settings.backend not in BACKENDS:
        raise UsageError(f"MLOPS_BACKEND: {shown(settings.backend)} is not a backend; use one of {', '.join(BACKENDS)}")


def _aws(settings: Settings, read_only: bool) -> Services:
    """On AWS the state machine runs the runs: this process only looks at them (mlops runs / status / models)."""
    if not read_only:
        raise UsageError(
            "MLOPS_BACKEND: 'aws' runs are started, resumed and rolled back by the GitHub action (backend: aws), "
            "not from this command; with aws, the CLI can show runs, status and models"
        )
    from mlops.backends.aws.clients import AwsClients
    from mlops.backends.aws.wiring import FOR_READING, aws_ports, require, run_store

    require(settings.aws, FOR_READING)
    clients = AwsClients(settings.aws)
    ports, runs = aws_ports(settings, clients, read_only=True), run_store(settings, clients)
    return Services(ports, runs, LocalRunner(ports, runs))


def _check_writable_directory(directory: Path, variable: str) -> None:
    """Found unusable before a run starts, not after it trained and registered a model it cannot report."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{variable}: cannot use {shown(str(directory))} as a directory ({exc.strerror})") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"{variable}: {shown(str(directory))} is not writable")


def _local(
    settings: Settings,
    progress: Callable[[str], None],
    on_step: Callable[[str, RunState], None],
    standby: TrainingWorker | None,
    empty: _NothingYet | None = None,
) -> Services:
    """The local backends; with `empty`, a registry and run store that have nothing in them yet."""
    from mlops.backends.local.runs_db import SqliteRunStore

    ports = build_ports(settings, progress, standby, empty)
    runs: RunStore = empty or SqliteRunStore(settings.db_path)
    return Services(ports, runs, LocalRunner(ports, runs, on_step=on_step))


def build_ports(
    settings: Settings,
    progress: Callable[[str], None] = lambda line: None,
    standby: TrainingWorker | None = None,
    empty: _NothingYet | None = None,
) -> Ports:
    """What the agents work with: for the local runner, and (MLOPS_BACKEND=aws) for the Lambda handlers
    (mlops/handlers.py), where the settings MLOPS_BUCKET, MLOPS_RUN_TABLE... must all be set."""
    if settings.backend == "aws":
        from mlops.backends.aws.wiring import aws_ports

        return aws_ports(settings)
    _check_backend(settings)
    from mlops.backends.local.registry_db import SqliteRegistryBackend
    from mlops.backends.local.store import LocalArtifactStore
    from mlops.backends.local.trainer import LocalTrainer
    from mlops.history import HistoryLog
    from mlops.registry import ModelRegistry

    store = LocalArtifactStore(settings.store_dir)
    return Ports(
        settings=settings,
        store=store,
        registry=ModelRegistry(empty or SqliteRegistryBackend(settings.db_path), store, keep=settings.keep_versions),
        trainer=LocalTrainer(
            store, command=settings.train_command, timeout=settings.train_timeout, progress=progress, standby=standby
        ),
        history=HistoryLog(settings.history_dir),
        notifier=_notifier(settings),
    )


class _NothingYet:
    """The registry and run store of an MLOPS_HOME that has no database yet, as the read-only commands see it:
    no runs, no models, and nothing created by looking. Writing through it is a bug in the caller."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def load(self, training_id: str) -> NoReturn:
        raise UsageError(
            f"training_id: no run {shown(training_id)}; no run has been started with MLOPS_HOME={shown(str(self.home))}"
        )

    def runs(self) -> Iterator[RunState]:
        return iter(())

    def outline(self) -> list[tuple[str, bool]]:
        return []

    def versions(self, model_id: str) -> list[dict[str, Any]]:
        return []

    def rollbacks(self, model_id: str) -> list[dict[str, Any]]:
        return []

    def models(self) -> list[str]:
        return []

    def current(self, model_id: str) -> str | None:
        return None

    def find_by_training(self, training_id: str) -> dict[str, Any] | None:
        return None

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("read-only services were asked to write; build them without read_only")

    create = checkpoint = claim = release = _refuse  # RunStore's writes
    insert = update = set_current = delete = add_rollback = locked = _refuse  # the registry's


def _notifier(settings: Settings) -> Notifier:
    from mlops.backends.local.notifier import ConsoleNotifier
    from mlops.backends.local.slack import FanOutNotifier, SlackNotifier

    console = ConsoleNotifier(settings.home / "notifications.log", sys.stderr)
    if not settings.slack_webhook_url:
        return console
    return FanOutNotifier(console, SlackNotifier(settings.slack_webhook_url))
