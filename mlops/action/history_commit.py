"""The history files of one run (or one rollback), as they go into the repository in one commit.

Locally the history is written to MLOPS_HISTORY_DIR (mlops/history.py); in the repository it always lives in
`training_history/`. A run's files are its record (the JSON twin), its report and its plots, plus the record
of the automatic rollback it caused, if it caused one: everything the run appended to the chain.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from mlops.action.context import HISTORY_PATH
from mlops.errors import UsageError
from mlops.history import SAFE_NAME


def read_record(directory: Path, record_id: str) -> dict[str, Any]:
    if not SAFE_NAME.match(record_id) or ".." in record_id:
        raise UsageError(f"training_id: '{record_id[:80]}' is not a training id")
    path = directory / f"{record_id}.json"
    try:
        record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"training_id: no history record {record_id} in {directory} (MLOPS_HISTORY_DIR); "
            "was the run recorded on this machine?"
        ) from None
    return record


def commit_message(record: dict[str, Any]) -> str:
    """`mlops: record train-... (succeeded v1.2.0)`, from a run's history record."""
    version = (record.get("model") or {}).get("version")
    return f"mlops: record {record.get('training_id')} ({record.get('status')}{f' {version}' if version else ''})"


def record_files(directory: Path, record_id: str) -> dict[str, bytes]:
    """One record's files, keyed by their path in the repository."""
    record = read_record(directory, record_id)
    names = [f"{record_id}.json", str(record.get("markdown")), *(record.get("plots_sha256") or {})]
    return {f"{HISTORY_PATH}/{_relative(name)}": (directory / name).read_bytes() for name in names}


def run_files(directory: Path, training_id: str) -> dict[str, bytes]:
    files = record_files(directory, training_id)
    for rollback_id in automatic_rollbacks(directory, read_record(directory, training_id)):
        files.update(record_files(directory, rollback_id))
    return files


def automatic_rollbacks(directory: Path, record: dict[str, Any]) -> list[str]:
    """The automatic rollback records of the version this run registered (a failed Verify writes one)."""
    model = record.get("model") or {}
    if not model.get("version"):
        return []
    found = []
    for path in sorted(directory.glob("rollback-*.json")):
        rollback = json.loads(path.read_text(encoding="utf-8"))
        if (
            rollback.get("automatic")
            and rollback.get("model_id") == model.get("model_id")
            and rollback.get("from_version") == model.get("version")
        ):
            found.append(path.stem)
    return found


def _relative(name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise UsageError(f"history: a record names the file '{name}' outside the history directory")
    return path.as_posix()
