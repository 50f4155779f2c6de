"""Which run belongs to which issue, claimed atomically in SQLite so an issue starts exactly one run.

GitHub delivers `opened` and `labeled` for one form submission and may redeliver any event, and each delivery
is a separate workflow run, perhaps at the same moment on the same self-hosted runner. The first valid request
of an issue claims it with one INSERT that the primary key (repository, issue) lets only one process win; every
other delivery finds the claim. Nothing here reads and then writes: each decision is one statement.

A claim is `awaiting_approval` (the author may not start runs; a writer's `/mlops approve` turns it into
`started`, again by one conditional UPDATE) or `started`. `request_digest` tells a redelivery (same request)
from an edit that changed it. Notices (what the action told the issue once) are claimed the same way, so a
notice is posted once per edit, not once per delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlops.backends.local.sqlite import connect, transaction
from mlops.pipeline.models import utcnow

SCHEMA = """
CREATE TABLE IF NOT EXISTS issue_runs (
    repository TEXT NOT NULL,
    issue INTEGER NOT NULL,
    training_id TEXT NOT NULL UNIQUE,
    request_digest TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('awaiting_approval', 'started')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (repository, issue)
);
CREATE TABLE IF NOT EXISTS issue_notices (
    repository TEXT NOT NULL,
    issue INTEGER NOT NULL,
    notice TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (repository, issue, notice)
);
"""


@dataclass(frozen=True)
class IssueRun:
    repository: str
    issue: int
    training_id: str
    request_digest: str
    state: str  # awaiting_approval | started


class IssueRuns:
    def __init__(self, db_path: Path) -> None:
        self._conn = connect(db_path)
        self._conn.executescript(SCHEMA)

    def find(self, repository: str, issue: int) -> IssueRun | None:
        row = self._conn.execute(
            "SELECT repository, issue, training_id, request_digest, state FROM issue_runs "
            "WHERE repository = ? AND issue = ?",
            (repository, issue),
        ).fetchone()
        return IssueRun(*row) if row else None

    def claim(self, wanted: IssueRun) -> tuple[IssueRun, bool]:
        """(the issue's claim, whether it is `wanted`, just made by us) - False: another delivery was first."""
        now = utcnow().isoformat()
        with transaction(self._conn):
            inserted = self._conn.execute(
                "INSERT OR IGNORE INTO issue_runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (wanted.repository, wanted.issue, wanted.training_id, wanted.request_digest, wanted.state, now, now),
            ).rowcount
        claim = self.find(wanted.repository, wanted.issue)
        assert claim is not None  # inserted, or held by the delivery that was first: rows are never deleted
        return claim, inserted == 1

    def approve(self, repository: str, issue: int, request_digest: str) -> bool:
        """Turn the issue's waiting claim into a started one; False when it was not waiting (any more)."""
        return self._update_waiting(repository, issue, request_digest, "started")

    def revise(self, repository: str, issue: int, request_digest: str) -> bool:
        """Record an edited request while it still waits for approval; False when it no longer waits."""
        return self._update_waiting(repository, issue, request_digest, "awaiting_approval")

    def _update_waiting(self, repository: str, issue: int, request_digest: str, state: str) -> bool:
        with transaction(self._conn):
            return (
                self._conn.execute(
                    "UPDATE issue_runs SET state = ?, request_digest = ?, updated_at = ? "
                    "WHERE repository = ? AND issue = ? AND state = 'awaiting_approval'",
                    (state, request_digest, utcnow().isoformat(), repository, issue),
                ).rowcount
                == 1
            )

    def first_notice(self, repository: str, issue: int, notice: str) -> bool:
        """True exactly once per (issue, notice), whichever process asks first."""
        with transaction(self._conn):
            return (
                self._conn.execute(
                    "INSERT OR IGNORE INTO issue_notices VALUES (?, ?, ?, ?)",
                    (repository, issue, notice, utcnow().isoformat()),
                ).rowcount
                == 1
            )

    def has_notice(self, repository: str, issue: int, notice: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM issue_notices WHERE repository = ? AND issue = ? AND notice = ?", (repository, issue, notice)
        ).fetchone()
        return row is not None
