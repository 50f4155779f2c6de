"""The model registry on real SQLite files: versions, idempotency, rollback, retention, concurrency."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from mlops.backends.local.registry_db import SqliteRegistryBackend
from mlops.backends.local.store import LocalArtifactStore
from mlops.errors import RegistryError
from mlops.registry import ModelRegistry

PARAMS = {"n_estimators": 100, "max_depth": 3}


def open_registry(home: Path, keep: int = 5) -> ModelRegistry:
    return ModelRegistry(
        SqliteRegistryBackend(home / "mlops.db"), LocalArtifactStore(home / "store"), keep=keep
    )


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return open_registry(tmp_path)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "trained"
    (directory / "extra").mkdir(parents=True)
    (directory / "model.joblib").write_bytes(b"weights")
    (directory / "extra" / "feature_names.json").write_text('["a", "b"]')
    return directory


def register(
    registry: ModelRegistry, source_dir: Path, training_id: str, verified: bool = True, **overrides: Any
) -> tuple[str, Any]:
    """Register with sensible defaults, then (as the pipeline's Verify does) mark it verified unless told not to;
    returns (version, previous current version)."""
    arguments: dict[str, Any] = {
        "model_id": "iris-rf",
        "training_id": training_id,
        "algorithm": "random_forest",
        "learning_type": "supervised",
        "task": "classification",
        "hyperparameters": PARAMS,
        "metrics": {"accuracy": 0.95},
        "metric": "accuracy",
        "data_digest": "sha256:abc",
        "issue": {"repository": "org/repo", "number": 7},
        "source_dir": source_dir,
        **overrides,
    }
    ref, previous = registry.register(**arguments)
    if verified:
        registry.mark_verified(ref.model_id, ref.version)
    return ref.version, previous


def register_cut_off(
    registry: ModelRegistry, source_dir: Path, training_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registration that dies after reserving its version, halfway through copying the model in: the first
    file (`extra/feature_names.json`) is in the store, `model.joblib` and the metadata are not."""
    copy_one_file = registry.store.put_file
    copied: list[str] = []

    def killed_after_the_first_file(key: str, source: Path) -> None:
        if copied:
            raise OSError("killed")
        copy_one_file(key, source)
        copied.append(key)

    with monkeypatch.context() as patched:
        patched.setattr(registry.store, "put_file", killed_after_the_first_file)
        with pytest.raises(OSError):
            register(registry, source_dir, training_id)
    assert copied == ["models/iris-rf/v1.0.0/extra/feature_names.json"]
    assert not registry.store.exists("models/iris-rf/v1.0.0/model.joblib")


def register_many(registry: ModelRegistry, source_dir: Path, count: int, start: int = 0) -> list[str]:
    return [register(registry, source_dir, f"train-{start + i}")[0] for i in range(count)]


# --- semantic versions ----------------------------------------------------------------------------------


def test_first_registration_is_v1_0_0_and_becomes_current(registry: ModelRegistry, model_dir: Path) -> None:
    assert register(registry, model_dir, "train-1") == ("v1.0.0", None)
    assert registry.current("iris-rf") == "v1.0.0"


def test_retrain_with_the_same_settings_bumps_the_patch(registry: ModelRegistry, model_dir: Path) -> None:
    register(registry, model_dir, "train-1")
    assert register(registry, model_dir, "train-2") == ("v1.0.1", "v1.0.0")


def test_changed_hyperparameters_bump_the_minor(registry: ModelRegistry, model_dir: Path) -> None:
    register(registry, model_dir, "train-1")
    register(registry, model_dir, "train-2")
    version, _ = register(registry, model_dir, "train-3", hyperparameters={**PARAMS, "max_depth": 5})
    assert version == "v1.1.0"


def test_another_algorithm_bumps_the_major(registry: ModelRegistry, model_dir: Path) -> None:
    register(registry, model_dir, "train-1", hyperparameters={"n_estimators": 10})
    version, _ = register(registry, model_dir, "train-2", algorithm="gradient_boosting")
    assert version == "v2.0.0"


def test_an_explicit_version_greater_than_all_is_used(registry: ModelRegistry, model_dir: Path) -> None:
    register(registry, model_dir, "train-1")
    assert register(registry, model_dir, "train-2", explicit_version="v3.2.1")[0] == "v3.2.1"
    assert register(registry, model_dir, "train-3", explicit_version="4.0.0")[0] == "v4.0.0"  # 'v' optional
    assert register(registry, model_dir, "train-4")[0] == "v4.0.1"  # bumps continue from the newest


@pytest.mark.parametrize("explicit", ["v1.0.0", "v0.9.0"])
def test_an_explicit_version_not_greater_than_the_newest_is_refused(
    registry: ModelRegistry, model_dir: Path, explicit: str
) -> None:
    register(registry, model_dir, "train-1")
    with pytest.raises(RegistryError, match=r"must be greater than the newest version, v1\.0\.0"):
        register(registry, model_dir, "train-2", explicit_version=explicit)
    assert [v["version"] for v in registry.versions("iris-rf")] == ["v1.0.0"]  # nothing half-registered


def test_an_explicit_version_that_is_not_semver_is_refused(registry: ModelRegistry, model_dir: Path) -> None:
    with pytest.raises(RegistryError, match=r"write it like v1\.2\.0"):
        register(registry, model_dir, "train-1", explicit_version="latest")


def test_versions_sort_numerically(registry: ModelRegistry, model_dir: Path) -> None:
    register(registry, model_dir, "train-1", explicit_version="v1.9.0")
    register(registry, model_dir, "train-2", explicit_version="v1.10.0")
    assert [v["version"] for v in registry.versions("iris-rf")] == ["v1.9.0", "v1.10.0"]
    assert register(registry, model_dir, "train-3")[0] == "v1.10.1"  # not v1.9.1: v1.10.0 is the newest


# --- registration ---------------------------------------------------------------------------------------


def test_registering_the_same_training_again_returns_the_existing_version(
    registry: ModelRegistry, model_dir: Path
) -> None:
    register(registry, model_dir, "train-1")
    first = register(registry, model_dir, "train-2")
    again = register(registry, model_dir, "train-2")  # a resumed run repeating its Register step
    assert again == first == ("v1.0.1", "v1.0.0")
    assert [v["training_id"] for v in registry.versions("iris-rf")] == ["train-1", "train-2"]


def test_a_registration_cut_off_while_copying_is_finished_by_the_retry(
    registry: ModelRegistry, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a run killed after its version was reserved, halfway through copying its model in
    register_cut_off(registry, model_dir, "train-1", monkeypatch)
    assert registry.current("iris-rf") is None  # an incomplete version is never served
    # WHEN it is resumed THEN it completes the same version instead of taking a second one
    assert register(registry, model_dir, "train-1") == ("v1.0.0", None)
    assert [(v["version"], v["status"]) for v in registry.versions("iris-rf")] == [("v1.0.0", "registered")]
    # AND the copy is whole: the file the cut-off run never copied and the metadata are there
    assert registry.store.get_bytes("models/iris-rf/v1.0.0/model.joblib") == b"weights"
    assert registry.store.exists("models/iris-rf/v1.0.0/model_metadata.json")


def test_artifacts_and_metadata_land_under_models_id_version(
    registry: ModelRegistry, model_dir: Path
) -> None:
    register(registry, model_dir, "train-1")
    assert registry.store.list("models/iris-rf/v1.0.0/") == [
        "models/iris-rf/v1.0.0/extra/feature_names.json",
        "models/iris-rf/v1.0.0/model.joblib",
        "models/iris-rf/v1.0.0/model_metadata.json",
    ]
    metadata = json.loads(registry.store.get_bytes("models/iris-rf/v1.0.0/model_metadata.json"))
    assert metadata["model_id"] == "iris-rf" and metadata["version"] == "v1.0.0"
    assert metadata["training_id"] == "train-1" and metadata["algorithm"] == "random_forest"
    assert metadata["hyperparameters"] == PARAMS and metadata["metrics"] == {"accuracy": 0.95}
    assert metadata["issue"] == {"repository": "org/repo", "number": 7}
    assert metadata["artifact_key"] == "models/iris-rf/v1.0.0/"
    assert metadata["mlops_version"]
    assert datetime.fromisoformat(metadata["created_at"]).utcoffset() == timezone.utc.utcoffset(None)


def test_a_model_directory_with_its_own_metadata_file_is_refused(
    registry: ModelRegistry, model_dir: Path
) -> None:
    (model_dir / "model_metadata.json").write_text("{}")
    with pytest.raises(RegistryError, match="the registry writes it"):
        register(registry, model_dir, "train-1")
    assert registry.versions("iris-rf") == []  # no version was used up


def test_an_invalid_model_id_is_refused(registry: ModelRegistry, model_dir: Path) -> None:
    with pytest.raises(RegistryError, match="model_id"):
        register(registry, model_dir, "train-1", model_id="../escape")


def test_listing_models_versions_and_show(registry: ModelRegistry, model_dir: Path) -> None:
    register_many(registry, model_dir, 2)
    register(registry, model_dir, "train-other", model_id="wine-svm")
    assert registry.models() == [
        {"model_id": "iris-rf", "current": "v1.0.1", "versions": 2, "latest": "v1.0.1"},
        {"model_id": "wine-svm", "current": "v1.0.0", "versions": 1, "latest": "v1.0.0"},
    ]
    versions = registry.versions("iris-rf")
    assert [(v["version"], v["current"], v["status"]) for v in versions] == [
        ("v1.0.0", False, "registered"),
        ("v1.0.1", True, "registered"),
    ]
    assert registry.show("iris-rf")["version"] == "v1.0.1"
    assert registry.show("iris-rf", "v1.0.0")["metrics"] == {"accuracy": 0.95}
    assert registry.versions("never-registered") == []


# --- rollback -------------------------------------------------------------------------------------------


def test_rollback_defaults_to_the_previous_version_and_is_recorded(
    registry: ModelRegistry, model_dir: Path
) -> None:
    register_many(registry, model_dir, 3)
    record = registry.rollback("iris-rf", actor="alice", reason="accuracy dropped in production")
    assert record["from_version"] == "v1.0.2" and record["to_version"] == "v1.0.1"
    assert record["actor"] == "alice" and record["automatic"] is False
    assert registry.current("iris-rf") == "v1.0.1"
    assert registry.show("iris-rf", "v1.0.2")["status"] == "rolled_back"
    assert registry.rollbacks("iris-rf") == [record]


def test_rolling_back_twice_walks_back_and_never_onto_a_rolled_back_version(
    registry: ModelRegistry, model_dir: Path
) -> None:
    register_many(registry, model_dir, 3)
    registry.rollback("iris-rf", actor="alice", reason="bad")
    registry.rollback("iris-rf", actor="alice", reason="also bad")
    assert registry.current("iris-rf") == "v1.0.0"
    with pytest.raises(RegistryError, match=r"no version before v1\.0\.0"):
        registry.rollback("iris-rf", actor="alice", reason="again")


def test_rollback_to_a_named_version(registry: ModelRegistry, model_dir: Path) -> None:
    register_many(registry, model_dir, 4)
    record = registry.rollback("iris-rf", "v1.0.0", actor="bob", reason="known good")
    assert (record["from_version"], record["to_version"]) == ("v1.0.3", "v1.0.0")
    assert registry.current("iris-rf") == "v1.0.0"


def test_after_a_named_rollback_a_new_version_falls_back_to_what_was_serving(
    registry: ModelRegistry, model_dir: Path
) -> None:
    # GIVEN an operator rolled back from v1.0.3 to v1.0.0, skipping v1.0.1 and v1.0.2
    register_many(registry, model_dir, 4)
    registry.rollback("iris-rf", "v1.0.0", actor="bob", reason="known good")
    # WHEN a new version is registered and then fails verification
    assert register(registry, model_dir, "train-new") == ("v1.0.4", "v1.0.0")
    record = registry.rollback("iris-rf", actor="pipeline", reason="verify failed", automatic=True)
    # THEN the automatic rollback restores v1.0.0, the version that was serving, not the skipped v1.0.2
    assert record["to_version"] == "v1.0.0" and record["automatic"] is True


def test_rollback_errors_name_the_problem(registry: ModelRegistry, model_dir: Path) -> None:
    register_many(registry, model_dir, 2)
    with pytest.raises(RegistryError, match="unknown model 'iris-fr' \\(did you mean 'iris-rf'\\?\\)"):
        registry.rollback("iris-fr", actor="a", reason="r")
    with pytest.raises(RegistryError, match=r"no version v9.0.0 \(available: v1.0.0, v1.0.1\)"):
        registry.rollback("iris-rf", "v9.0.0", actor="a", reason="r")
    with pytest.raises(RegistryError, match="already the current version"):
        registry.rollback("iris-rf", "v1.0.1", actor="a", reason="r")
    assert registry.current("iris-rf") == "v1.0.1"
    assert registry.rollbacks("iris-rf") == []


def test_a_single_version_cannot_be_rolled_back_by_hand(registry: ModelRegistry, model_dir: Path) -> None:
    register(registry, model_dir, "train-1")
    with pytest.raises(RegistryError, match=r"no version before v1\.0\.0 to roll back to"):
        registry.rollback("iris-rf", actor="alice", reason="r")
    assert registry.current("iris-rf") == "v1.0.0"


def test_a_failed_first_version_is_withdrawn_by_an_automatic_rollback(
    registry: ModelRegistry, model_dir: Path
) -> None:
    register(registry, model_dir, "train-1")
    record = registry.rollback("iris-rf", actor="pipeline", reason="verify failed", automatic=True)
    assert (record["from_version"], record["to_version"]) == ("v1.0.0", None)
    assert registry.current("iris-rf") is None
    with pytest.raises(RegistryError, match="no current version"):
        registry.rollback("iris-rf", actor="pipeline", reason="again", automatic=True)


def test_a_rolled_back_version_can_be_restored_by_name(registry: ModelRegistry, model_dir: Path) -> None:
    register_many(registry, model_dir, 2)
    registry.rollback("iris-rf", actor="a", reason="suspected regression")
    registry.rollback("iris-rf", "v1.0.1", actor="a", reason="false alarm")
    assert registry.current("iris-rf") == "v1.0.1"
    assert registry.show("iris-rf")["status"] == "registered"


# --- retention ------------------------------------------------------------------------------------------


def test_retention_keeps_the_newest_five_and_deletes_older_artifacts(
    registry: ModelRegistry, model_dir: Path
) -> None:
    register_many(registry, model_dir, 8)
    assert [v["version"] for v in registry.versions("iris-rf")] == [f"v1.0.{i}" for i in range(3, 8)]
    assert registry.store.list("models/iris-rf/v1.0.2/") == []
    assert registry.store.exists("models/iris-rf/v1.0.3/model.joblib")


def test_retention_never_deletes_the_rollback_target_even_beyond_keep(
    registry: ModelRegistry, model_dir: Path
) -> None:
    # GIVEN five versions and an operator who rolled back to the oldest
    register_many(registry, model_dir, 5)
    registry.rollback("iris-rf", "v1.0.0", actor="bob", reason="known good")
    # WHEN two more are registered (v1.0.5 fails verification in between)
    register(registry, model_dir, "train-5")
    registry.rollback("iris-rf", actor="pipeline", reason="verify failed", automatic=True)
    register(registry, model_dir, "train-6")
    # THEN v1.0.0, the version to roll back to, survives; only the oldest unprotected one went
    assert [v["version"] for v in registry.versions("iris-rf")] == [
        "v1.0.0", "v1.0.2", "v1.0.3", "v1.0.4", "v1.0.5", "v1.0.6",
    ]  # fmt: skip
    assert registry.show("iris-rf")["previous"] == "v1.0.0"
    assert registry.store.exists("models/iris-rf/v1.0.0/model.joblib")


def test_retention_spares_a_version_whose_run_has_not_verified_it_yet(
    registry: ModelRegistry, model_dir: Path
) -> None:
    # GIVEN a run that registered v1.0.0 and is still on its way to Verify
    register(registry, model_dir, "slow-run", verified=False)
    # WHEN six faster runs register and verify theirs
    register_many(registry, model_dir, 6)
    # THEN the slow run's version is still there for it to verify, and goes once it is verified
    assert registry.store.exists("models/iris-rf/v1.0.0/model.joblib")
    registry.mark_verified("iris-rf", "v1.0.0")
    assert "v1.0.0" not in [v["version"] for v in registry.versions("iris-rf")]


def test_retention_spares_a_version_still_being_copied_in(
    registry: ModelRegistry, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a run that reserved v1.0.0 and was cut off while copying its model in (as a slow copy looks to others)
    register_cut_off(registry, model_dir, "slow-copy", monkeypatch)
    # WHEN six faster runs register, promote and prune
    register_many(registry, model_dir, 6)
    # THEN the reserved version and what it copied so far survive, and the slow run still completes it
    assert registry.store.exists("models/iris-rf/v1.0.0/extra/feature_names.json")
    assert register(registry, model_dir, "slow-copy")[0] == "v1.0.0"
    assert registry.store.exists("models/iris-rf/v1.0.0/model.joblib")
    assert registry.store.exists("models/iris-rf/v1.0.0/model_metadata.json")


def test_retention_spares_an_old_current_version_and_its_previous(tmp_path: Path, model_dir: Path) -> None:
    # GIVEN seven versions (kept by a generous setting) and current rolled back to the second oldest
    register_many(open_registry(tmp_path, keep=10), model_dir, 7)
    registry = open_registry(tmp_path, keep=5)
    registry.rollback("iris-rf", "v1.0.1", actor="bob", reason="known good")
    # WHEN retention runs with keep=5
    deleted = registry.prune("iris-rf")
    # THEN the two oldest are beyond keep but are current and its previous, so nothing is deleted
    assert deleted == []
    assert len(registry.versions("iris-rf")) == 7


def test_the_database_refuses_to_delete_the_current_version(registry: ModelRegistry, model_dir: Path) -> None:
    register(registry, model_dir, "train-1")
    with pytest.raises(RegistryError, match="is current"):
        registry.backend.delete("iris-rf", "v1.0.0")


# --- concurrency ----------------------------------------------------------------------------------------

WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from mlops.backends.local.registry_db import SqliteRegistryBackend
    from mlops.backends.local.store import LocalArtifactStore
    from mlops.registry import ModelRegistry

    home, source, training_id = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    backend = SqliteRegistryBackend(home / "mlops.db")
    registry = ModelRegistry(backend, LocalArtifactStore(home / "store"), keep=50)
    (home / f"ready-{training_id}").touch()
    while not (home / "go").exists():  # start together, to collide as hard as possible
        time.sleep(0.0005)
    ref, previous = registry.register(
        model_id="iris-rf", training_id=training_id, algorithm="random_forest", learning_type="supervised",
        task="classification", hyperparameters={"n_estimators": 100}, metrics={"accuracy": 0.9},
        metric="accuracy", data_digest="d", issue={}, source_dir=source,
    )
    print(ref.version)
    """
)


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the worker processes did not start"
        time.sleep(0.01)


def test_ten_processes_registering_at_once_get_ten_distinct_versions(tmp_path: Path, model_dir: Path) -> None:
    # GIVEN ten separate processes waiting on one start signal
    home = tmp_path / "home"
    home.mkdir()
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(home), str(model_dir), f"train-{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(10)
    ]
    wait_for(lambda: len(list(home.glob("ready-*"))) == 10)
    # WHEN they all register the same model at the same moment
    (home / "go").touch()
    results = [worker.communicate(timeout=120) for worker in workers]
    # THEN every one succeeds with its own version, and the registry holds exactly those ten
    assert [worker.returncode for worker in workers] == [0] * 10, [err for _, err in results]
    versions = sorted((out.strip() for out, _ in results), key=lambda v: int(v.rsplit(".", 1)[1]))
    assert versions == [f"v1.0.{i}" for i in range(10)]
    registry = open_registry(home, keep=50)
    assert [v["version"] for v in registry.versions("iris-rf")] == versions
    assert {v["status"] for v in registry.versions("iris-rf")} == {"registered"}
    assert registry.current("iris-rf") in versions
