"""The tamper-evident training history (FR-012, NFR-005): reports committed under `training_history/`.

Layout of the directory:

    <training_id>.md                  the report (mlops.report.render_report)
    <training_id>/<plot>.png          its plots; the report's image links point here
    <training_id>.json                the JSON twin plus the chain fields below
    rollback-<model_id>-<UTC stamp>.md / .json   a rollback record, in the same chain
    .history.lock, .gitignore         the append lock, and the file that keeps it out of commits

Every JSON record carries `seq` (1, 2, ...), `prev_sha256` (the previous record's `sha256`; "0"*64 for
the first), `markdown_sha256`, `plots_sha256` ({path relative to the directory: sha256}) and `sha256`: the
SHA-256 of the record's canonical JSON without the `sha256` field itself. Editing any byte of a record, its
Markdown or a plot, deleting a record or inserting one breaks the chain, and `verify` names the first record
where it breaks.

The chain has no key. Whoever can write the directory can edit a report, recompute the hashes of its record and
of every later one, and `verify` passes; deleting the newest records also leaves a shorter but consistent
chain. So the chain alone catches only edits that were not carried through it. The real check is a head kept
where that writer cannot reach: pass it as `verify(expect_head=...)` (`mlops history verify --expect-head`),
which fails unless the chain still ends at that record. `head()` gives the value to keep; the planned witnesses
are the run's GitHub status comment and, on AWS, an S3 Object Lock copy of each record.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlops.errors import HistoryTampered, RunStateError
from mlops.pipeline.models import RunState, utcnow
from mlops.report import render_rollback, report_json

GENESIS = "0" * 64
LOCK_NAME = ".history.lock"
GITIGNORE = f"{LOCK_NAME}\n.*.tmp\n"
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
IGNORED_FILES = {"README.md"}  # a directory README is documentation, not a record


def canonical_json(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: Mapping[str, Any]) -> str:
    """The SHA-256 of the record's canonical JSON without its own `sha256` field."""
    return hashlib.sha256(canonical_json({k: v for k, v in record.items() if k != "sha256"})).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


Plot = Path | bytes  # a file, or its content (then its name carries the suffix)


def plot_links(training_id: str, plots: Mapping[str, Plot]) -> list[str]:
    """The report-relative paths `record_training` will store `plots` at: pass them to render_report."""
    return [f"{training_id}/{plot_file_name(name, source)}" for name, source in plots.items()]


def plot_file_name(name: str, source: Plot) -> str:
    """`confusion_matrix` + `x.png` -> `confusion_matrix.png`; anything unsafe in a file name becomes `-`."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "plot"
    suffix = source.suffix if isinstance(source, Path) else ""
    return stem if Path(stem).suffix else stem + (suffix or ".png")


@dataclass(frozen=True)
class Entry:
    """One append before it is chained: the record's body (kind, id, content), its Markdown and its plots. Built
    the same way for every history (this directory, or S3 in mlops.backends.aws.history), so both hold the same
    files with the same bytes."""

    body: dict[str, Any]
    markdown: bytes
    plots: dict[str, bytes]  # path relative to the history directory: content

    @property
    def id(self) -> str:
        return str(self.body["id"])

    @property
    def markdown_name(self) -> str:
        return f"{self.id}.md"

    @property
    def record_name(self) -> str:
        return f"{self.id}.json"

    def files(self) -> dict[str, bytes]:
        """What an append writes before its record: the Markdown and the plots, by relative path."""
        return {self.markdown_name: self.markdown, **self.plots}

    def chained(self, seq: int, prev_sha256: str) -> dict[str, Any]:
        """The record as the `seq`-th link after `prev_sha256`, its own `sha256` last."""
        record = {
            **self.body,
            "seq": seq,
            "prev_sha256": prev_sha256,
            "recorded_at": utcnow().isoformat(),
            "markdown": self.markdown_name,
            "markdown_sha256": hashlib.sha256(self.markdown).hexdigest(),
            "plots_sha256": {link: hashlib.sha256(data).hexdigest() for link, data in self.plots.items()},
        }
        record["sha256"] = record_hash(record)
        return record


def training_entry(run: RunState, markdown: str, plots: Mapping[str, Plot]) -> Entry:
    """The run's report as an append: its JSON twin, the Markdown, the plots under `<training_id>/`."""
    _require_safe_name(run.training_id)
    files = {
        link: source if isinstance(source, bytes) else Path(source).read_bytes()
        for link, source in zip(plot_links(run.training_id, plots), plots.values(), strict=True)
    }
    body = {**report_json(run), "kind": "training", "id": run.training_id}
    return Entry(body, markdown.encode(), files)


def rollback_fields(rollback: Mapping[str, Any]) -> dict[str, Any]:
    """A rollback (model_id, from_version, to_version, actor, reason, automatic, at) as plain JSON values."""
    return _json_safe({**rollback, "at": rollback.get("at") or utcnow()})


def rollback_entry(fields: dict[str, Any], record_id: str, lang: str) -> Entry:
    """`fields` from rollback_fields, recorded as `record_id` (rollback_id, or a free variant of it)."""
    return Entry({**fields, "kind": "rollback", "id": record_id}, render_rollback(fields, lang).encode(), {})


def check_same_report(record: Mapping[str, Any], entry: Entry, where: str) -> None:
    """A retried append of a recorded report passes; a different report for the same id is refused."""
    if record.get("markdown_sha256") != hashlib.sha256(entry.markdown).hexdigest():
        raise RunStateError(
            f"{entry.id} is already recorded in {where} (seq {record.get('seq')}); "
            "a recorded report is never rewritten"
        )


@dataclass
class _Loaded:
    """One record JSON file of the directory, parsed."""

    path: Path
    record: dict[str, Any]

    @property
    def seq(self) -> int:
        return int(self.record["seq"])

    @property
    def name(self) -> str:
        return self.path.name


class HistoryLog:
    """Append-only, hash-chained history of training runs and rollbacks in one directory."""

    def __init__(self, directory: Path = Path("training_history")) -> None:
        self.directory = Path(directory)

    def report_location(self, training_id: str) -> str:
        """Where `record_training` puts the run's report."""
        return str(self.directory / f"{training_id}.md")

    def record_training(self, run: RunState, markdown: str, plots: Mapping[str, Plot] | None = None) -> Path:
        """Store the run's report, plots and JSON twin as the next record; returns the report's path.

        Recording the same run again with the same report is a no-op (a retried Publish); with a different
        report it is refused, because a recorded report is never rewritten.
        """
        entry = training_entry(run, markdown, plots or {})
        with self._locked():
            existing = self.directory / entry.record_name
            if existing.exists():
                return self._already_recorded(existing, entry)
            return self._append(entry)

    def record_rollback(self, rollback: Mapping[str, Any], lang: str = "ja") -> Path:
        """Record a rollback (model_id, from_version, to_version, actor, reason, automatic, at).

        Returns the path of its Markdown; `lang` is the language of that Markdown (ja or en).
        """
        fields = rollback_fields(rollback)
        with self._locked():
            record_id = self._free_id(rollback_id(fields))
            return self._append(rollback_entry(fields, record_id, lang))

    def verify(self, expect_head: str | None = None) -> list[str]:
        """Problems with the chain, the record where it first breaks first; empty when it is intact."""
        loaded, problems = self._load_all()
        problems += _chain_problems(self.directory, loaded)
        problems += self._stray_files(loaded)
        if expect_head is not None:
            problems += _head_problems(loaded, expect_head)
        return problems

    def check(self, expect_head: str | None = None) -> None:
        """verify(), raising HistoryTampered with every problem when there is one."""
        if problems := self.verify(expect_head):
            raise HistoryTampered(f"{self.directory}: the history does not match its hash chain", problems)

    def entries(self) -> list[dict[str, Any]]:
        """One summary per record in chain order: kind, seq, id, status, model, version, recorded_at, file."""
        loaded, _ = self._load_all()
        return [_entry(item) for item in sorted(loaded, key=lambda item: item.seq)]

    def head(self) -> dict[str, Any] | None:
        """The newest record's seq, id and sha256: remember it elsewhere to detect a truncated history."""
        loaded, _ = self._load_all()
        if not loaded:
            return None
        last = max(loaded, key=lambda item: item.seq).record
        return {"seq": last["seq"], "id": last.get("id"), "sha256": last.get("sha256")}

    # -- appending (always under the lock) --

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the directory's lock: appenders read the tail one at a time, so the chain never forks."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / LOCK_NAME).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._ensure_gitignore()
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _ensure_gitignore(self) -> None:
        path = self.directory / ".gitignore"
        if not path.exists():
            write_atomic(path, GITIGNORE.encode())

    def _append(self, entry: Entry) -> Path:
        """Write the Markdown and plots, then the JSON record last: the record is the commit point of an append."""
        for relative, data in entry.files().items():
            write_atomic(self.directory / relative, data)
        seq, prev = self._tail()
        write_atomic(self.directory / entry.record_name, pretty_json(entry.chained(seq + 1, prev)))
        return self.directory / entry.markdown_name

    def _tail(self) -> tuple[int, str]:
        loaded, _ = self._load_all()
        if not loaded:
            return 0, GENESIS
        last = max(loaded, key=lambda item: item.seq)
        return last.seq, str(last.record.get("sha256", ""))

    def _already_recorded(self, existing: Path, entry: Entry) -> Path:
        record = json.loads(existing.read_text(encoding="utf-8"))
        check_same_report(record, entry, str(self.directory))
        return self.directory / str(record["markdown"])

    def _free_id(self, wanted: str) -> str:
        """`wanted`, or `wanted-2`, `wanted-3`... when two rollbacks of a model fall in the same second."""
        candidate, number = wanted, 1
        while any((self.directory / f"{candidate}{suffix}").exists() for suffix in (".json", ".md")):
            number += 1
            candidate = f"{wanted}-{number}"
        return candidate

    # -- reading --

    def _load_all(self) -> tuple[list[_Loaded], list[str]]:
        """Every record JSON of the directory, and one problem per file that is not a readable record."""
        loaded, problems = [], []
        for path in sorted(self.directory.glob("*.json")) if self.directory.is_dir() else []:
            if path.name.startswith("."):
                continue
            try:
                item = _Loaded(path, json.loads(path.read_text(encoding="utf-8")))
                item.seq  # noqa: B018 - raises when `seq` is missing or not a number
                loaded.append(item)
            except (ValueError, KeyError, TypeError) as exc:
                problems.append(f"{path.name}: not a readable history record ({type(exc).__name__}: {exc})")
        return loaded, problems

    def _stray_files(self, loaded: list[_Loaded]) -> list[str]:
        """Files that no record accounts for: inserted by hand, or left by an interrupted write."""
        known = {item.name for item in loaded} | IGNORED_FILES
        for item in loaded:
            known.add(str(item.record.get("markdown")))
            known.update(_plots_of(item.record))
        return [
            f"{relative}: not part of any record (inserted, or left by an interrupted write)"
            for relative in _listed_files(self.directory)
            if relative not in known
        ]


def _chain_problems(directory: Path, loaded: list[_Loaded]) -> list[str]:
    """Walk the records in seq order and report, record by record, where the chain does not hold."""
    problems: list[str] = []
    previous: _Loaded | None = None
    for seq, candidates in _by_seq(loaded):
        expected = previous.seq + 1 if previous else 1
        chosen = _genuine(candidates, previous, loaded)
        problems += [
            f"{other.name}: also claims seq {seq} (held by {chosen.name}): an inserted record"
            for other in candidates
            if other is not chosen
        ]
        if seq != expected:
            problems.append(
                f"{chosen.name}: seq {seq} follows seq {expected - 1}: record(s) deleted before it"
            )
        problems += _link_problems(chosen, previous)
        problems += _content_problems(directory, chosen)
        previous = chosen
    return problems


def _by_seq(loaded: list[_Loaded]) -> list[tuple[int, list[_Loaded]]]:
    seqs = sorted({item.seq for item in loaded})
    return [(seq, [item for item in loaded if item.seq == seq]) for seq in seqs]


def _genuine(candidates: list[_Loaded], previous: _Loaded | None, loaded: list[_Loaded]) -> _Loaded:
    """Of records claiming one seq, the one the chain runs through: the next record links to it, or it links
    to the previous one and is intact."""
    linked_from_next = {
        str(item.record.get("prev_sha256")) for item in loaded if item.seq == candidates[0].seq + 1
    }
    prev_sha = previous.record.get("sha256") if previous else GENESIS

    def score(item: _Loaded) -> tuple[bool, bool, bool]:
        sha = item.record.get("sha256")
        return (
            sha in linked_from_next,
            item.record.get("prev_sha256") == prev_sha,
            record_hash(item.record) == sha,
        )

    return max(candidates, key=score)  # max keeps the first of equals: files are in name order


def _link_problems(item: _Loaded, previous: _Loaded | None) -> list[str]:
    problems = []
    if record_hash(item.record) != item.record.get("sha256"):
        problems.append(f"{item.name}: edited (its content no longer matches its sha256)")
    prev_sha = previous.record.get("sha256") if previous else GENESIS
    if item.record.get("prev_sha256") != prev_sha:
        before = previous.name if previous else "the start of the chain"
        problems.append(
            f"{item.name}: prev_sha256 does not match {before}, the record before it: that record "
            "was edited, or records were inserted or deleted between them"
        )
    return problems


def _content_problems(directory: Path, item: _Loaded) -> list[str]:
    """The record's Markdown and plots must still hash to what the record says."""
    expected = {str(item.record.get("markdown")): item.record.get("markdown_sha256")}
    expected.update(_plots_of(item.record))
    problems = []
    for relative, sha in expected.items():
        path = directory / relative
        if not _inside(directory, path) or not path.is_file():
            problems.append(f"{item.name}: {relative} is missing (deleted)")
        elif sha256_file(path) != sha:
            problems.append(f"{item.name}: {relative} was edited (its sha256 no longer matches the record)")
    return problems


def _head_problems(loaded: list[_Loaded], expect_head: str) -> list[str]:
    shas = [item.record.get("sha256") for item in sorted(loaded, key=lambda item: item.seq)]
    if shas and shas[-1] == expect_head:
        return []
    if expect_head in shas:
        seq = shas.index(expect_head) + 1
        return [f"records were appended after the expected head {expect_head[:12]}… (seq {seq})"]
    return [
        f"the expected head {expect_head[:12]}… is not in the history: newer records were deleted or edited"
    ]


def _plots_of(record: Mapping[str, Any]) -> dict[str, Any]:
    plots = record.get("plots_sha256")
    return dict(plots) if isinstance(plots, dict) else {}


def _listed_files(directory: Path) -> list[str]:
    """Every non-hidden file under the directory, relative to it, in POSIX form."""
    if not directory.is_dir():
        return []
    files = (path.relative_to(directory) for path in directory.rglob("*") if path.is_file())
    return sorted(p.as_posix() for p in files if not any(part.startswith(".") for part in p.parts))


def _inside(directory: Path, path: Path) -> bool:
    """A tampered record must not make verify read files outside the history (`../../etc/passwd`)."""
    return path.resolve().is_relative_to(directory.resolve())


def _entry(item: _Loaded) -> dict[str, Any]:
    record = item.record
    entry = {
        "kind": record.get("kind"),
        "seq": record.get("seq"),
        "id": record.get("id"),
        "recorded_at": record.get("recorded_at"),
        "file": record.get("markdown"),
    }
    if record.get("kind") == "rollback":
        return {
            **entry,
            "status": "rolled_back",
            "model": record.get("model_id"),
            "version": record.get("to_version"),
            "from_version": record.get("from_version"),
        }
    model = record.get("model") or {}
    request = record.get("request") or {}
    return {
        **entry,
        "status": record.get("outcome") or record.get("status"),
        "model": model.get("model_id") or request.get("model_id"),
        "version": model.get("version"),
    }


def rollback_id(fields: Mapping[str, Any]) -> str:
    model = (
        re.sub(r"[^A-Za-z0-9._-]+", "-", str(fields.get("model_id") or "model")).strip(".-")[:100] or "model"
    )
    return f"rollback-{model}-{_stamp(fields.get('at'))}"


def _stamp(at: Any) -> str:
    """`20250111T090000Z` for the rollback's time (now, when it is not a readable ISO time)."""
    try:
        moment = datetime.fromisoformat(str(at))
    except ValueError:
        moment = utcnow()
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _json_safe(value: Mapping[str, Any]) -> dict[str, Any]:
    """Plain JSON values only (datetimes as ISO strings), so the record hashes the same after a round trip."""
    result: dict[str, Any] = json.loads(json.dumps(dict(value), default=_to_json, allow_nan=False))
    return result


def _to_json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _require_safe_name(name: str) -> None:
    if not SAFE_NAME.match(name) or ".." in name:
        raise ValueError(f"{name!r} cannot name a history file")


def pretty_json(record: Mapping[str, Any]) -> bytes:
    """Indented for people and diffs; the hash is over the canonical form, so layout does not matter."""
    return (json.dumps(record, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with temporary.open("wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
