"""The local RegistryBackend: model version records in SQLite. I/O only; the rules live in mlops/registry.py.

Each call opens a short-lived connection, except inside `locked()`: there the calling thread holds one
connection with a BEGIN IMMEDIATE transaction, and every backend call it makes joins that transaction. That
makes "read the versions, choose the next one, insert it" atomic across processes, without a second
connection deadlocking against the first.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlops.backends.local.sqlite import connect, transaction
from mlops.errors import RegistryError

SCHEMA = """
CREATE TABLE IF NOT EXISTS model_versions (
    model_id    TEXT NOT NULL,
    version     TEXT NOT NULL,
    training_id TEXT NOT NULL UNIQUE,
    record      TEXT NOT NULL,          -- the whole record as JSON
    created_at  TEXT NOT NULL,
    status      TEXT NOT NULL,
    PRIMARY KEY (model_id, version)
);
CREATE TABLE IF NOT EXISTS current_versions (
    model_id TEXT PRIMARY KEY,
    version  TEXT,                      -- NULL: the model has no current version (first version rolled back)
    -- the database itself refuses to delete the version that is current
    FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version)
);
CREATE TABLE IF NOT EXISTS rollbacks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id     TEXT NOT NULL,
    from_version TEXT,
    to_version   TEXT,
    actor        TEXT NOT NULL,
    reason       TEXT NOT NULL,
    automatic    INTEGER NOT NULL,
    at           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rollbacks_by_model ON rollbacks (model_id, id);
"""

ROLLBACK_FIELDS = ("model_id", "from_version", "to_version", "actor", "reason", "automatic", "at")


class SqliteRegistryBackend:
    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self._held = threading.local()  # the connection of an open locked() block, per thread
        with self._connection() as conn, transaction(conn):
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    # --- locking ---------------------------------------------------------------------------------------

    @contextmanager
    def locked(self, model_id: str) -> Iterator[None]:
        """Serialize against every other process writing this database (SQLite has one write lock per file).

        Coarser than one lock per model, but the blocks are short: choose a version, insert a record.
        Re-entrant: a nested locked() in the same thread joins the outer transaction.
        """
        with self._connection() as conn, transaction(conn):
            outer = getattr(self._held, "conn", None)
            self._held.conn = conn
            try:
                yield
            finally:
                self._held.conn = outer

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        held = getattr(self._held, "conn", None)
        if held is not None:
            yield held
            return
        conn = connect(self.db_path)
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as conn, transaction(conn):
            yield conn

    # --- versions --------------------------------------------------------------------------------------

    def insert(self, record: dict[str, Any]) -> None:
        row = (record["model_id"], record["version"], record["training_id"], _dump(record))
        try:
            with self._writing() as conn:
                conn.execute(
                    "INSERT INTO model_versions (model_id, version, training_id, record, created_at, status)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (*row, record["created_at"], record.get("status", "registered")),
                )
        except sqlite3.IntegrityError as exc:
            raise RegistryError(
                f"registry: {record['model_id']} {record['version']} (training {record['training_id']}) "
                "is already registered"
            ) from exc

    def versions(self, model_id: str) -> list[dict[str, Any]]:
        """Every record of the model, in insertion order (the registry sorts by version)."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT record, status FROM model_versions WHERE model_id = ? ORDER BY rowid", (model_id,)
            ).fetchall()
        return [_load(row) for row in rows]

    def find_by_training(self, training_id: str) -> dict[str, Any] | None:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT record, status FROM model_versions WHERE training_id = ?", (training_id,)
            ).fetchone()
        return _load(row) if row else None

    def update(self, model_id: str, version: str, fields: dict[str, Any]) -> None:
        """Merge `fields` into the stored record (read-modify-write inside one transaction)."""
        with self._writing() as conn:
            row = conn.execute(
                "SELECT record, status FROM model_versions WHERE model_id = ? AND version = ?",
                (model_id, version),
            ).fetchone()
            if row is None:
                raise RegistryError(f"registry: {model_id} has no version {version}")
            record = {**_load(row), **fields}
            conn.execute(
                "UPDATE model_versions SET record = ?, status = ? WHERE model_id = ? AND version = ?",
                (_dump(record), record["status"], model_id, version),
            )

    def delete(self, model_id: str, version: str) -> None:
        try:
            with self._writing() as conn:
                conn.execute(
                    "DELETE FROM model_versions WHERE model_id = ? AND version = ?", (model_id, version)
                )
        except sqlite3.IntegrityError as exc:
            raise RegistryError(f"registry: {model_id} {version} is current and cannot be deleted") from exc

    def models(self) -> list[str]:
        with self._connection() as conn:
            rows = conn.execute("SELECT DISTINCT model_id FROM model_versions ORDER BY model_id").fetchall()
        return [row["model_id"] for row in rows]

    # --- current ---------------------------------------------------------------------------------------

    def set_current(self, model_id: str, version: str | None) -> None:
        try:
            with self._writing() as conn:
                conn.execute(
                    "INSERT INTO current_versions (model_id, version) VALUES (?, ?)"
                    " ON CONFLICT (model_id) DO UPDATE SET version = excluded.version",
                    (model_id, version),
                )
        except sqlite3.IntegrityError as exc:
            raise RegistryError(f"registry: {model_id} has no version {version} to make current") from exc

    def current(self, model_id: str) -> str | None:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT version FROM current_versions WHERE model_id = ?", (model_id,)
            ).fetchone()
        return row["version"] if row else None

    # --- rollbacks -------------------------------------------------------------------------------------

    def add_rollback(self, record: dict[str, Any]) -> None:
        values = {
            **{field: record[field] for field in ROLLBACK_FIELDS},
            "automatic": int(record["automatic"]),
        }
        columns = ", ".join(ROLLBACK_FIELDS)
        placeholders = ", ".join(f":{field}" for field in ROLLBACK_FIELDS)
        with self._writing() as conn:
            conn.execute(f"INSERT INTO rollbacks ({columns}) VALUES ({placeholders})", values)

    def rollbacks(self, model_id: str) -> list[dict[str, Any]]:
        """The model's rollbacks, oldest first."""
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(ROLLBACK_FIELDS)} FROM rollbacks WHERE model_id = ? ORDER BY id",
                (model_id,),
            ).fetchall()
        return [{**dict(row), "automatic": bool(row["automatic"])} for row in rows]


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False)


def _load(row: sqlite3.Row) -> dict[str, Any]:
    """The record, with the status column as the truth (it is what `update` and queries maintain)."""
    record: dict[str, Any] = json.loads(row["record"])
    record["status"] = row["status"]
    return record
