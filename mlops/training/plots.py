"""PNG plots of an evaluation, drawn with matplotlib's Agg backend (no display needed).

Plots are a courtesy, not a result: when matplotlib is missing or a plot fails, a warning is printed and
training still succeeds.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlops.training import console

DPI = 100


def _pyplot() -> Any | None:
    if importlib.util.find_spec("matplotlib") is None:
        console.warning("matplotlib is not installed: skipping plots")
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw(path: Path, painter: Callable[[Any, Any], None], size: tuple[float, float] = (6.0, 5.0)) -> Path | None:
    """Draw one figure with `painter(figure, axes)` and save it to `path`; None when it could not be drawn."""
    plt = _pyplot()
    if plt is None:
        return None
    figure, axes = plt.subplots(figsize=size)
    try:
        painter(figure, axes)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=DPI)
        return path
    except Exception as exc:  # a broken plot must not fail a training run that succeeded
        console.warning(f"could not draw {path.name}: {type(exc).__name__}: {exc}")
        return None
    finally:
        plt.close(figure)


def confusion_matrix(path: Path, labels: Sequence[Any], matrix: Sequence[Sequence[int]]) -> Path | None:
    def paint(figure: Any, axes: Any) -> None:
        values = np.asarray(matrix)
        image = axes.imshow(values, cmap="Blues")
        figure.colorbar(image, ax=axes)
        ticks = range(len(labels))
        axes.set(
            xticks=ticks,
            yticks=ticks,
            xticklabels=labels,
            yticklabels=labels,
            xlabel="Predicted",
            ylabel="Actual",
            title="Confusion matrix (test set)",
        )
        for (row, col), count in np.ndenumerate(values):
            colour = "white" if count > values.max() / 2 else "black"
            axes.text(col, row, str(count), ha="center", va="center", color=colour)

    return draw(path, paint)


def roc(path: Path, y_true: np.ndarray, scores: np.ndarray, classes: Sequence[Any]) -> Path | None:
    """ROC curve of the positive class (binary) or one curve per class, one-vs-rest (multi-class)."""
    from sklearn.metrics import auc, roc_curve

    columns = (
        [(classes[-1], scores[:, -1] if scores.ndim == 2 else scores)]
        if len(classes) == 2
        else [(label, scores[:, i]) for i, label in enumerate(classes)]
    )

    def paint(figure: Any, axes: Any) -> None:
        for label, column in columns:
            fpr, tpr, _ = roc_curve(y_true == label, column)
            axes.plot(fpr, tpr, label=f"class {label} (AUC {auc(fpr, tpr):.3f})")
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
        axes.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC (test set)")
        axes.legend(loc="lower right")

    return draw(path, paint)


def residuals(path: Path, y_true: np.ndarray, predictions: np.ndarray) -> Path | None:
    def paint(figure: Any, axes: Any) -> None:
        axes.scatter(predictions, y_true - predictions, s=12, alpha=0.7)
        axes.axhline(0.0, color="grey", linestyle="--")
        axes.set(xlabel="Predicted", ylabel="Actual - predicted", title="Residuals (test set)")

    return draw(path, paint)


def clusters(path: Path, x: np.ndarray, labels: np.ndarray) -> Path | None:
    """The points projected on their first two principal components, coloured by cluster (-1: noise)."""
    projected = _two_components(x)

    def paint(figure: Any, axes: Any) -> None:
        for label in np.unique(labels):
            members = labels == label
            name = "noise" if label == -1 else f"cluster {label}"
            axes.scatter(projected[members, 0], projected[members, 1], s=14, label=name)
        axes.set(xlabel="PC 1", ylabel="PC 2", title="Clusters (test set, PCA projection)")
        axes.legend(loc="best", fontsize="small")

    return draw(path, paint)


def projection(path: Path, reduced: np.ndarray, colour_by: np.ndarray | None) -> Path | None:
    """The first two reduced components (the second is 0 when only one was kept)."""
    points = np.column_stack([reduced[:, 0], reduced[:, 1] if reduced.shape[1] > 1 else np.zeros(len(reduced))])

    def paint(figure: Any, axes: Any) -> None:
        scatter = axes.scatter(points[:, 0], points[:, 1], c=colour_by, cmap="viridis", s=14)
        if colour_by is not None:
            figure.colorbar(scatter, ax=axes, label="target")
        axes.set(xlabel="Component 1", ylabel="Component 2", title="Projection (test set)")

    return draw(path, paint)


def return_curve(path: Path, returns: Sequence[float], window: int = 50) -> Path | None:
    values = np.asarray(returns, dtype=np.float64)
    width = max(1, min(window, len(values)))
    moving = np.convolve(values, np.ones(width) / width, mode="valid")

    def paint(figure: Any, axes: Any) -> None:
        axes.plot(np.arange(1, len(values) + 1), values, alpha=0.35, label="episode return")
        axes.plot(np.arange(width, len(values) + 1), moving, label=f"moving average ({width})")
        axes.set(xlabel="Episode", ylabel="Return", title="Training returns")
        axes.legend(loc="lower right")

    return draw(path, paint, size=(7.0, 4.5))


def _two_components(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ components[:2].T
    return projected if projected.shape[1] == 2 else np.column_stack([projected[:, 0], np.zeros(len(x))])
