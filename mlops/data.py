"""Datasets as CSV channels: the bundled ones, how they are laid out on disk, and how a channel is read.

A dataset lives at `<root>/datasets/<dataset_id>/` with one directory per channel (`train/`, `test/`), each
holding one or more CSV files with a header row, plus a `dataset.json` describing it. The bundled datasets are
made from scikit-learn's own files (never downloaded) the first time they are asked for.

Reading uses only numpy and the csv module, so a channel can be checked without importing scikit-learn.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlops.errors import DatasetError
from mlops.suggest import did_you_mean

TARGET = "target"
TEST_SIZE = 0.2
SPLIT_SEED = 42
# A target with at most this many distinct integer values is read as class labels.
MAX_CLASSES = 20
DATASET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

# dataset id -> (scikit-learn loader, task)
BUNDLED: dict[str, tuple[str, str]] = {
    "iris": ("load_iris", "classification"),
    "wine": ("load_wine", "classification"),
    "breast-cancer": ("load_breast_cancer", "classification"),
    "diabetes": ("load_diabetes", "regression"),
    "digits": ("load_digits", "classification"),
}


def check_dataset_id(dataset_id: str) -> str:
    """`dataset_id` if it is safe to use as a directory name, else DatasetError."""
    if not isinstance(dataset_id, str) or not DATASET_ID.match(dataset_id) or ".." in dataset_id:
        raise DatasetError(
            f"dataset: '{dataset_id}' is not a valid dataset id "
            "(letters, digits, '.', '_' and '-', starting with a letter or digit, no '..')"
        )
    return dataset_id


def datasets_dir(root: Path) -> Path:
    return Path(root) / "datasets"


def list_datasets(root: Path) -> list[str]:
    """The bundled dataset ids plus every dataset already present under `root`."""
    present = set()
    if datasets_dir(root).is_dir():
        present = {p.name for p in datasets_dir(root).iterdir() if p.is_dir() and DATASET_ID.match(p.name)}
    return sorted(present | set(BUNDLED))


def ensure_dataset(root: Path, dataset_id: str) -> Path:
    """The directory of `dataset_id`, materializing a bundled dataset on first use."""
    target_dir = datasets_dir(root) / check_dataset_id(dataset_id)
    if target_dir.is_dir():
        return target_dir
    if dataset_id not in BUNDLED:
        available = list_datasets(root)
        hint = did_you_mean(dataset_id, available, list_choices=False)
        raise DatasetError(f"dataset: unknown dataset '{dataset_id}'{hint}; available: {', '.join(available)}")
    _materialize_atomically(target_dir, dataset_id)
    return target_dir


def _materialize_atomically(target_dir: Path, dataset_id: str) -> None:
    # Build in a private temp dir beside the target and rename it into place: readers never see a
    # half-written dataset, and when two processes race the loser's rename fails and it keeps the winner's.
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dataset_id}.", dir=target_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the dataset is meant to be readable like any other dir
    try:
        _write_bundled(staging, dataset_id)
        os.replace(staging, target_dir)
    except OSError:
        if not (target_dir / "dataset.json").is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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


def read_table(directory: Path) -> tuple[list[str], np.ndarray]:
    """The header and the numeric rows of every *.csv in a channel directory (sorted by name)."""
    files = _channel_files(Path(directory))
    header: list[str] = []
    parts: list[np.ndarray] = []
    for path in files:
        file_header, file_rows = _read_csv(path)
        if header and file_header != header:
            raise DatasetError(f"{path}: header {file_header} differs from {files[0].name}'s header {header}")
        header = file_header
        parts.append(file_rows)
    rows = np.vstack(parts)
    if not len(rows):
        raise DatasetError(f"{directory}: the CSV files hold a header but no data rows")
    return header, rows


def _channel_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise DatasetError(f"{directory}: the data directory does not exist")
    files = sorted(p for p in directory.glob("*.csv") if p.is_file())
    if not files:
        raise DatasetError(f"{directory}: no *.csv files in the data directory")
    return files


def _read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    try:
        return _read_csv_rows(path)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: not a readable UTF-8 CSV file ({exc})") from None


def _fast_rows(path: Path, columns: int) -> np.ndarray | None:
    """numpy's C reader: many times faster on large files. None when anything is off, so the careful reader
    can say exactly which line and column is wrong."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": the caller reports that in its words
            rows = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, encoding="utf-8-sig", quotechar='"')
    except (ValueError, UnicodeDecodeError):
        return None
    if rows.size == 0:
        return np.empty((0, columns))
    return rows if rows.shape[1] == columns and np.isfinite(rows).all() else None


def _read_csv_rows(path: Path) -> tuple[list[str], np.ndarray]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        if not header or any(not name for name in header):
            raise DatasetError(f"{path}:1: the header row is missing or has an empty column name")
        quick = _fast_rows(path, len(header))
        if quick is not None:
            return header, quick
        rows = [_parse_row(path, reader.line_num, header, row) for row in reader if row]
    return header, np.asarray(rows, dtype=np.float64).reshape(len(rows), len(header))


def _parse_row(path: Path, line: int, header: list[str], row: list[str]) -> list[float]:
    if len(row) != len(header):
        raise DatasetError(f"{path}:{line}: {len(row)} values, but the header has {len(header)} columns")
    return [_parse_value(path, line, column, text) for column, text in enumerate(row, start=1)]


def _parse_value(path: Path, line: int, column: int, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise DatasetError(f"{path}:{line}:{column}: '{text}' is not a finite number (every value must be numeric)")
    return value


def infer_task(target_values: Sequence[float] | np.ndarray) -> str:
    """'classification' for a target of few distinct integer values, 'regression' otherwise."""
    values = np.asarray(target_values, dtype=np.float64)
    distinct = np.unique(values)
    few = len(distinct) <= MAX_CLASSES and len(distinct) < max(2, len(values))
    return "classification" if few and bool(np.all(distinct == np.round(distinct))) else "regression"


def split_target(header: list[str], rows: np.ndarray, target: str) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """(feature names, X, y); y is None when the table has no `target` column."""
    if target not in header:
        return list(header), rows, None
    index = header.index(target)
    features = [name for i, name in enumerate(header) if i != index]
    return features, np.delete(rows, index, axis=1), rows[:, index]


def load_xy(directory: Path, target: str = TARGET) -> tuple[np.ndarray, np.ndarray | None]:
    """The feature matrix and target vector of a channel (y is None when there is no target column)."""
    header, rows = read_table(directory)
    _, x, y = split_target(header, rows, target)
    return x, y
