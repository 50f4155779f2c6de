"""What one training run is (`Job`, resolved from SM_HPS and the data) and what it produced (`Outcome`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlops.errors import InvalidRequest
from mlops.learners.catalog import AlgorithmSpec
from mlops.metric_specs import DEFAULT_METRIC, get_metric
from mlops.tables import infer_task
from mlops.training.plots import Figure

HOLDOUT_ROWS = 50  # test rows whose predictions are recorded for the Verify step
# Hyperparameters that seed an algorithm: mlops_seed fills them in unless the request sets them itself.
SEED_PARAMS = ("random_state", "seed")


@dataclass(frozen=True)
class Job:
    spec: AlgorithmSpec
    task: str
    params: dict[str, Any]  # catalog defaults overridden by the request: everything the algorithm was given
    metric: str
    seed: int
    target: str | None = None  # supervised only
    environment: str | None = None  # reinforcement learning only


@dataclass
class Outcome:
    metrics: dict[str, float]
    n_train: int
    n_test: int
    holdout: dict[str, Any]
    save: Callable[[Path], object]  # writes the model files into the model directory (picklable: no lambda)
    figures: list[Figure]  # the PNG plots, as data
    features: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # extra evaluation.json content (confusion matrix)


def resolve_task(spec: AlgorithmSpec, requested: str | None, y_train: np.ndarray | None) -> str:
    """The requested task, the algorithm's only task, or the task the target column implies."""
    if requested is not None:
        if requested not in spec.tasks:
            raise InvalidRequest(f"mlops_task: {spec.name} does not do {requested} (it does {', '.join(spec.tasks)})")
        return requested
    if len(spec.tasks) == 1 or y_train is None:
        return spec.tasks[0]
    return infer_task(y_train)


def resolve_metric(requested: str | None, task: str) -> str:
    return get_metric(requested or DEFAULT_METRIC[task], task).name


def effective_params(spec: AlgorithmSpec, user_params: dict[str, Any], seed: int) -> tuple[dict[str, Any], int]:
    """(catalog defaults + the request's hyperparameters with the seed filled in, the seed actually used)."""
    params = {**spec.default_params(), **user_params}
    for name in SEED_PARAMS:
        if name in spec.params:
            if name in user_params and user_params[name] is not None:
                seed = int(user_params[name])
            params[name] = seed
    return params, seed
