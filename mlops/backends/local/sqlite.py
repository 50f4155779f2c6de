"""Opening SQLite the one way the local backend uses it: WAL, a long busy timeout, explicit transactions.

Every local database (registry, run store) goes through `connect` and `transaction`, so concurrent
processes on one machine (a CLI run, a resumed run, a self-hosted Actions runner) queue for the write lock
instead of failing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_SECONDS = 30.0


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating its directory) the database at `path`, in autocommit mode: write via `transaction`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: the sqlite3 module must not open transactions behind our back; we BEGIN ourselves.
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
    # WAL lets readers go on while one process writes; the mode is stored in the file, so this is cheap later.
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error). Inside an open transaction it joins that one instead.

    IMMEDIATE takes the write lock up front, so two processes can never both read-then-write the same rows;
    the second waits (up to the busy timeout) rather than failing later with "database is locked".
    """
    if conn.in_transaction:
        yield conn  # the outer block owns commit and rollback
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
