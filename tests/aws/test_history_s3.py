"""The history on S3 (moto): the same files and bytes as the local HistoryLog, one chain whatever the concurrency,
and an audit copy nobody can delete."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops import history as history_module
from mlops.backends.aws.clients import AwsClients
from mlops.backends.aws.history import HEAD_KEY, AuditCopy, S3History
from mlops.backends.aws.s3_store import S3ArtifactStore
from mlops.errors import HistoryTampered, RunStateError
from mlops.history import HistoryLog
from mlops.pipeline.models import Attempt, GateResult, ModelRef, RunState
from mlops.report import render_report
from tests.aws.aws_harness import make_run

BUCKET, AUDIT = "mlops-artifacts", "mlops-audit"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
ROLLBACK = {"model_id": "iris-svm", "from_version": "v1.1.0", "to_version": "v1.0.0", "actor": "octocat",
            "reason": "accuracy dropped in production", "automatic": False, "at": "2025-01-11T09:00:00+00:00"}
FROZEN = datetime(2025, 1, 10, 12, 40, tzinfo=timezone.utc)


@pytest.fixture
def s3_history(aws: AwsClients, tmp_path: Path) -> S3History:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.create_bucket(Bucket=AUDIT, ObjectLockEnabledForBucket=True)
    key_id = aws.client("kms").create_key()["KeyMetadata"]["KeyId"]
    store = S3ArtifactStore(s3, BUCKET, key_id, tmp_path / "scratch")
    return S3History(store, AuditCopy(s3, AUDIT, 30, key_id))


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both histories stamp `recorded_at` with the same moment, so their bytes can be compared."""
    monkeypatch.setattr(history_module, "utcnow", lambda: FROZEN)


def finished_run(number: int) -> RunState:
    run = make_run(f"train-20250110-12345{number}-abcd", issue=number)
    accuracy = 0.9 + number / 100
    run.status, run.created_at = "succeeded", datetime(2025, 1, 10, 12, 34, number, tzinfo=timezone.utc)
    run.attempts = [Attempt(number=1, hyperparameters={"C": 1.0}, algorithm="svm", metrics={"accuracy": accuracy},
                            metric="accuracy", value=accuracy, passed=True)]
    run.gate = GateResult(metric="accuracy", value=accuracy, threshold=0.9, comparison=">=", passed=True,
                          decision="pass")
    run.registered = ModelRef(model_id="iris-svm", version=f"v1.{number}.0",
                              artifact_key=f"models/iris-svm/v1.{number}.0/")
    return run


def record(history: Any, number: int) -> None:
    run = finished_run(number)
    plots = {"confusion_matrix": PNG}
    history.record_training(run, render_report(run, plots=history_module.plot_links(run.training_id, plots)), plots)


def objects(s3: Any, bucket: str) -> dict[str, bytes]:
    """Every current object under history/ but the head, by path relative to the prefix."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="history/").get("Contents", [])
    return {item["Key"].removeprefix("history/"): s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            for item in listed if item["Key"] != HEAD_KEY}


def local_files(directory: Path) -> dict[str, bytes]:
    return {path.relative_to(directory).as_posix(): path.read_bytes() for path in directory.rglob("*")
            if path.is_file() and not path.name.startswith(".")}


@pytest.fixture
def downloaded(s3_history: S3History) -> Iterator[Any]:
    """`history/` as the action's record mode sees it: downloaded to a directory, read by HistoryLog."""

    def download() -> Any:
        return s3_history.store.local_path("history")

    yield download


def test_s3_holds_the_same_files_with_the_same_bytes_as_the_local_history(
    s3_history: S3History, frozen_clock: None, tmp_path: Path
) -> None:
    # GIVEN the same two runs and a rollback recorded locally and on S3
    local = HistoryLog(tmp_path / "training_history")
    for history in (local, s3_history):
        record(history, 1)
        record(history, 2)
        history.record_rollback(ROLLBACK, lang="en")
    # THEN S3 holds exactly the files of the local directory, byte for byte (records, reports, plots)
    on_s3 = objects(s3_history.store.s3, BUCKET)
    assert on_s3 == local_files(local.directory)
    assert "train-20250110-123451-abcd/confusion_matrix.png" in on_s3
    assert s3_history.head() == local.head()
    # AND the report is where the record mode will commit it in the repository
    assert s3_history.report_location("train-20250110-123451-abcd") == "training_history/train-20250110-123451-abcd.md"


def test_the_downloaded_prefix_verifies_as_one_chain_and_names_an_edit(s3_history: S3History, downloaded) -> None:
    for number in (1, 2, 3):
        record(s3_history, number)
    s3_history.record_rollback(ROLLBACK)
    with downloaded() as directory:
        log = HistoryLog(directory)
        # THEN the chain holds, and ends at the head S3 keeps
        assert log.verify(expect_head=s3_history.head()["sha256"]) == []
        assert [entry["seq"] for entry in log.entries()] == [1, 2, 3, 4]
        # AND an edited report is found, as in the repository
        (directory / "train-20250110-123452-abcd.md").write_text("# nothing to see here\n")
        assert log.verify() == ["train-20250110-123452-abcd.json: train-20250110-123452-abcd.md was edited "
                                "(its sha256 no longer matches the record)"]


def test_concurrent_appends_never_fork_the_chain(
    s3_history: S3History, downloaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN S3's conditional writes, which are atomic (moto checks then writes: make that atomic, as S3 is)
    from moto.s3.responses import S3Response

    atomic, put_object = threading.Lock(), S3Response.put_object

    def put_atomically(self: Any) -> Any:
        with atomic:
            return put_object(self)

    monkeypatch.setattr(S3Response, "put_object", put_atomically)
    # AND appenders that all read the same head before any of them moves it
    writers = 4
    everyone_read = threading.Barrier(writers)
    read_head, lost = S3History._read_head, []

    def read_together(self: S3History) -> Any:
        head = read_head(self)
        if threading.current_thread().name not in lost:  # the first read of each: all at once
            lost.append(threading.current_thread().name)
            everyone_read.wait(timeout=10)
        return head

    monkeypatch.setattr(S3History, "_read_head", read_together)
    # WHEN they append at the same time
    errors: list[BaseException] = []

    def append(number: int) -> None:
        try:
            record(s3_history, number)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(n,), name=f"writer-{n}") for n in range(1, writers + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # THEN every append landed once, each after the one before: one chain, seq 1..4
    assert errors == []
    with downloaded() as directory:
        log = HistoryLog(directory)
        assert log.verify() == []
        entries = log.entries()
    assert [entry["seq"] for entry in entries] == [1, 2, 3, 4]
    assert sorted(entry["id"] for entry in entries) == [f"train-20250110-12345{n}-abcd" for n in range(1, 5)]


def test_every_file_has_an_audit_copy_under_compliance_retention(s3_history: S3History) -> None:
    record(s3_history, 1)
    s3 = s3_history.store.s3
    # THEN the audit bucket holds the same files with the same bytes
    assert objects(s3, AUDIT) == objects(s3, BUCKET)
    # AND each is locked in COMPLIANCE mode for the configured 30 days
    for key in objects(s3, AUDIT):
        head = s3.head_object(Bucket=AUDIT, Key=f"history/{key}")
        assert head["ObjectLockMode"] == "COMPLIANCE"
        expected = datetime.now(timezone.utc) + timedelta(days=30)
        assert abs(head["ObjectLockRetainUntilDate"] - expected) < timedelta(minutes=5)
        # AND nobody can delete that version before then
        with pytest.raises(ClientError, match="AccessDenied"):
            s3.delete_object(Bucket=AUDIT, Key=f"history/{key}", VersionId=head["VersionId"])


def test_a_retried_publish_is_a_no_op_and_a_different_report_is_refused(s3_history: S3History) -> None:
    record(s3_history, 1)
    head = s3_history.head()
    # WHEN the same report is recorded again (a retried Publish) THEN nothing is appended
    record(s3_history, 1)
    assert s3_history.head() == head
    # WHEN another report comes for the same training id THEN it is refused, and the record is unchanged
    with pytest.raises(RunStateError, match=r"already recorded .* a recorded report is never rewritten"):
        s3_history.record_training(finished_run(1), "# a different report\n")
    assert s3_history.head() == head


def test_an_append_that_died_after_moving_the_head_is_completed_by_the_next(
    s3_history: S3History, downloaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an append that moved the head and died before writing its record file
    complete = S3History._complete
    monkeypatch.setattr(S3History, "_complete", lambda self, record: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError, match="killed"):
        record(s3_history, 1)
    monkeypatch.setattr(S3History, "_complete", complete)
    assert "train-20250110-123451-abcd.json" not in objects(s3_history.store.s3, BUCKET)
    # WHEN the next append comes
    record(s3_history, 2)
    # THEN the first record was written from the head, and the chain holds
    with downloaded() as directory:
        assert HistoryLog(directory).verify() == []
        assert [entry["id"] for entry in HistoryLog(directory).entries()] == [
            "train-20250110-123451-abcd", "train-20250110-123452-abcd"]
    assert "train-20250110-123451-abcd.json" in objects(s3_history.store.s3, AUDIT)


def test_a_record_is_fetched_with_its_files_checked_against_its_hashes(s3_history: S3History) -> None:
    record(s3_history, 1)
    files = s3_history.record_files("train-20250110-123451-abcd")
    assert sorted(files) == ["train-20250110-123451-abcd.json", "train-20250110-123451-abcd.md",
                             "train-20250110-123451-abcd/confusion_matrix.png"]
    assert files["train-20250110-123451-abcd/confusion_matrix.png"] == PNG
    # WHEN a report was replaced behind the history's back (a new version of the object)
    s3_history.store.s3.put_object(Bucket=BUCKET, Key="history/train-20250110-123451-abcd.md", Body=b"# edited\n")
    with pytest.raises(HistoryTampered, match="does not match its record"):
        s3_history.record_files("train-20250110-123451-abcd")
