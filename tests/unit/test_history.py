"""The tamper-evident history: records chain by SHA-256; verify names the record where the chain breaks."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

import mlops
from mlops.errors import HistoryTampered, RunStateError
from mlops.history import GENESIS, HistoryLog, canonical_json, plot_links, record_hash
from mlops.pipeline.models import Attempt, GateResult, ModelRef, RunState
from mlops.report import render_report
from mlops.request import validate_request

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def make_run(number: int, status: str = "succeeded") -> RunState:
    request = validate_request(
        {
            "learning_type": "supervised",
            "algorithm": "random_forest",
            "dataset_id": "iris",
            "evaluation_threshold": 0.85,
            "model_id": "iris-classifier",
            "task": "classification",
        }
    )
    accuracy = 0.9 + number / 100
    attempt = Attempt(
        number=1,
        hyperparameters=request.effective_hyperparameters(),
        algorithm="random_forest",
        metrics={"accuracy": accuracy},
        metric="accuracy",
        value=accuracy,
        passed=True,
    )
    return RunState(
        training_id=f"train-20250110-12345{number}",
        request=request,
        status=status,  # type: ignore[arg-type]
        created_at=datetime(2025, 1, 10, 12, 34, 50 + number, tzinfo=timezone.utc),
        attempts=[attempt],
        gate=GateResult(
            metric="accuracy", value=accuracy, threshold=0.85, comparison=">=", passed=True, decision="pass"
        ),
        registered=ModelRef(
            model_id="iris-classifier",
            version=f"v1.{number}.0",
            artifact_key=f"models/iris-classifier/v1.{number}.0/",
        ),
    )


@pytest.fixture
def plot(tmp_path: Path) -> Path:
    path = tmp_path / "work" / "cm.png"
    path.parent.mkdir()
    path.write_bytes(PNG)
    return path


@pytest.fixture
def history(tmp_path: Path, plot: Path) -> HistoryLog:
    """A history with three training records, each with a confusion-matrix plot."""
    log = HistoryLog(tmp_path / "training_history")
    for number in (1, 2, 3):
        run = make_run(number)
        plots = {"confusion_matrix": plot}
        log.record_training(run, render_report(run, plots=plot_links(run.training_id, plots)), plots)
    return log


def record(log: HistoryLog, number: int) -> Path:
    return log.directory / f"train-20250110-12345{number}.json"


def rewrite(path: Path, change: dict[str, object], rehash: bool = False) -> None:
    """Edit a record as a tamperer would; `rehash` also recomputes its own sha256 to hide the edit."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(change)
    if rehash:
        data["sha256"] = record_hash(data)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")


def test_three_records_verify_clean_and_are_laid_out_next_to_each_other(history: HistoryLog) -> None:
    # GIVEN three recorded runs
    # WHEN the history is verified
    # THEN it is intact, and each run has its report, its JSON twin and its plot directory
    assert history.verify() == []
    history.check()
    for number in (1, 2, 3):
        stem = f"train-20250110-12345{number}"
        assert (history.directory / f"{stem}.md").read_text(encoding="utf-8").startswith("# 学習結果レポート")
        assert (history.directory / stem / "confusion_matrix.png").read_bytes() == PNG
        assert f"![confusion_matrix]({stem}/confusion_matrix.png)" in (
            history.directory / f"{stem}.md"
        ).read_text(encoding="utf-8")


def test_records_carry_the_chain_fields(history: HistoryLog) -> None:
    # GIVEN three records
    records = [json.loads(record(history, n).read_text(encoding="utf-8")) for n in (1, 2, 3)]
    # THEN they are numbered, each links to the one before, and each hash covers its canonical JSON
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert [r["kind"] for r in records] == ["training"] * 3
    assert records[0]["prev_sha256"] == GENESIS
    assert records[1]["prev_sha256"] == records[0]["sha256"]
    assert records[2]["prev_sha256"] == records[1]["sha256"]
    without_hash = {k: v for k, v in records[1].items() if k != "sha256"}
    assert records[1]["sha256"] == hashlib.sha256(canonical_json(without_hash)).hexdigest()
    assert records[1]["plots_sha256"] == {
        "train-20250110-123452/confusion_matrix.png": hashlib.sha256(PNG).hexdigest()
    }
    assert records[1]["training_id"] == "train-20250110-123452"
    assert records[1]["model"]["version"] == "v1.2.0"
    assert records[1]["recorded_at"]


def test_one_character_edit_in_the_middle_report_is_caught_naming_that_record(history: HistoryLog) -> None:
    # GIVEN someone changes one character of the middle report (0.92 -> 0.93)
    report = history.directory / "train-20250110-123452.md"
    text = report.read_text(encoding="utf-8")
    assert "- Accuracy: 0.9200" in text
    report.write_text(text.replace("- Accuracy: 0.9200", "- Accuracy: 0.9300"), encoding="utf-8")
    # WHEN the history is verified
    problems = history.verify()
    # THEN the first (and only) problem names the middle record and its report
    assert len(problems) == 1
    assert problems[0].startswith("train-20250110-123452.json: train-20250110-123452.md was edited")
    with pytest.raises(HistoryTampered) as caught:
        history.check()
    assert caught.value.problems == problems


def test_edited_json_is_caught(history: HistoryLog) -> None:
    # GIVEN someone raises a recorded metric in the middle record's JSON
    rewrite(record(history, 2), {"metrics": {"accuracy": 0.99}})
    # WHEN verified THEN that record is named as edited
    problems = history.verify()
    assert problems == ["train-20250110-123452.json: edited (its content no longer matches its sha256)"]


def test_edited_json_with_recomputed_hash_is_caught_by_the_next_record(history: HistoryLog) -> None:
    # GIVEN a careful tamperer who also recomputes the edited record's own hash
    rewrite(record(history, 2), {"metrics": {"accuracy": 0.99}}, rehash=True)
    # WHEN verified THEN the next record's link exposes it, naming the edited record
    problems = history.verify()
    assert len(problems) == 1
    assert problems[0].startswith(
        "train-20250110-123453.json: prev_sha256 does not match train-20250110-123452"
    )


def test_deleted_record_is_caught(history: HistoryLog) -> None:
    # GIVEN the middle record is deleted (JSON, report and plots)
    for path in (record(history, 2), history.directory / "train-20250110-123452.md"):
        path.unlink()
    (history.directory / "train-20250110-123452" / "confusion_matrix.png").unlink()
    # WHEN verified THEN the record after the gap says records were deleted before it
    problems = history.verify()
    assert problems[0] == "train-20250110-123453.json: seq 3 follows seq 1: record(s) deleted before it"
    assert "prev_sha256 does not match train-20250110-123451.json" in problems[1]


def test_deleted_record_renumbered_to_hide_the_gap_is_caught(history: HistoryLog) -> None:
    record(history, 2).unlink()
    (history.directory / "train-20250110-123452.md").unlink()
    rewrite(record(history, 3), {"seq": 2}, rehash=True)
    problems = history.verify()
    assert problems[0].startswith(
        "train-20250110-123453.json: prev_sha256 does not match train-20250110-123451"
    )


def test_inserted_record_is_caught(history: HistoryLog) -> None:
    # GIVEN a forged record slipped in after the first, with a valid hash and a correct link to record 1
    first = json.loads(record(history, 1).read_text(encoding="utf-8"))
    forged = {
        **first,
        "id": "train-20250110-999999",
        "training_id": "train-20250110-999999",
        "seq": 2,
        "prev_sha256": first["sha256"],
        "markdown": "train-20250110-999999.md",
        "plots_sha256": {},
    }
    (history.directory / "train-20250110-999999.md").write_bytes(
        (history.directory / "train-20250110-123451.md").read_bytes()
    )
    forged["sha256"] = record_hash(forged)
    (history.directory / "train-20250110-999999.json").write_text(json.dumps(forged), encoding="utf-8")
    # WHEN verified THEN the forged record is named as inserted, and the genuine chain is left alone
    problems = history.verify()
    assert problems == [
        "train-20250110-999999.json: also claims seq 2 (held by train-20250110-123452.json): "
        "an inserted record"
    ]


def test_inserted_record_with_renumbered_successors_is_caught(history: HistoryLog) -> None:
    # GIVEN a forged seq 2 and the genuine records renumbered 3 and 4 (with their own hashes recomputed)
    rewrite(record(history, 3), {"seq": 4}, rehash=True)
    rewrite(record(history, 2), {"seq": 3}, rehash=True)
    first = json.loads(record(history, 1).read_text(encoding="utf-8"))
    forged = {**first, "id": "forged", "seq": 2, "prev_sha256": first["sha256"]}
    forged["sha256"] = record_hash(forged)
    (history.directory / "forged.json").write_text(json.dumps(forged), encoding="utf-8")
    # WHEN verified THEN the first genuine record after the forgery no longer links to what precedes it
    problems = history.verify()
    assert problems[0].startswith("train-20250110-123452.json: prev_sha256 does not match forged.json")


def test_edited_plot_is_caught(history: HistoryLog) -> None:
    # GIVEN one byte of the first run's plot is changed
    path = history.directory / "train-20250110-123451" / "confusion_matrix.png"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    # WHEN verified THEN the first record is named, with the plot
    assert history.verify() == [
        "train-20250110-123451.json: train-20250110-123451/confusion_matrix.png was edited "
        "(its sha256 no longer matches the record)"
    ]


def test_deleted_plot_and_stray_files_are_caught(history: HistoryLog) -> None:
    (history.directory / "train-20250110-123453" / "confusion_matrix.png").unlink()
    (history.directory / "train-20250110-000000.md").write_text("# fake report\n", encoding="utf-8")
    problems = history.verify()
    assert problems == [
        "train-20250110-123453.json: train-20250110-123453/confusion_matrix.png is missing (deleted)",
        "train-20250110-000000.md: not part of any record (inserted, or left by an interrupted write)",
    ]


def test_unreadable_record_is_reported(history: HistoryLog) -> None:
    record(history, 3).write_text("{not json", encoding="utf-8")
    assert history.verify()[0].startswith("train-20250110-123453.json: not a readable history record")


def test_truncated_history_is_caught_against_a_remembered_head(history: HistoryLog) -> None:
    # GIVEN the head was remembered elsewhere, then the newest record was deleted
    head = history.head()
    assert head is not None and head["seq"] == 3
    record(history, 3).unlink()
    (history.directory / "train-20250110-123453.md").unlink()
    (history.directory / "train-20250110-123453" / "confusion_matrix.png").unlink()
    # WHEN verified THEN the chain alone is consistent, but not against the remembered head
    assert history.verify() == []
    assert "not in the history" in history.verify(expect_head=head["sha256"])[0]


def test_rollback_is_recorded_in_the_same_chain_in_either_language(history: HistoryLog) -> None:
    # GIVEN an operator rolls the model back
    rollback = {
        "model_id": "iris-classifier",
        "from_version": "v1.3.0",
        "to_version": "v1.2.0",
        "actor": "alice",
        "reason": "drift in production",
        "automatic": False,
        "at": datetime(2025, 1, 11, 9, 0, tzinfo=timezone.utc),
    }
    # WHEN it is recorded (twice in one second, once in English)
    first = history.record_rollback(rollback)
    second = history.record_rollback(rollback, lang="en")
    # THEN both are in the chain after the training records, with their own files
    assert first.name == "rollback-iris-classifier-20250111T090000Z.md"
    assert second.name == "rollback-iris-classifier-20250111T090000Z-2.md"
    assert "alice が iris-classifier を v1.3.0 から v1.2.0 にロールバックしました。" in first.read_text(
        encoding="utf-8"
    )
    assert "alice rolled iris-classifier back from v1.3.0 to v1.2.0." in second.read_text(encoding="utf-8")
    saved = json.loads(first.with_suffix(".json").read_text(encoding="utf-8"))
    assert saved["kind"] == "rollback" and saved["seq"] == 4 and saved["at"] == "2025-01-11T09:00:00+00:00"
    assert saved["reason"] == "drift in production" and saved["automatic"] is False
    assert history.verify() == []


def test_entries_list_every_record_in_chain_order(history: HistoryLog) -> None:
    history.record_rollback(
        {
            "model_id": "iris-classifier",
            "from_version": "v1.3.0",
            "to_version": "v1.2.0",
            "actor": None,
            "reason": "verification failed",
            "automatic": True,
        }
    )
    entries = history.entries()
    assert [(e["seq"], e["kind"], e["status"], e["version"]) for e in entries] == [
        (1, "training", "succeeded", "v1.1.0"),
        (2, "training", "succeeded", "v1.2.0"),
        (3, "training", "succeeded", "v1.3.0"),
        (4, "rollback", "rolled_back", "v1.2.0"),
    ]
    assert entries[0]["id"] == "train-20250110-123451"
    assert entries[0]["model"] == "iris-classifier"
    assert all(e["recorded_at"] for e in entries)


def test_recording_a_run_again_is_idempotent_but_never_rewrites(history: HistoryLog) -> None:
    # GIVEN the first run is already recorded
    run = make_run(1)
    path = history.directory / "train-20250110-123451.md"
    same = path.read_text(encoding="utf-8")
    # WHEN it is recorded again with the same report THEN nothing changes
    assert history.record_training(run, same) == path
    assert len(history.entries()) == 3
    # AND with a different report it is refused
    with pytest.raises(RunStateError, match="already recorded"):
        history.record_training(run, same + "edited\n")
    assert history.verify() == []


def test_a_new_history_starts_at_seq_one_and_ignores_its_lock(tmp_path: Path) -> None:
    log = HistoryLog(tmp_path / "h")
    assert log.verify() == [] and log.entries() == [] and log.head() is None
    log.record_training(make_run(1), "# report\n")
    assert [e["seq"] for e in log.entries()] == [1]
    assert (log.directory / ".history.lock").exists()
    assert ".history.lock" in (log.directory / ".gitignore").read_text(encoding="utf-8")
    assert log.verify() == []


CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_history import make_run
    from mlops.history import HistoryLog
    from mlops.report import render_report
    number, directory, go = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    run = make_run(number)
    markdown = render_report(run)
    (go.parent / f"ready-{{number}}").touch()  # imported and rendered: only the append itself is left
    while not go.exists():
        time.sleep(0.001)
    HistoryLog(directory).record_training(run, markdown)
    """
)


def test_concurrent_appends_from_eight_processes_keep_one_chain(tmp_path: Path) -> None:
    # GIVEN eight processes ready to record a run each into the same history
    directory, go = tmp_path / "training_history", tmp_path / "go"
    script = CHILD.format(tests=str(Path(__file__).parent))
    root = str(Path(mlops.__file__).parent.parent)
    children = [
        subprocess.Popen([sys.executable, "-c", script, str(n), str(directory), str(go)], cwd=root)
        for n in range(1, 9)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < 8:  # every child at the starting line
        assert time.monotonic() < deadline, "the children did not get ready"
        assert all(child.poll() is None for child in children), "a child ended before the start"
        time.sleep(0.01)
    # WHEN they all start at once
    go.touch()
    assert [child.wait(timeout=60) for child in children] == [0] * 8
    # THEN the chain is intact, numbered 1..8, one record per run
    log = HistoryLog(directory)
    assert log.verify() == []
    entries = log.entries()
    assert [e["seq"] for e in entries] == list(range(1, 9))
    assert sorted(e["id"] for e in entries) == [f"train-20250110-12345{n}" for n in range(1, 9)]
