"""The History port on S3: the repository's `training_history/` kept under `history/` in the artifact bucket, with
an audit copy of every file in an Object Lock bucket.

Same files, same bytes as mlops.history.HistoryLog writes (both build their appends with mlops.history's Entry),
so the action's `record` mode can commit them to the repository unchanged and `HistoryLog.verify` checks a
download of the prefix:

    history/<training_id>.md, history/<training_id>/<plot>.png, history/<training_id>.json
    history/rollback-<model_id>-<UTC stamp>.md / .json
    history/.head.json    the chain's newest record (hidden, as the local `.history.lock` is)

An append is serialised by a conditional write instead of the local file lock: it reads the head (and its ETag),
writes the Markdown and plots (create-only, so a retry writes the same bytes), then moves the head to its new
record with `If-Match: <ETag>` (`If-None-Match: *` for the first record). Of two appends that read the same head
only one moves it; the other reads the new head and chains after it, so the chain never forks. The record file
is written after the head moved; an append that died in between is completed by the next one (the head holds the
record's exact bytes).

The audit copy: every file again, under the same key, in MLOPS_AUDIT_BUCKET with Object Lock in COMPLIANCE mode
until now + MLOPS_AUDIT_RETENTION_DAYS: nobody, the account's root included, can delete or overwrite it before
then. Its newest record is the head to check the repository's history against (`verify --expect-head`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.backends.aws.clients import aws_call
from mlops.backends.aws.s3_store import S3ArtifactStore
from mlops.errors import AwsConflict, AwsNotFound, HistoryTampered, UsageError
from mlops.history import (
    GENESIS,
    Entry,
    Plot,
    check_same_report,
    pretty_json,
    rollback_entry,
    rollback_fields,
    rollback_id,
    training_entry,
)
from mlops.pipeline.models import RunState

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mlops.ports import History

PREFIX = "history/"
HEAD_KEY = f"{PREFIX}.head.json"
MAX_TRIES = 50  # appends that lose the head to another append, before giving up


class AuditCopy:
    """Each history file again in the Object Lock bucket, locked in COMPLIANCE mode for `days` days."""

    def __init__(self, s3: Any, bucket: str | None, days: int, kms_key_id: str | None) -> None:
        self.s3, self.bucket, self.days, self.kms_key_id = s3, bucket, days, kms_key_id

    def put(self, key: str, data: bytes) -> None:
        """Write the copy once; a retried append finds it there (and locked) with the same bytes."""
        if not self.bucket or not self.kms_key_id:
            raise UsageError("MLOPS_AUDIT_BUCKET and MLOPS_KMS_KEY_ID: both must be set to record the history")
        digest = hashlib.sha256(data).digest()
        try:
            with aws_call(f"history: writing the audit copy s3://{self.bucket}/{key}"):
                self.s3.put_object(
                    Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*", ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=base64.b64encode(digest).decode(), Metadata={"sha256": digest.hex()},
                    ServerSideEncryption="aws:kms", SSEKMSKeyId=self.kms_key_id,
                    ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=self.retain_until(),
                )
        except AwsConflict:
            self._check_same(key, digest.hex())

    def retain_until(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(days=self.days)

    def _check_same(self, key: str, sha256: str) -> None:
        with aws_call(f"history: reading the audit copy s3://{self.bucket}/{key}"):
            existing = self.s3.head_object(Bucket=self.bucket, Key=key).get("Metadata", {}).get("sha256")
        if existing != sha256:
            raise HistoryTampered(
                f"history: the audit copy of {key} holds other bytes than the history is recording",
                [f"{key}: audit copy sha256 {existing}, recording {sha256}: the history was rewritten"],
            )


class S3History:
    """The append-only, hash-chained history under `history/` (see the module's docstring)."""

    def __init__(self, store: S3ArtifactStore, audit: AuditCopy, repository_dir: Path = Path("training_history")):
        self.store, self.audit = store, audit
        self.repository_dir = Path(repository_dir)  # where the action's `record` mode commits the files

    def report_location(self, training_id: str) -> str:
        """Where the report will be in the repository once the `record` mode has committed it."""
        return str(self.repository_dir / f"{training_id}.md")

    def record_training(self, run: RunState, markdown: str, plots: Mapping[str, Plot] | None = None) -> Path:
        """Append the run's report; the same report again is a no-op (a retried Publish), another one refused."""
        self._append(training_entry(run, markdown, plots or {}))
        return Path(self.report_location(run.training_id))

    def record_rollback(self, rollback: Mapping[str, Any], lang: str = "ja") -> Path:
        fields = rollback_fields(rollback)
        entry = rollback_entry(fields, self._free_id(rollback_id(fields)), lang)
        self._append(entry)
        return self.repository_dir / entry.markdown_name

    def head(self) -> dict[str, Any] | None:
        """The newest record's seq, id and sha256 (as HistoryLog.head), from the head object alone."""
        record, _ = self._read_head()
        return None if record is None else {"seq": record["seq"], "id": record["id"], "sha256": record["sha256"]}

    def record_files(self, record_id: str) -> dict[str, bytes]:
        """A record's files by path relative to the history (JSON, Markdown, plots), checked against its hashes."""
        record_bytes = self.store.get_bytes(f"{PREFIX}{record_id}.json")
        record = json.loads(record_bytes)
        expected = {str(record["markdown"]): record["markdown_sha256"], **record.get("plots_sha256", {})}
        files = {f"{record_id}.json": record_bytes}
        for relative, sha256 in expected.items():
            files[relative] = self.store.get_bytes(PREFIX + relative)
            if hashlib.sha256(files[relative]).hexdigest() != sha256:
                raise HistoryTampered(f"history: {relative} does not match its record {record_id}.json")
        return files

    # --- appending ---------------------------------------------------------------------------------------

    def _append(self, entry: Entry) -> None:
        for _ in range(MAX_TRIES):
            head, etag = self._read_head()
            if head is not None:
                self._complete(head)
            recorded = self._recorded(entry)
            if recorded is not None:
                check_same_report(recorded, entry, f"s3://{self.store.bucket}/{PREFIX}")
                return
            self._write_files(entry)
            record = entry.chained(head["seq"] + 1 if head else 1, head["sha256"] if head else GENESIS)
            if self._move_head(record, etag):
                self._complete(record)
                return
        raise AwsConflict(f"history: the head moved {MAX_TRIES} times while appending {entry.id}; try again")

    def _write_files(self, entry: Entry) -> None:
        """The Markdown and the plots, before the head moves (create-only: the same bytes on every try)."""
        for relative, data in entry.files().items():
            self.store.put_bytes(PREFIX + relative, data)
            self.audit.put(PREFIX + relative, data)

    def _move_head(self, record: dict[str, Any], etag: str | None) -> bool:
        """Make `record` the head if the head is still the one read (ETag `etag`; None: no head yet)."""
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            with aws_call(f"history: appending {record['id']} as record {record['seq']}"):
                self.store.s3.put_object(
                    Bucket=self.store.bucket, Key=HEAD_KEY, Body=pretty_json(record), **condition,
                    ServerSideEncryption="aws:kms", SSEKMSKeyId=self.store.kms_key_id, BucketKeyEnabled=True,
                )
        except AwsConflict:
            return False  # another append moved it first: chain after that one
        return True

    def _complete(self, record: dict[str, Any]) -> None:
        """Write the head's record file (and its audit copy) unless it is there already."""
        key = f"{PREFIX}{record['id']}.json"
        if not self.store.exists(key):
            data = pretty_json(record)
            self.store.put_bytes(key, data)
            self.audit.put(key, data)

    def _read_head(self) -> tuple[dict[str, Any] | None, str | None]:
        try:
            with aws_call("history: reading its head"):
                answer = self.store.s3.get_object(Bucket=self.store.bucket, Key=HEAD_KEY)
                body = answer["Body"].read()
        except AwsNotFound:
            return None, None
        return json.loads(body), str(answer["ETag"])

    def _recorded(self, entry: Entry) -> dict[str, Any] | None:
        key = PREFIX + entry.record_name
        if not self.store.exists(key):
            return None
        record: dict[str, Any] = json.loads(self.store.get_bytes(key))
        return record

    def _free_id(self, wanted: str) -> str:
        """`wanted`, or `wanted-2`, `wanted-3`... when two rollbacks of a model fall in the same second."""
        candidate, number = wanted, 1
        while any(self.store.exists(f"{PREFIX}{candidate}{suffix}") for suffix in (".json", ".md")):
            number += 1
            candidate = f"{wanted}-{number}"
        return candidate


if TYPE_CHECKING:  # mypy proves the history fits the port

    def _fits_the_port(history: S3History) -> History:
        return history
