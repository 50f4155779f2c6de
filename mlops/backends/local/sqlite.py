"""Opening SQLite the one way the local backend uses it: WAL, a long busy timeout, explicit transactions.

Every local database (registry, run store) goes through `connect` and `transaction`, so concurrent
processes on one machine (a CLI run, a resumed run, a self-hosted Actions runner) queue for the write lock
instead of failing.
"""

from __future__ import annotations

import sqlite3
import time
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
    _enable_wal(conn)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _enable_wal(conn: sqlite3.Connection) -> None:
    """WAL lets readers go on while one process writes; the mode is stored in the file, so this is cheap later.

    Switching to WAL needs a moment of exclusive access and SQLite does not apply the busy timeout to it: when
    several processes create the database at once, the losers get "database is locked" at once. Retry them.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    delay = 0.01
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


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
