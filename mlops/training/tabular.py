"""The train and test channels of a tabular dataset, loaded and checked against each other."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlops.errors import DatasetError
from mlops.tables import read_table, split_target
from mlops.training.environment import ScriptModeEnvironment


@dataclass(frozen=True)
class Split:
    features: list[str]
    x_train: np.ndarray
    y_train: np.ndarray | None  # None when the data has no target column
    x_test: np.ndarray
    y_test: np.ndarray | None


def load_split(env: ScriptModeEnvironment, target: str, need_target: bool) -> Split:
    """Both channels; DatasetError when their columns differ or a needed target column is missing."""
    train_header, train_rows = read_table(env.channel("train"))
    test_header, test_rows = read_table(env.channel("test"))
    if test_header != train_header:
        raise DatasetError(f"test channel columns {test_header} differ from the train channel's {train_header}")
    if need_target and target not in train_header:
        raise DatasetError(f"target column '{target}' not found; the columns are {', '.join(train_header)}")
    features, x_train, y_train = split_target(train_header, train_rows, target)
    _, x_test, y_test = split_target(test_header, test_rows, target)
    if not features:
        raise DatasetError(f"the data has no feature columns besides the target '{target}'")
    return Split(features, x_train, y_train, x_test, y_test)


def class_labels(y: np.ndarray, channel: str) -> np.ndarray:
    """Classification targets as integers; DatasetError for a target that looks continuous."""
    if not np.all(y == np.round(y)):
        raise DatasetError(
            f"{channel}: classification needs integer class labels in the target column, "
            "but it holds fractional values (use a regression algorithm for a continuous target)"
        )
    # scikit-learn's own heuristic: when most rows have a label of their own, the target is a measurement
    distinct = len(np.unique(y))
    if distinct > 2 and distinct > len(y) / 2:
        raise DatasetError(
            f"{channel}: {distinct} distinct values in {len(y)} rows is not a set of integer class labels "
            "but a continuous target: use a regression algorithm"
        )
    return y.astype(np.int64)


def check_test_classes(y_train: np.ndarray, y_test: np.ndarray) -> None:
    """DatasetError when the test set holds classes the model never saw in training."""
    unseen = sorted(set(np.unique(y_test).tolist()) - set(np.unique(y_train).tolist()))
    if unseen:
        raise DatasetError(f"test: class labels {unseen[:10]} never appear in the train channel")
