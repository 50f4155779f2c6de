"""GIVEN the services a command that only looks builds (status, runs list, models list/show), WHEN MLOPS_HOME has
nothing in it yet, THEN they answer as an empty home would and create nothing; WHEN it has a database, THEN they
read that database."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.errors import RegistryError, UsageError
from mlops.pipeline.models import RunState, new_training_id
from mlops.request import validate_request
from mlops.services import build_services
from mlops.settings import Settings

IRIS = {"learning_type": "supervised", "algorithm": "random_forest", "dataset_id": "iris", "evaluation_threshold": 0.8}


def settings_in(root: Path) -> Settings:
    return Settings(home=root / "home", history_dir=root / "history")


def test_looking_into_an_empty_home_answers_nothing_yet_and_creates_nothing(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    # WHEN the read-only services are asked what `runs list`, `models list`, `models show` and `status` ask
    services = build_services(settings, read_only=True)
    assert list(services.runs.runs()) == []
    assert services.ports.registry.models() == []
    with pytest.raises(RegistryError, match=r"unknown model 'iris-classifier' \(no models are registered yet\)"):
        services.ports.registry.show("iris-classifier")
    with pytest.raises(UsageError) as no_run:
        services.runs.load("train-20250110-000000-abcd")
    # THEN the answers are those of an empty home, and the home was not created
    assert str(no_run.value) == (
        f"training_id: no run 'train-20250110-000000-abcd'; no run has been started with MLOPS_HOME='{settings.home}'"
    )
    assert list(tmp_path.iterdir()) == []


def test_looking_into_a_home_with_a_database_reads_it(tmp_path: Path) -> None:
    # GIVEN a home where a run was created
    settings = settings_in(tmp_path)
    run = RunState(training_id=new_training_id(), request=validate_request(IRIS))
    build_services(settings).runs.create(run, "PrepareData")
    # WHEN the read-only services look
    services = build_services(settings, read_only=True)
    # THEN they see it
    loaded, next_state = services.runs.load(run.training_id)
    assert (loaded.training_id, next_state) == (run.training_id, "PrepareData")
    assert [r.training_id for r in services.runs.runs()] == [run.training_id]


def test_the_empty_home_refuses_to_be_written(tmp_path: Path) -> None:
    services = build_services(settings_in(tmp_path), read_only=True)
    run = RunState(training_id=new_training_id(), request=validate_request(IRIS))
    with pytest.raises(RuntimeError, match="read-only services were asked to write"):
        services.runs.create(run, "PrepareData")
    assert not (tmp_path / "home").exists()


def test_a_home_that_is_a_file_is_a_usage_error_even_for_looking(tmp_path: Path) -> None:
    (tmp_path / "home").write_text("")
    with pytest.raises(UsageError, match=r"MLOPS_HOME: '.*home' is not a directory"):
        build_services(settings_in(tmp_path), read_only=True)
