"""The model registry's rules, whatever holds the records (SQLite locally, SageMaker Model Registry on AWS).

Versions are semantic tags: the first is v1.0.0, and each new one bumps the model's newest version: MAJOR when
the algorithm changed, MINOR when the hyperparameters changed, PATCH for a retrain with the same settings.

Status of a version: "registering" (version reserved, artifacts being copied), "registered" (complete; may be
made current), "rolled_back" (was rolled away from; can still be made current again by naming it).

"Previous" version of the current one: the version that was current when the current one was registered
(kept in its record as `previous_version`, and returned by `register`). If that version has since been rolled
away from (or is unfinished), take *its* previous one, and so on; a deleted link ends the chain. So:
- an automatic rollback after a failed verification restores exactly what was serving before;
- rolling back twice walks back through what was served, never onto a version that was rolled away from;
- after rolling back by name to an old version, its previous is its own predecessor from registration time,
  and newer versions skipped by that rollback stay registered but are reached only by naming them;
- with no current version there is no previous one.
The same rule decides what retention protects: the current version and its previous one.
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from mlops import __version__
from mlops.errors import RegistryError
from mlops.pipeline.artifacts import stage_training_output
from mlops.pipeline.models import ModelRef
from mlops.ports import ArtifactStore, RegistryBackend
from mlops.request import MODEL_ID, VERSION
from mlops.scalars import shown
from mlops.suggest import did_you_mean

FIRST_VERSION = (1, 0, 0)
MIN_KEEP = 5
METADATA_FILE = "model_metadata.json"

REGISTERING, REGISTERED, ROLLED_BACK = "registering", "registered", "rolled_back"
MUTABLE_FIELDS = ("status", "previous_version", "verified")  # everything else is frozen into model_metadata.json

Version = tuple[int, int, int]


class RegistryStorage(RegistryBackend, Protocol):
    """A RegistryBackend that also keeps the rollback log."""

    def add_rollback(self, record: dict[str, Any]) -> None: ...
    def rollbacks(self, model_id: str) -> list[dict[str, Any]]: ...


# --- semantic versions ---------------------------------------------------------------------------------


def parse_version(text: str) -> Version:
    """'v1.10.0' -> (1, 10, 0). A missing leading 'v' is accepted, as the request form allows it."""
    match = VERSION.match(text.strip())
    if not match:
        raise RegistryError(f"version: {shown(text)} is not a semantic version; write it like v1.2.0")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def format_version(version: Version) -> str:
    return "v{}.{}.{}".format(*version)


def sort_versions(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Oldest first, numerically: v1.9.0 before v1.10.0."""
    return sorted(records, key=lambda record: parse_version(record["version"]))


def bump(newest: dict[str, Any], algorithm: str, hyperparameters: dict[str, Any]) -> Version:
    major, minor, patch = parse_version(newest["version"])
    if newest["algorithm"] != algorithm:
        return major + 1, 0, 0
    if newest["hyperparameters"] != _plain(hyperparameters):
        return major, minor + 1, 0
    return major, minor, patch + 1


def previous_version(records: list[dict[str, Any]], current: str | None) -> str | None:
    """The rollback target of `current`: follow `previous_version` links to the first usable version."""
    by_version = {record["version"]: record for record in records}
    seen = {current}
    link = by_version[current].get("previous_version") if current in by_version else None
    while link in by_version and link not in seen:  # links only point back in time; `seen` is a safety net
        if by_version[link]["status"] == REGISTERED:
            return str(link)
        seen.add(link)
        link = by_version[link].get("previous_version")
    return None


# --- the registry --------------------------------------------------------------------------------------


class ModelRegistry:
    def __init__(self, backend: RegistryStorage, store: ArtifactStore, keep: int = MIN_KEEP) -> None:
        self.backend = backend
        self.store = store
        self.keep = max(MIN_KEEP, keep)  # the spec's floor: at least five generations, whatever is configured

    # --- register --------------------------------------------------------------------------------------

    def register(
        self,
        *,
        model_id: str,
        training_id: str,
        algorithm: str,
        learning_type: str,
        task: str | None,
        hyperparameters: dict[str, Any],
        metrics: dict[str, Any],
        metric: str,
        data_digest: str,
        issue: dict[str, Any],
        source_dir: Path,
        explicit_version: str | None = None,
    ) -> tuple[ModelRef, str | None]:
        """Register the model in `source_dir` as a new version and make it current.

        Returns the new version and the version that was current before. Idempotent per training_id: a run
        that registered and was killed gets its existing version back (finishing the copy if it was cut off).
        """
        _check_model_id(model_id)
        fields = {
            "model_id": model_id,
            "training_id": training_id,
            "algorithm": algorithm,
            "learning_type": learning_type,
            "task": task,
            "hyperparameters": _plain(hyperparameters),
            "metrics": _plain(metrics),
            "metric": metric,
            "data_digest": data_digest,
            "issue": _plain(issue),
        }
        existing = self.backend.find_by_training(training_id)
        if existing is not None and existing["status"] != REGISTERING:
            return _ref(existing), existing.get("previous_version")  # done before: a resumed run's retry
        _check_source(Path(source_dir))  # before reserving: a bad directory must not use up a version
        record = self._reserve(fields, explicit_version)
        if record["status"] == REGISTERING:  # also when resuming a copy that was cut off
            self._copy_artifacts(record, Path(source_dir))
            record = self._promote(record)
        self.prune(model_id)
        return _ref(record), record.get("previous_version")

    def register_training_output(self, *, output_key: str, **fields: Any) -> tuple[ModelRef, str | None]:
        """`register` the model a training job stored under `output_key` (its model.tar.gz and output.tar.gz),
        unpacked as a version holds it: the model's files, evaluation.json and plots/."""
        with tempfile.TemporaryDirectory(prefix="mlops-register-") as staging:
            stage_training_output(self.store, output_key, Path(staging))
            return self.register(source_dir=Path(staging), **fields)

    def _reserve(self, fields: dict[str, Any], explicit_version: str | None) -> dict[str, Any]:
        """Choose the version and insert the record, atomically with respect to other processes."""
        with self.backend.locked(fields["model_id"]):
            existing = self.backend.find_by_training(fields["training_id"])
            if existing is not None:
                return existing
            version = self._next_version(fields, explicit_version)
            record = {
                **fields,
                "version": version,
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "artifact_key": artifact_key(fields["model_id"], version),
                "mlops_version": __version__,
                "status": REGISTERING,
                "verified": False,  # until its run's Verify step has loaded it back: retention spares it
            }
            self.backend.insert(record)
            return record

    def _next_version(self, fields: dict[str, Any], explicit_version: str | None) -> str:
        records = sort_versions(self.backend.versions(fields["model_id"]))
        newest = records[-1] if records else None
        if explicit_version is not None:
            return _checked_explicit(explicit_version, newest)
        if newest is None:
            return format_version(FIRST_VERSION)
        return format_version(bump(newest, fields["algorithm"], fields["hyperparameters"]))

    def _copy_artifacts(self, record: dict[str, Any], source_dir: Path) -> None:
        """Outside the lock: copying a large model must not hold the database's write lock.

        The store refuses different bytes under an existing key and accepts identical ones, so a resumed run
        finishing an interrupted copy is safe, and the metadata is rebuilt identically from the stored record.
        """
        self.store.put_tree(record["artifact_key"], source_dir)
        self.store.put_bytes(record["artifact_key"] + METADATA_FILE, metadata_bytes(record))

    def _promote(self, record: dict[str, Any]) -> dict[str, Any]:
        model_id, version = record["model_id"], record["version"]
        with self.backend.locked(model_id):
            stored = self.backend.find_by_training(record["training_id"])
            if stored is not None and stored["status"] != REGISTERING:
                return stored  # a second resumed copy of this run promoted it already
            finished = {"status": REGISTERED, "previous_version": self.backend.current(model_id)}
            self.backend.update(model_id, version, finished)
            self.backend.set_current(model_id, version)
        return {**record, **finished}

    # --- rollback --------------------------------------------------------------------------------------

    def rollback(
        self, model_id: str, to: str | None = None, *, actor: str, reason: str, automatic: bool = False
    ) -> dict[str, Any]:
        """Make `to` (default: the previous version) current and record who rolled back, when and why.

        The version rolled away from gets status "rolled_back". An automatic rollback of a model that has no
        previous version (its first version failed verification) leaves it with no current version at all,
        so nothing unverified is served; an operator cannot do that by hand, they must name a version.
        """
        with self.backend.locked(model_id):
            records = self._records(model_id)
            current = self.backend.current(model_id)
            target = self._rollback_target(model_id, records, current, to, automatic)
            entry = {
                "model_id": model_id,
                "from_version": current,
                "to_version": target,
                "actor": actor,
                "reason": reason,
                "automatic": automatic,
                "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            self._switch_current(model_id, current, target)
            self.backend.add_rollback(entry)
        return entry

    def _rollback_target(
        self,
        model_id: str,
        records: list[dict[str, Any]],
        current: str | None,
        to: str | None,
        automatic: bool,
    ) -> str | None:
        if to is not None:
            return self._named_target(model_id, records, current, to)
        previous = previous_version(records, current)
        if previous is not None or (automatic and current is not None):
            return previous
        if current is None:
            raise RegistryError(f"rollback: {model_id} has no current version to roll back from")
        raise RegistryError(
            f"rollback: {model_id} has no version before {current} to roll back to "
            f"(versions: {', '.join(r['version'] for r in records)})"
        )

    def _named_target(
        self, model_id: str, records: list[dict[str, Any]], current: str | None, to: str
    ) -> str:
        target = self._find(model_id, records, to)
        if target["version"] == current:
            raise RegistryError(f"rollback: {to} is already the current version of {model_id}")
        if target["status"] == REGISTERING:
            raise RegistryError(f"rollback: {model_id} {to} is still being registered")
        return str(target["version"])

    def _switch_current(self, model_id: str, current: str | None, target: str | None) -> None:
        if current is not None:
            self.backend.update(model_id, current, {"status": ROLLED_BACK})
        if target is not None:
            # a version brought back by name is in service again, so it is a valid rollback target once more
            self.backend.update(model_id, target, {"status": REGISTERED})
        self.backend.set_current(model_id, target)

    # --- reading ---------------------------------------------------------------------------------------

    def versions(self, model_id: str) -> list[dict[str, Any]]:
        """Every version of the model, oldest first, each record with `current: bool` added.

        A model never registered simply has no versions (a run that has not passed its gate yet, say).
        """
        current = self.backend.current(model_id)
        records = sort_versions(self.backend.versions(model_id))
        return [{**record, "current": record["version"] == current} for record in records]

    def current(self, model_id: str) -> str | None:
        return self.backend.current(model_id)

    def show(self, model_id: str, version: str | None = None) -> dict[str, Any]:
        """One version's record (default: the current one, else the newest) with `current: bool` and
        `previous`: the version a rollback from it would go to."""
        records = self._records(model_id)
        current = self.backend.current(model_id)
        chosen = self._find(model_id, records, version or current or records[-1]["version"])
        extra = {
            "current": chosen["version"] == current,
            "previous": previous_version(records, chosen["version"]),
        }
        return {**chosen, **extra}

    def models(self) -> list[dict[str, Any]]:
        return [self._summary(model_id) for model_id in self.backend.models()]

    def rollbacks(self, model_id: str) -> list[dict[str, Any]]:
        """The model's rollback records, oldest first."""
        self._records(model_id)  # an unknown model is an error, not an empty history
        return self.backend.rollbacks(model_id)

    def _summary(self, model_id: str) -> dict[str, Any]:
        records = sort_versions(self.backend.versions(model_id))
        return {
            "model_id": model_id,
            "current": self.backend.current(model_id),
            "versions": len(records),
            "latest": records[-1]["version"] if records else None,
        }

    def _records(self, model_id: str) -> list[dict[str, Any]]:
        """The model's records oldest first; an unknown model is an error with a suggestion."""
        records = sort_versions(self.backend.versions(model_id))
        if not records:
            known = self.backend.models()
            hint = did_you_mean(model_id, known) if known else " (no models are registered yet)"
            raise RegistryError(f"registry: unknown model {shown(model_id)}{hint}")
        return records

    @staticmethod
    def _find(model_id: str, records: list[dict[str, Any]], version: str) -> dict[str, Any]:
        wanted = format_version(parse_version(version))
        for record in records:
            if record["version"] == wanted:
                return record
        available = ", ".join(r["version"] for r in records)
        raise RegistryError(f"registry: {model_id} has no version {version} (available: {available})")

    def mark_verified(self, model_id: str, version: str) -> None:
        """The version's run loaded it back and it reproduced its evaluation; retention may now count it."""
        self.backend.update(model_id, version, {"verified": True})
        self.prune(model_id)

    # --- retention -------------------------------------------------------------------------------------

    def prune(self, model_id: str) -> list[str]:
        """Delete the oldest generations beyond `keep`, sparing the current version and its previous one.

        The newest `keep` versions are always kept; protected versions among the old ones are kept too, so a
        model rolled back to an old version can hold more than `keep` generations. Returns what was deleted.
        """
        with self.backend.locked(model_id):
            doomed = self._expired(model_id)
            for record in doomed:
                self.backend.delete(model_id, record["version"])
        # records first: a crash now leaves stray files, never a version whose artifacts are gone
        for record in doomed:
            self.store.delete_prefix(record["artifact_key"])
        return [record["version"] for record in doomed]

    def _expired(self, model_id: str) -> list[dict[str, Any]]:
        records = sort_versions(self.backend.versions(model_id))
        current = self.backend.current(model_id)
        protected = {current, previous_version(records, current)}
        oldest = records[: max(0, len(records) - self.keep)]
        return [record for record in oldest if record["version"] not in protected and not _in_flight(record)]


# --- helpers -------------------------------------------------------------------------------------------


def _in_flight(record: dict[str, Any]) -> bool:
    """Still being copied in, or registered but not yet verified by its run: deleting it now would fail a run
    that did nothing wrong (with ten runs at once, an older version can still be copying while newer ones
    are promoted and prune)."""
    return record["status"] == REGISTERING or (record["status"] == REGISTERED and record.get("verified") is False)


def artifact_key(model_id: str, version: str) -> str:
    return f"models/{model_id}/{version}/"


def metadata_bytes(record: dict[str, Any]) -> bytes:
    """model_metadata.json: the frozen part of the record, byte-identical however often it is rebuilt."""
    frozen = {key: value for key, value in record.items() if key not in MUTABLE_FIELDS}
    return (json.dumps(frozen, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _checked_explicit(requested: str, newest: dict[str, Any] | None) -> str:
    version = parse_version(requested)
    if newest is not None and version <= parse_version(newest["version"]):
        raise RegistryError(
            f"version: {format_version(version)} must be greater than the newest version, {newest['version']}"
        )
    return format_version(version)


def _check_source(source_dir: Path) -> None:
    if not source_dir.is_dir():
        raise RegistryError(f"register: the model directory {source_dir} does not exist")
    if (source_dir / METADATA_FILE).exists():  # the registry owns that name
        raise RegistryError(f"register: {source_dir} already holds a {METADATA_FILE}; the registry writes it")


def _check_model_id(model_id: str) -> None:
    if not MODEL_ID.match(model_id):
        raise RegistryError(
            f"model_id: '{model_id}' must be lower-case letters, digits and '-' (at most 63, as on SageMaker)"
        )


def _ref(record: dict[str, Any]) -> ModelRef:
    return ModelRef(
        model_id=record["model_id"],
        version=record["version"],
        artifact_key=record["artifact_key"],
        registry_arn=record.get("registry_arn"),  # where the backend keeps the version (SageMaker), if elsewhere
    )


def _plain(value: Any) -> Any:
    """JSON-shaped copy (tuples to lists, numpy scalars to numbers), so comparisons match what was stored."""
    return json.loads(json.dumps(value, default=_jsonable))


def _jsonable(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    return item() if callable(item) else str(value)
