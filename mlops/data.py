"""Datasets as CSV channels: the bundled ones, how they are laid out on disk, and how a channel is read.

A dataset lives in the artifact store under `datasets/<dataset_id>/` with one prefix per channel (`train/`,
`test/`), each holding one or more CSV files with a header row, plus a `dataset.json` describing it. The bundled
datasets are made from scikit-learn's own files (never downloaded) and published into the store the first time
they are asked for.

Reading a channel is `mlops.tables`' job; this module imports neither numpy nor scikit-learn until a bundled
dataset has to be written, so the CLI can check a request's dataset id cheaply.
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from mlops.errors import DatasetError
from mlops.scalars import shown
from mlops.suggest import did_you_mean

if TYPE_CHECKING:
    import numpy as np

    from mlops.ports import ArtifactStore

TARGET = "target"
TEST_SIZE = 0.2
SPLIT_SEED = 42
# A dataset id names a directory (and an S3 prefix): no paths, no '..'. The one definition of a valid id.
DATASET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
DATASET_ID_RULE = (
    "letters, digits, '.', '_' and '-' only, starting with a letter or digit (no paths, no '..', at most 128 "
    "characters)"
)

# dataset id -> (scikit-learn loader, task)
BUNDLED: dict[str, tuple[str, str]] = {
    "iris": ("load_iris", "classification"),
    "wine": ("load_wine", "classification"),
    "breast-cancer": ("load_breast_cancer", "classification"),
    "diabetes": ("load_diabetes", "regression"),
    "digits": ("load_digits", "classification"),
}


def is_dataset_id(text: object) -> TypeGuard[str]:
    """Whether `text` is safe to use as a dataset's directory name."""
    return isinstance(text, str) and DATASET_ID.match(text) is not None and ".." not in text


def check_dataset_id(dataset_id: str) -> str:
    """`dataset_id` if it is safe to use as a directory name, else DatasetError."""
    if not is_dataset_id(dataset_id):
        raise DatasetError(f"dataset: {shown(dataset_id)} is not a valid dataset id ({DATASET_ID_RULE})")
    return dataset_id


def datasets_dir(root: Path) -> Path:
    return Path(root) / "datasets"


def list_datasets(root: Path) -> list[str]:
    """The bundled dataset ids plus every dataset already present under `root`."""
    present = set()
    if datasets_dir(root).is_dir():
        present = {p.name for p in datasets_dir(root).iterdir() if p.is_dir() and is_dataset_id(p.name)}
    return sorted(present | set(BUNDLED))


def described_task(root: Path, dataset_id: str) -> str | None:
    """The task a dataset's `dataset.json` (or the bundled dataset) says it is for; None when it does not say."""
    described = datasets_dir(root) / check_dataset_id(dataset_id) / "dataset.json"
    if not described.is_file():
        return BUNDLED[dataset_id][1] if dataset_id in BUNDLED else None
    try:
        task = json.loads(described.read_text(encoding="utf-8")).get("task")
    except (ValueError, AttributeError):  # not JSON, or JSON that is not an object
        raise DatasetError(f"dataset: {described} is not a JSON object; fix it or delete it") from None
    return task if isinstance(task, str) else None


def dataset_in_store(store: ArtifactStore, dataset_id: str) -> dict[str, Any]:
    """The description (`dataset.json`, or {}) of `dataset_id` in the artifact store, writing a bundled dataset
    there on first use. Works through the store's keys only, so it serves any backend."""
    prefix = f"datasets/{check_dataset_id(dataset_id)}"
    if dataset_id in BUNDLED and not store.exists(f"{prefix}/dataset.json"):
        _publish_bundled(store, prefix, dataset_id)
    if store.exists(f"{prefix}/dataset.json"):
        return _description(store, f"{prefix}/dataset.json")
    if store.list(f"{prefix}/"):
        return {}
    available = sorted({key.split("/")[1] for key in store.list("datasets/") if key.count("/") >= 2} | set(BUNDLED))
    hint = did_you_mean(dataset_id, available, list_choices=False)
    raise DatasetError(f"dataset: unknown dataset '{dataset_id}'{hint}; available: {', '.join(available)}")


def _description(store: ArtifactStore, key: str) -> dict[str, Any]:
    try:
        described = json.loads(store.get_bytes(key))
    except ValueError:
        described = None
    if not isinstance(described, dict):
        raise DatasetError(f"dataset: {key} is not a JSON object; fix it or delete it")
    return described


def _publish_bundled(store: ArtifactStore, prefix: str, dataset_id: str) -> None:
    """Every file, then dataset.json: a reader sees the dataset only once it is whole. The files are the same
    bytes every time, so two runs racing to publish it both succeed (the store accepts identical objects)."""
    with tempfile.TemporaryDirectory(prefix="mlops-dataset-") as staging:
        _write_bundled(Path(staging), dataset_id)
        for channel in ("train", "test"):
            store.put_tree(f"{prefix}/{channel}", Path(staging, channel))
        store.put_file(f"{prefix}/dataset.json", Path(staging, "dataset.json"))


def _write_bundled(directory: Path, dataset_id: str) -> None:
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    loader, task = BUNDLED[dataset_id]
    bunch = getattr(datasets, loader)()
    features = [_column_name(name) for name in _feature_names(bunch)]
    stratify = bunch.target if task == "classification" else None
    x_train, x_test, y_train, y_test = train_test_split(
        bunch.data, bunch.target, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=stratify
    )
    _write_csv(directory / "train" / "data.csv", features, x_train, y_train)
    _write_csv(directory / "test" / "data.csv", features, x_test, y_test)
    description = {
        "dataset_id": dataset_id,
        "target": TARGET,
        "task": task,
        "features": features,
        "rows": {"train": len(y_train), "test": len(y_test)},
        "source": f"scikit-learn sklearn.datasets.{loader} (bundled with scikit-learn)",
    }
    (directory / "dataset.json").write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")


def _feature_names(bunch: Any) -> list[str]:
    names = getattr(bunch, "feature_names", None)
    return [str(n) for n in names] if names is not None else [f"x{i}" for i in range(bunch.data.shape[1])]


def _column_name(name: str) -> str:
    """'sepal length (cm)' -> 'sepal_length_cm': headers that are safe in CSV, code and plots."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_") or "x"


def _write_csv(path: Path, features: list[str], x: np.ndarray, y: np.ndarray) -> None:
    path.parent.mkdir(parents=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*features, TARGET])
        for row, label in zip(x, y, strict=True):
            writer.writerow([*(_number(v) for v in row), _number(label)])


def _number(value: Any) -> str:
    as_float = float(value)
    return str(int(as_float)) if as_float.is_integer() else repr(as_float)
