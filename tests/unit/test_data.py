"""Datasets: the bundled ones appear in the store on first use, and channels are read strictly and explained clearly."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from mlops.backends.local.store import LocalArtifactStore
from mlops.data import BUNDLED, dataset_in_store, list_datasets
from mlops.errors import DatasetError
from mlops.tables import infer_task, load_xy, read_table


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store")


def ensure_dataset(root: Path, dataset_id: str) -> Path:
    """A dataset published into a local store at `root`, as PrepareData does: its directory."""
    dataset_in_store(LocalArtifactStore(root), dataset_id)
    return root / "datasets" / dataset_id


def write_csv(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


# --- bundled datasets ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset_id", sorted(BUNDLED))
def test_a_bundled_dataset_is_materialized_as_train_and_test_csv_with_a_description(store, dataset_id):
    # WHEN a bundled dataset is asked for the first time
    directory = ensure_dataset(store, dataset_id)
    # THEN it is laid out as <root>/datasets/<id>/{train,test}/data.csv plus dataset.json
    assert directory == store / "datasets" / dataset_id
    description = json.loads((directory / "dataset.json").read_text())
    assert description["dataset_id"] == dataset_id and description["target"] == "target"
    assert description["task"] == BUNDLED[dataset_id][1]
    for channel in ("train", "test"):
        header, rows = read_table(directory / channel)
        assert header == [*description["features"], "target"]
        assert len(rows) == description["rows"][channel]
    # AND the test split holds a fifth of the rows
    total = description["rows"]["train"] + description["rows"]["test"]
    assert description["rows"]["test"] == pytest.approx(total * 0.2, abs=1)


def test_iris_headers_are_plain_column_names(store):
    header, _ = read_table(ensure_dataset(store, "iris") / "train")
    assert header == ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm", "target"]


def test_the_split_is_stratified_so_every_class_keeps_its_share(store):
    directory = ensure_dataset(store, "wine")
    _, y_train = load_xy(directory / "train")
    _, y_test = load_xy(directory / "test")
    assert y_train is not None and y_test is not None
    train_share = np.bincount(y_train.astype(int)) / len(y_train)
    test_share = np.bincount(y_test.astype(int)) / len(y_test)
    assert np.allclose(train_share, test_share, atol=0.03)


def test_the_split_is_the_same_every_time(tmp_path):
    # GIVEN the same dataset materialized in two different stores
    first = ensure_dataset(tmp_path / "a", "iris")
    second = ensure_dataset(tmp_path / "b", "iris")
    # THEN the files are byte for byte identical
    for channel in ("train", "test"):
        assert (first / channel / "data.csv").read_bytes() == (second / channel / "data.csv").read_bytes()


def test_an_existing_dataset_is_not_rewritten(store):
    directory = ensure_dataset(store, "iris")
    before = (directory / "train" / "data.csv").stat().st_mtime_ns
    assert ensure_dataset(store, "iris") == directory
    assert (directory / "train" / "data.csv").stat().st_mtime_ns == before


def test_materializing_the_same_dataset_concurrently_leaves_one_complete_copy(tmp_path):
    # GIVEN several workers asking for the same bundled dataset at the same moment
    with ThreadPoolExecutor(max_workers=4) as pool:
        directories = list(pool.map(lambda _: ensure_dataset(tmp_path, "diabetes"), range(4)))
    # THEN all get the same complete dataset, and no staging directory is left behind
    assert len(set(directories)) == 1
    assert len(read_table(directories[0] / "train")[1]) == 353
    assert [p.name for p in (tmp_path / "datasets").iterdir()] == ["diabetes"]


def test_an_unknown_dataset_id_names_the_available_ones(tmp_path):
    with pytest.raises(DatasetError) as error:
        ensure_dataset(tmp_path, "irsi")
    assert "did you mean 'iris'" in str(error.value)
    assert "available: breast-cancer, diabetes, digits, iris, wine" in str(error.value)


@pytest.mark.parametrize("dataset_id", ["../etc", "..", ".hidden", "a/b", "a..b", "", "x" * 129, "-dash"])
def test_a_dataset_id_that_could_escape_the_store_is_refused(tmp_path, dataset_id):
    with pytest.raises(DatasetError, match="not a valid dataset id"):
        ensure_dataset(tmp_path, dataset_id)
    assert not (tmp_path / "datasets").exists() or not any((tmp_path / "datasets").iterdir())


def test_a_dataset_already_in_the_store_is_listed_and_returned(tmp_path):
    # GIVEN a user's own dataset uploaded into the store
    write_csv(tmp_path / "datasets" / "houses" / "train", "data.csv", "rooms,target\n3,100.5\n")
    # THEN it is listed with the bundled ones, and taken as it is (it has no description)
    assert list_datasets(tmp_path) == sorted([*BUNDLED, "houses"])
    assert dataset_in_store(LocalArtifactStore(tmp_path), "houses") == {}
    assert [p.name for p in (tmp_path / "datasets" / "houses" / "train").iterdir()] == ["data.csv"]


# --- reading channels ------------------------------------------------------------------------------------------


def test_every_csv_in_a_channel_is_read_in_name_order(tmp_path):
    write_csv(tmp_path, "part-2.csv", "a,target\n3,1\n")
    write_csv(tmp_path, "part-1.csv", "a,target\n1,0\n2,1\n")
    header, rows = read_table(tmp_path)
    assert header == ["a", "target"]
    assert rows.tolist() == [[1, 0], [2, 1], [3, 1]]


def test_files_with_different_headers_are_refused(tmp_path):
    write_csv(tmp_path, "a.csv", "a,target\n1,0\n")
    write_csv(tmp_path, "b.csv", "b,target\n1,0\n")
    with pytest.raises(DatasetError, match=r"b\.csv: header"):
        read_table(tmp_path)


def test_a_non_numeric_value_is_reported_with_file_line_and_column(tmp_path):
    path = write_csv(tmp_path, "data.csv", "a,b,target\n1,2,0\n3,abc,1\n")
    with pytest.raises(DatasetError) as error:
        read_table(tmp_path)
    assert f"{path}:3:2" in str(error.value) and "'abc'" in str(error.value)


@pytest.mark.parametrize("cell", ["", "nan", "inf"])
def test_missing_and_non_finite_values_are_refused(tmp_path, cell):
    write_csv(tmp_path, "data.csv", f"a,target\n{cell},1\n")
    with pytest.raises(DatasetError, match=r"data\.csv:2:1"):
        read_table(tmp_path)


def test_a_row_with_the_wrong_number_of_values_is_refused(tmp_path):
    write_csv(tmp_path, "data.csv", "a,b,target\n1,2\n")
    with pytest.raises(DatasetError, match=r"data\.csv:2: 2 values, but the header has 3 columns"):
        read_table(tmp_path)


def test_an_empty_channel_directory_is_refused(tmp_path):
    with pytest.raises(DatasetError, match=r"no \*\.csv files"):
        read_table(tmp_path)


def test_a_missing_channel_directory_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        read_table(tmp_path / "missing")


def test_a_header_without_rows_is_refused(tmp_path):
    write_csv(tmp_path, "data.csv", "a,target\n")
    with pytest.raises(DatasetError, match="no data rows"):
        read_table(tmp_path)


def test_load_xy_splits_off_the_target_column_wherever_it_is(tmp_path):
    write_csv(tmp_path, "data.csv", "label,a,b\n1,2,3\n0,4,5\n")
    x, y = load_xy(tmp_path, target="label")
    assert x.tolist() == [[2, 3], [4, 5]]
    assert y is not None and y.tolist() == [1, 0]


def test_load_xy_without_a_target_column_gives_features_only(tmp_path):
    write_csv(tmp_path, "data.csv", "a,b\n1,2\n")
    x, y = load_xy(tmp_path)
    assert x.tolist() == [[1, 2]] and y is None


# --- task inference --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "task"),
    [
        ([0, 1, 1, 0, 2, 2], "classification"),
        ([0.0, 1.0, 1.0, 0.0], "classification"),
        ([0.5, 1.5, 2.5, 0.5], "regression"),
        (list(range(100)) * 2, "regression"),  # many distinct integers: a count or a price, not a class
        ([151.0, 75.0, 141.0, 206.0], "regression"),  # every value different
    ],
)
def test_infer_task_reads_few_distinct_integers_as_classes(values, task):
    assert infer_task(values) == task
