"""PrepareData and BuildTrainingJob work through the artifact store's keys only: a bundled dataset is published
into the store, sizes and hashes come from the store, rows from the dataset's description, or counted from a stream
when it has none."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mlops.data import dataset_in_store
from mlops.errors import DatasetError
from mlops.pipeline.agents import prepare_data
from mlops.pipeline.models import RunState
from mlops.request import validate_request
from mlops.services import build_ports
from mlops.settings import Settings


@pytest.fixture
def ports(tmp_path: Path):
    return build_ports(Settings(home=tmp_path / "home", history_dir=tmp_path / "history"))


def _run(dataset_id: str, **request: object) -> RunState:
    fields = {"learning_type": "supervised", "algorithm": "random_forest", "dataset_id": dataset_id,
              "evaluation_threshold": 0.5, "model_id": "m", **request}
    return RunState(training_id="train-20250101-000000-00000000", request=validate_request(fields))


def test_a_bundled_dataset_is_published_into_the_store_once_and_described(ports) -> None:
    # WHEN iris is asked for twice
    first, second = (dataset_in_store(ports.store, "iris") for _ in range(2))
    # THEN it is in the store as keys, and described the same both times
    assert first == second and first["rows"] == {"train": 120, "test": 30}
    assert ports.store.list("datasets/iris/") == [
        "datasets/iris/dataset.json", "datasets/iris/test/data.csv", "datasets/iris/train/data.csv"
    ]


def test_the_manifest_takes_sizes_and_hashes_from_the_store_and_rows_from_the_description(ports) -> None:
    run = prepare_data(_run("iris"), ports)
    assert run.data is not None and (run.data.rows_train, run.data.rows_test) == (120, 30)
    (train,) = run.data.train
    assert train.sha256 == hashlib.sha256(ports.store.get_bytes(train.key)).hexdigest()
    assert train.size == len(ports.store.get_bytes(train.key)) and train.rows is None
    assert run.request.task == "classification"


def test_an_undescribed_dataset_is_counted_and_its_task_inferred_from_streams(ports) -> None:
    # GIVEN a user's dataset without dataset.json: two train files (one without a final newline), one test file
    ports.store.put_bytes("datasets/houses/train/a.csv", b"rooms,target\n3,100.5\n4,120.25\n")
    ports.store.put_bytes("datasets/houses/train/b.csv", b"rooms,target\n5,150.75")
    ports.store.put_bytes("datasets/houses/test/a.csv", b"rooms,target\n2,80.5\n")
    # WHEN PrepareData runs without a task in the request
    run = prepare_data(_run("houses", evaluation_metric="rmse", evaluation_threshold=50), ports)
    # THEN the rows were counted and the task inferred from the target column
    assert run.data is not None and (run.data.rows_train, run.data.rows_test) == (3, 1)
    assert [entry.rows for entry in run.data.train] == [2, 1]
    assert run.request.task == "regression" and run.data.task == "regression"


def test_a_missing_target_column_and_an_unknown_dataset_say_what_to_fix(ports) -> None:
    ports.store.put_bytes("datasets/bad/train/a.csv", b"rooms,price\n3,100\n")
    ports.store.put_bytes("datasets/bad/test/a.csv", b"rooms,price\n2,80\n")
    with pytest.raises(DatasetError, match=r"no 'target' column in datasets/bad/train/a.csv \(columns: rooms, price\)"):
        prepare_data(_run("bad"), ports)
    with pytest.raises(DatasetError, match=r"unknown dataset 'irsi' \(did you mean 'iris'\?\)"):
        prepare_data(_run("irsi"), ports)


def test_a_job_without_data_still_has_the_one_input_channel_sagemaker_requires(ports) -> None:
    from mlops.pipeline.agents import build_training_job

    request = {"learning_type": "reinforcement", "algorithm": "q_learning", "environment": "FrozenLake-v1",
               "evaluation_threshold": 0.1, "model_id": "lake"}
    run = RunState(training_id="train-20250101-000000-00000000", request=validate_request(request))
    job = build_training_job(prepare_data(run, ports), ports).job
    assert job is not None and list(job.channels) == ["config"] and len(job.input_data_config) == 1
    stored = ports.store.get_bytes(f"{job.channels['config']}/hyperparameters.json")
    assert b'"mlops_environment": "FrozenLake-v1"' in stored
