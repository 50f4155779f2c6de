"""scikit-learn estimators built from the catalog: construction, fit/predict per task, and skops persistence.

An estimator is the class named by `spec.implementation[task]`, constructed with the catalog defaults, then
the user's hyperparameters, then `spec.fixed`. Algorithms that are sensitive to feature scale are wrapped in
`Pipeline(StandardScaler, estimator)`, so the saved artifact carries its own scaler and predicts on raw
features.

Models are saved with skops (`model.skops`), never pickle: loading a skops file cannot run arbitrary code.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from mlops.errors import InvalidRequest, TrainingError
from mlops.learners.catalog import AlgorithmSpec

MODEL_FILE = "model.skops"
# Distance-, kernel- or variance-based algorithms whose result depends on the units of the features.
SCALED_ALGORITHMS = frozenset(
    {
        "svm",
        "svr",
        "knn",
        "logistic_regression",
        "kmeans",
        "dbscan",
        "agglomerative",
        "gaussian_mixture",
        "pca",
    }
)
# The only modules whose types a model file of ours may contain; anything else means it is not ours.
TRUSTED_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")
# What skops does not trust by default but the catalog's models hold with their default settings.
CATALOG_MODEL_TYPES = (
    "sklearn.tree._tree.Tree",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
)


def import_implementation(reference: str) -> type:
    """The class named by a catalog "module:Class" reference."""
    module_name, _, attribute = reference.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise TrainingError(f"implementation '{reference}' cannot be imported: {exc}") from None


def constructor_arguments(spec: AlgorithmSpec, params: dict[str, Any]) -> dict[str, Any]:
    """Catalog defaults, overridden by the user's `params`, overridden by the algorithm's fixed arguments."""
    return {**spec.default_params(), **params, **spec.fixed}


def build_estimator(spec: AlgorithmSpec, task: str, params: dict[str, Any]) -> Any:
    """An unfitted estimator (a scaling Pipeline for scale-sensitive algorithms)."""
    if task not in spec.implementation:
        raise InvalidRequest(f"task: {spec.name} does not support {task} (it supports {', '.join(spec.tasks)})")
    estimator = import_implementation(spec.implementation[task])(**constructor_arguments(spec, params))
    if spec.name not in SCALED_ALGORITHMS:
        return estimator
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()), ("model", estimator)])


def final_estimator(model: Any) -> Any:
    """The estimator itself, inside its Pipeline or not."""
    return model.steps[-1][1] if hasattr(model, "steps") else model


def model_space(model: Any, x: np.ndarray) -> np.ndarray:
    """`x` as the final estimator sees it (after the scaler), where distances and variances are judged."""
    return model[:-1].transform(x) if hasattr(model, "steps") else x


# --- classification and regression ----------------------------------------------------------------


def fit_supervised(model: Any, x: np.ndarray, y: np.ndarray) -> Any:
    return model.fit(x, y)


def predict(model: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x))


def class_scores(model: Any, x: np.ndarray) -> np.ndarray | None:
    """Per-class probabilities (or decision scores when the model has no probabilities); None if neither."""
    for method in ("predict_proba", "decision_function"):
        if hasattr(model, method):
            return np.asarray(getattr(model, method)(x), dtype=np.float64)
    return None


def classes(model: Any) -> list[Any]:
    return [c.item() if hasattr(c, "item") else c for c in final_estimator(model).classes_]


# --- clustering -----------------------------------------------------------------------------------


def is_transductive(model: Any) -> bool:
    """True for clusterers with no rule for new points (DBSCAN, agglomerative): they have no `predict`."""
    return not hasattr(final_estimator(model), "predict")


def fit_clusters(model: Any, x: np.ndarray) -> np.ndarray:
    """Fit the clusterer and return the cluster label of each training row."""
    model.fit(x)
    return np.asarray(final_estimator(model).labels_ if is_transductive(model) else model.predict(x))


def cluster_labels(model: Any, x: np.ndarray) -> np.ndarray:
    """Cluster labels for `x`.

    DBSCAN and agglomerative clustering define clusters only for the points they were fitted on; there is
    no way to place a new point. For them `x` is clustered by fitting a fresh copy of the clusterer, with the
    same hyperparameters, on `x` scaled by the fitted scaler, so test metrics judge those hyperparameters on
    unseen data in the same feature space. The copy leaves the fitted (saved) model untouched: its `labels_`
    remain those of the training rows.
    """
    if not is_transductive(model):
        return np.asarray(model.predict(x))
    from sklearn.base import clone

    return np.asarray(clone(final_estimator(model)).fit_predict(model_space(model, x)))


def fitted_labels(model: Any) -> np.ndarray:
    """The labels a transductive clusterer gave its training rows (stored in the saved model)."""
    return np.asarray(final_estimator(model).labels_)


# --- dimensionality reduction ---------------------------------------------------------------------


def fit_reducer(model: Any, x: np.ndarray) -> Any:
    return model.fit(x)


def transform(model: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.transform(x))


def reconstruct(model: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x in model space, its reconstruction from the reduced components, in the same space)."""
    space = model_space(model, x)
    reducer = final_estimator(model)
    return space, np.asarray(reducer.inverse_transform(reducer.transform(space)))


def explained_variance_ratio(model: Any) -> np.ndarray | None:
    ratio = getattr(final_estimator(model), "explained_variance_ratio_", None)
    return None if ratio is None else np.asarray(ratio)


# --- persistence ----------------------------------------------------------------------------------


def save_model(model: Any, model_dir: Path) -> Path:
    import skops.io

    path = Path(model_dir) / MODEL_FILE
    skops.io.dump(model, path)
    return path


def load_model(path: Path) -> Any:
    """Load a model file this package wrote.

    skops refuses types it does not trust by default (tree models, for instance). We trust exactly the types
    it reports for this file, and only if they come from scikit-learn, numpy or scipy: a file holding any
    other type was not written by us and is refused. The types our catalog's models are known to hold are
    tried first, which needs one pass over the file instead of two.
    """
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return skops.io.load(path, trusted=list(CATALOG_MODEL_TYPES))
    except UntrustedTypesFoundException:
        pass  # another kind of model (a KNN with a ball tree, say): look at what it holds
    untrusted = skops.io.get_untrusted_types(file=path)
    foreign = [name for name in untrusted if not name.startswith(TRUSTED_MODULE_PREFIXES)]
    if foreign:
        raise TrainingError(f"{path}: refusing to load a model containing foreign types {foreign}")
    return skops.io.load(path, trusted=untrusted)
