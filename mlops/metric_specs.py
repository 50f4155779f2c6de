"""What each evaluation metric is: its task, direction and range. Plain data, importable without scikit-learn.

The request validator uses it (a threshold must lie in the metric's range), and the gate uses `passes` so that a
threshold on an error metric such as RMSE means "at most" while one on accuracy means "at least".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlops.errors import InvalidRequest
from mlops.suggest import did_you_mean


@dataclass(frozen=True)
class MetricSpec:
    name: str
    task: str
    higher_is_better: bool
    minimum: float = -math.inf
    maximum: float = math.inf
    label: str = ""

    def passes(self, value: float, threshold: float) -> bool:
        """True when `value` meets `threshold` in this metric's direction."""
        return value >= threshold if self.higher_is_better else value <= threshold

    @property
    def comparison(self) -> str:
        return ">=" if self.higher_is_better else "<="


def _m(name: str, task: str, higher: bool, lo: float = -math.inf, hi: float = math.inf, label: str = ""):
    return MetricSpec(name, task, higher, lo, hi, label or name)


METRICS: dict[str, MetricSpec] = {
    m.name: m
    for m in (
        _m("accuracy", "classification", True, 0, 1, "Accuracy"),
        _m("precision", "classification", True, 0, 1, "Precision"),
        _m("recall", "classification", True, 0, 1, "Recall"),
        _m("f1", "classification", True, 0, 1, "F1-Score"),
        _m("roc_auc", "classification", True, 0, 1, "AUC-ROC"),
        _m("rmse", "regression", False, 0, label="RMSE"),
        _m("mae", "regression", False, 0, label="MAE"),
        _m("r2", "regression", True, hi=1, label="R²"),
        _m("silhouette", "clustering", True, -1, 1, "Silhouette Score"),
        _m("davies_bouldin", "clustering", False, 0, label="Davies-Bouldin"),
        _m("calinski_harabasz", "clustering", True, 0, label="Calinski-Harabasz"),
        _m("explained_variance", "dimensionality_reduction", True, 0, 1, "Explained variance"),
        _m("reconstruction_error", "dimensionality_reduction", False, 0, label="Reconstruction error (MSE)"),
        _m("mean_return", "reinforcement", True, label="Mean return"),
        _m("std_return", "reinforcement", False, 0, label="Return std"),
        _m("success_rate", "reinforcement", True, 0, 1, "Success rate"),
    )
}

DEFAULT_METRIC = {
    "classification": "accuracy",
    "regression": "r2",
    "clustering": "silhouette",
    "dimensionality_reduction": "explained_variance",
    "reinforcement": "mean_return",
}


def metrics_for(task: str) -> list[str]:
    return [name for name, spec in METRICS.items() if spec.task == task]


def get_metric(name: str, task: str | None = None) -> MetricSpec:
    """The metric `name`, checked against `task` when given; InvalidRequest with a suggestion otherwise."""
    choices = metrics_for(task) if task else list(METRICS)
    if name not in choices:
        where = f" for {task}" if task else ""
        raise InvalidRequest(
            f"evaluation_metric: unknown metric '{name}'{where}{did_you_mean(name, choices)}"
        )
    return METRICS[name]
