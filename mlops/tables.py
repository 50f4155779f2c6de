"""A CSV channel read into numbers: every `*.csv` of a channel directory, with a header row, all values numeric.

numpy's C reader does the work; when a file has a problem, a careful reader names its file, line and column.
"""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mlops.data import TARGET
from mlops.errors import DatasetError

# A target with at most this many distinct integer values is read as class labels.
MAX_CLASSES = 20


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
