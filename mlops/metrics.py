"""The evaluation metrics named in `metric_specs`, computed from predictions.

Every function returns a plain `dict[str, float]` of Python floats (JSON- and gate-ready). scikit-learn is
imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops.errors import TrainingError

NOISE_LABEL = -1  # DBSCAN's label for points that belong to no cluster


def classification_metrics(
    y_true: Any, y_pred: Any, scores: Any | None = None, classes: Sequence[Any] | None = None
) -> dict[str, float]:
    """accuracy, precision, recall, f1 (binary for two classes, macro average otherwise) and roc_auc.

    `scores` are predict_proba (n, k) or decision_function outputs whose columns are `classes` (the
    estimator's `classes_`); without scores roc_auc is left out.
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    # the model's classes decide binary vs multi-class, even when the test set shows fewer of them
    labels = np.asarray(classes) if classes is not None else np.unique(np.concatenate([y_true, y_pred]))
    binary = len(labels) == 2
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true,
        y_pred,
        average="binary" if binary else "macro",
        pos_label=labels[-1] if binary else 1,
        zero_division=0,
    )
    metrics = {"accuracy": accuracy_score(y_true, y_pred), "precision": precision, "recall": recall, "f1": f1}
    if scores is not None:
        metrics["roc_auc"] = roc_auc(y_true, scores, classes=classes)
    return _floats(metrics)


def roc_auc(y_true: Any, scores: Any, classes: Sequence[Any] | None = None) -> float:
    """ROC AUC: binary from the positive-class score, multi-class one-vs-rest (macro) from class scores.

    `classes` are the column labels of a 2-D `scores` (the estimator's `classes_`); they default to the
    sorted labels of `y_true`.
    """
    from sklearn.metrics import roc_auc_score

    y_true, scores = np.asarray(y_true), np.asarray(scores, dtype=np.float64)
    labels: np.ndarray = np.asarray(classes) if classes is not None else np.unique(y_true)
    if len(np.unique(y_true)) < 2:
        raise TrainingError("roc_auc: the test set holds a single class, so ROC AUC is undefined")
    if scores.ndim == 1 or scores.shape[1] == 1:
        return float(roc_auc_score(y_true == labels[-1], scores.reshape(-1)))
    if scores.shape[1] == 2:
        return float(roc_auc_score(y_true == labels[1], scores[:, 1]))
    return float(roc_auc_score(y_true, _as_probabilities(scores), multi_class="ovr", labels=labels))


def _as_probabilities(scores: np.ndarray) -> np.ndarray:
    # one-vs-rest AUC in scikit-learn insists on rows summing to 1; decision_function scores do not
    if np.all(scores >= 0) and np.allclose(scores.sum(axis=1), 1.0):
        return scores
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def confusion(y_true: Any, y_pred: Any) -> tuple[list[Any], list[list[int]]]:
    """(labels, matrix) with matrix[i][j] = number of samples of class labels[i] predicted as labels[j]."""
    from sklearn.metrics import confusion_matrix

    labels = np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]))
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    return [label.item() for label in labels], matrix.astype(int).tolist()


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """rmse, mae and r2."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    rmse = np.sqrt(mean_squared_error(y_true, y_pred))
    return _floats({"rmse": rmse, "mae": mean_absolute_error(y_true, y_pred), "r2": r2_score(y_true, y_pred)})


def clustering_metrics(x: Any, labels: Any) -> dict[str, float]:
    """silhouette, davies_bouldin and calinski_harabasz of a clustering.

    Noise points (label -1, DBSCAN) belong to no cluster, so they are left out rather than scored as one
    big, scattered cluster. Fewer than two clusters has no defined score: that is a TrainingError.
    """
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

    x, labels = np.asarray(x, dtype=np.float64), np.asarray(labels)
    clustered = labels != NOISE_LABEL
    x, labels = x[clustered], labels[clustered]
    _require_scorable_clusters(labels)
    return _floats(
        {
            "silhouette": silhouette_score(x, labels),
            "davies_bouldin": davies_bouldin_score(x, labels),
            "calinski_harabasz": calinski_harabasz_score(x, labels),
        }
    )


def _require_scorable_clusters(labels: np.ndarray) -> None:
    found = len(np.unique(labels))
    if found < 2:
        raise TrainingError(
            f"clustering produced {found} cluster(s) (noise excluded) on {len(labels)} point(s); "
            "the clustering metrics need at least 2 clusters: adjust the hyperparameters "
            "(e.g. a larger eps or smaller min_samples for dbscan, more n_clusters)"
        )
    if found >= len(labels):
        raise TrainingError(
            f"clustering put each of the {len(labels)} point(s) in its own cluster; "
            "the clustering metrics need clusters with more than one point"
        )


def dimensionality_reduction_metrics(
    x: Any, x_reconstructed: Any, explained_variance_ratio: Any | None = None
) -> dict[str, float]:
    """explained_variance and reconstruction_error (mean squared error per value).

    explained_variance is the sum of the estimator's explained_variance_ratio_ when it has one, else
    1 - reconstruction MSE / total variance of `x` (the share of variance the reconstruction keeps).
    """
    x, x_reconstructed = np.asarray(x, dtype=np.float64), np.asarray(x_reconstructed, dtype=np.float64)
    mse = float(np.mean((x - x_reconstructed) ** 2))
    if explained_variance_ratio is not None:
        explained = float(np.sum(explained_variance_ratio))
    else:
        total = float(np.mean(np.var(x, axis=0)))
        explained = 1.0 - mse / total if total > 0 else 0.0
    return _floats({"explained_variance": explained, "reconstruction_error": mse})


def reinforcement_metrics(returns: Sequence[float], successes: Sequence[bool]) -> dict[str, float]:
    """mean_return, std_return and success_rate of evaluation episodes."""
    if len(returns) == 0:
        raise TrainingError("reinforcement evaluation ran no episodes, so there is nothing to score")
    values = np.asarray(returns, dtype=np.float64)
    rate = float(np.mean(np.asarray(successes, dtype=bool))) if len(successes) else 0.0
    return _floats({"mean_return": values.mean(), "std_return": values.std(), "success_rate": rate})


def _floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {name: float(value) for name, value in metrics.items()}
