"""RunStore on SQLite: one row per run with its document and the state it resumes at.

A checkpoint is one transaction, so a run killed at any point (even `kill -9`) resumes from its last finished
step. A run is claimed by the process executing it; a claim held by a dead process is taken over.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from mlops.backends.local.sqlite import connect, transaction
from mlops.errors import RunStateError, UsageError
from mlops.pipeline.models import RunState, utcnow
from mlops.suggest import did_you_mean

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    training_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    next_state TEXT,
    document TEXT NOT NULL,
    owner_pid INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
"""


class SqliteRunStore:
    def __init__(self, db_path: Path) -> None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = connect(db_path)
        self._conn.execute(SCHEMA)

    def create(self, run: RunState, next_state: str) -> None:
        now = utcnow().isoformat()
        with transaction(self._conn):
            self._conn.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run.training_id, run.status, next_state, run.model_dump_json(), os.getpid(), now, now),
            )

    def checkpoint(self, run: RunState, next_state: str | None) -> None:
        with transaction(self._conn):
            self._conn.execute(
                "UPDATE runs SET status = ?, next_state = ?, document = ?, updated_at = ? WHERE training_id = ?",
                (run.status, next_state, run.model_dump_json(), utcnow().isoformat(), run.training_id),
            )

    def load(self, training_id: str) -> tuple[RunState, str | None]:
        row = self._conn.execute(
            "SELECT document, next_state FROM runs WHERE training_id = ?", (training_id,)
        ).fetchone()
        if row is None:
            known = [r[0] for r in self._conn.execute("SELECT training_id FROM runs")]
            raise UsageError(f"training_id: no run '{training_id}'{did_you_mean(training_id, known)}")
        return RunState.model_validate_json(row[0]), row[1]

    def runs(self) -> Iterator[RunState]:
        rows = self._conn.execute("SELECT document FROM runs ORDER BY created_at, rowid").fetchall()
        return (RunState.model_validate_json(row[0]) for row in rows)

    def outline(self) -> list[tuple[str, bool]]:
        """(training_id, whether the run has ended) of every run, oldest first, without loading the documents."""
        rows = self._conn.execute("SELECT training_id, next_state FROM runs ORDER BY created_at, rowid").fetchall()
        return [(row[0], row[1] is None) for row in rows]

    def claim(self, training_id: str) -> None:
        """Mark this process as the one executing the run; refuse while another live process holds it."""
        with transaction(self._conn):
            row = self._conn.execute(
                "SELECT owner_pid FROM runs WHERE training_id = ?", (training_id,)
            ).fetchone()
            owner = row[0] if row else None
            if owner and owner != os.getpid() and _alive(owner):
                raise RunStateError(f"training_id: run {training_id} is being executed by process {owner}")
            self._conn.execute(
                "UPDATE runs SET owner_pid = ? WHERE training_id = ?", (os.getpid(), training_id)
            )

    def release(self, training_id: str) -> None:
        with transaction(self._conn):
            self._conn.execute("UPDATE runs SET owner_pid = NULL WHERE training_id = ?", (training_id,))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
