"""The evaluation's PNG plots: described as plain data by the trainer, rendered with matplotlib's Agg backend.

A `Figure` holds only JSON values (whatever needs scikit-learn, such as a ROC curve, is computed when it is
built), so it can be handed to a renderer that was forked before training began and has imported matplotlib
meanwhile (mlops.training.plotter). Plots are a courtesy, not a result: when matplotlib is missing or a plot
fails, a warning is printed and training still succeeds.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlops.training import console

DPI = 100


@dataclass(frozen=True)
class Figure:
    file: str  # the PNG's name in the plots directory
    kind: str  # which painter draws it
    data: dict[str, Any]  # JSON values only


# --- figures, built where the evaluation is ---------------------------------------------------------------


def confusion_matrix(labels: Sequence[Any], matrix: Sequence[Sequence[int]]) -> Figure:
    return Figure("confusion_matrix.png", "confusion_matrix", {"labels": _plain(labels), "matrix": _plain(matrix)})


def roc(y_true: np.ndarray, scores: np.ndarray, classes: Sequence[Any]) -> Figure:
    """ROC curve of the positive class (binary) or one curve per class, one-vs-rest (multi-class)."""
    from sklearn.metrics import auc, roc_curve

    columns = (
        [(classes[-1], scores[:, -1] if scores.ndim == 2 else scores)]
        if len(classes) == 2
        else [(label, scores[:, i]) for i, label in enumerate(classes)]
    )
    curves = []
    for label, column in columns:
        fpr, tpr, _ = roc_curve(y_true == label, column)
        curves.append({"label": _plain(label), "fpr": fpr.tolist(), "tpr": tpr.tolist(), "auc": float(auc(fpr, tpr))})
    return Figure("roc.png", "roc", {"curves": curves})


def residuals(y_true: np.ndarray, predictions: np.ndarray) -> Figure:
    data = {"predicted": _plain(predictions), "residual": _plain(np.asarray(y_true) - np.asarray(predictions))}
    return Figure("residuals.png", "residuals", data)


def clusters(x: np.ndarray, labels: np.ndarray) -> Figure:
    """The points projected on their first two principal components, coloured by cluster (-1: noise)."""
    return Figure("clusters.png", "clusters", {"points": _two_components(x).tolist(), "labels": _plain(labels)})


def projection(reduced: np.ndarray, colour_by: np.ndarray | None) -> Figure:
    """The first two reduced components (the second is 0 when only one was kept)."""
    second = reduced[:, 1] if reduced.shape[1] > 1 else np.zeros(len(reduced))
    points = np.column_stack([reduced[:, 0], second])
    return Figure("projection.png", "projection", {"points": points.tolist(), "colour_by": _plain(colour_by)})


def return_curve(returns: Sequence[float], window: int = 50) -> Figure:
    values = np.asarray(returns, dtype=np.float64)
    width = max(1, min(window, len(values)))
    moving = np.convolve(values, np.ones(width) / width, mode="valid")
    return Figure("return_curve.png", "return_curve", {"returns": values.tolist(), "moving": moving.tolist()})


def _two_components(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ components[:2].T
    return projected if projected.shape[1] == 2 else np.column_stack([projected[:, 0], np.zeros(len(x))])


def _plain(values: Any) -> Any:
    """numpy values as the JSON values they stand for."""
    return None if values is None else np.asarray(values).tolist()


# --- rendering ----------------------------------------------------------------------------------------------


def pyplot() -> Any | None:
    """matplotlib.pyplot on the Agg backend, or None (with a warning) when matplotlib is not installed."""
    if importlib.util.find_spec("matplotlib") is None:
        console.warning("matplotlib is not installed: skipping plots")
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def render(figures: Sequence[Figure], plots_dir: Path) -> list[Path]:
    """Draw each figure into `plots_dir`; returns the files written (a figure that fails is skipped, warned)."""
    plt = pyplot() if figures else None
    if plt is None:
        return []
    drawn = [_draw(plt, plots_dir / figure.file, _PAINTERS[figure.kind], figure) for figure in figures]
    return [path for path in drawn if path is not None]


def _draw(plt: Any, path: Path, painter: Painter, figure: Figure) -> Path | None:
    size = (7.0, 4.5) if figure.kind == "return_curve" else (6.0, 5.0)
    canvas, axes = plt.subplots(figsize=size)
    try:
        painter(canvas, axes, figure.data)
        canvas.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        canvas.savefig(path, dpi=DPI)
        return path
    except Exception as exc:  # a broken plot must not fail a training run that succeeded
        console.warning(f"could not draw {path.name}: {type(exc).__name__}: {exc}")
        return None
    finally:
        plt.close(canvas)


Painter = Callable[[Any, Any, dict[str, Any]], None]


def _paint_confusion_matrix(figure: Any, axes: Any, data: dict[str, Any]) -> None:
    labels, values = data["labels"], np.asarray(data["matrix"])
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


def _paint_roc(figure: Any, axes: Any, data: dict[str, Any]) -> None:
    for curve in data["curves"]:
        axes.plot(curve["fpr"], curve["tpr"], label=f"class {curve['label']} (AUC {curve['auc']:.3f})")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC (test set)")
    axes.legend(loc="lower right")


def _paint_residuals(figure: Any, axes: Any, data: dict[str, Any]) -> None:
    axes.scatter(data["predicted"], data["residual"], s=12, alpha=0.7)
    axes.axhline(0.0, color="grey", linestyle="--")
    axes.set(xlabel="Predicted", ylabel="Actual - predicted", title="Residuals (test set)")


def _paint_clusters(figure: Any, axes: Any, data: dict[str, Any]) -> None:
    points, labels = np.asarray(data["points"]), np.asarray(data["labels"])
    for label in np.unique(labels):
        members = labels == label
        name = "noise" if label == -1 else f"cluster {label}"
        axes.scatter(points[members, 0], points[members, 1], s=14, label=name)
    axes.set(xlabel="PC 1", ylabel="PC 2", title="Clusters (test set, PCA projection)")
    axes.legend(loc="best", fontsize="small")


def _paint_projection(figure: Any, axes: Any, data: dict[str, Any]) -> None:
    points, colour_by = np.asarray(data["points"]), data["colour_by"]
    scatter = axes.scatter(points[:, 0], points[:, 1], c=colour_by, cmap="viridis", s=14)
    if colour_by is not None:
        figure.colorbar(scatter, ax=axes, label="target")
    axes.set(xlabel="Component 1", ylabel="Component 2", title="Projection (test set)")


def _paint_return_curve(figure: Any, axes: Any, data: dict[str, Any]) -> None:
    returns, moving = data["returns"], data["moving"]
    width = len(returns) - len(moving) + 1
    axes.plot(np.arange(1, len(returns) + 1), returns, alpha=0.35, label="episode return")
    axes.plot(np.arange(width, len(returns) + 1), moving, label=f"moving average ({width})")
    axes.set(xlabel="Episode", ylabel="Return", title="Training returns")
    axes.legend(loc="lower right")


_PAINTERS: dict[str, Painter] = {
    "confusion_matrix": _paint_confusion_matrix,
    "roc": _paint_roc,
    "residuals": _paint_residuals,
    "clusters": _paint_clusters,
    "projection": _paint_projection,
    "return_curve": _paint_return_curve,
}
