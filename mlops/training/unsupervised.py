"""Clustering and dimensionality reduction: fit on the train features, evaluate on the test features.

The target column, when present, is never shown to the algorithm (it only colours the projection plot).
"""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any

import numpy as np

from mlops import metrics
from mlops.learners import sklearn_learner as learner
from mlops.training import console, plots
from mlops.training.job import HOLDOUT_ROWS, Job, Outcome
from mlops.training.tabular import Split


def run_unsupervised(job: Job, split: Split) -> Outcome:
    model = learner.build_estimator(job.spec, job.task, job.params)
    console.progress("train", f"fitting {job.spec.name} ({job.task}) on {len(split.x_train)} rows")
    run = _run_clustering if job.task == "clustering" else _run_reduction
    outcome = run(model, split)
    outcome.features = split.features
    return outcome


def _run_clustering(model: Any, split: Split) -> Outcome:
    train_labels = learner.fit_clusters(model, split.x_train)
    console.progress("evaluate", f"clustering {len(split.x_test)} test rows")
    test_labels = learner.cluster_labels(model, split.x_test)
    space = learner.model_space(model, split.x_test)
    return Outcome(
        metrics=metrics.clustering_metrics(space, test_labels),
        n_train=len(split.x_train),
        n_test=len(split.x_test),
        holdout=_clustering_holdout(model, split.x_test, test_labels, train_labels),
        save=partial(learner.save_model, model),
        figures=[plots.clusters(space, test_labels)],
        details={"clusters": _cluster_sizes(test_labels)},
    )


def _clustering_holdout(model: Any, x_test: np.ndarray, test_labels: np.ndarray, train_labels: np.ndarray) -> dict:
    if learner.is_transductive(model):
        # No rule for new points: what the saved model can reproduce is the labels it gave its training rows.
        return {
            "kind": "fitted_labels",
            "labels": train_labels[:HOLDOUT_ROWS].tolist(),
            "count": len(train_labels),
            "sha256": labels_digest(train_labels),
        }
    return {
        "kind": "cluster_labels",
        "features": x_test[:HOLDOUT_ROWS].tolist(),
        "labels": test_labels[:HOLDOUT_ROWS].tolist(),
    }


def labels_digest(labels: np.ndarray) -> str:
    """A fingerprint of every label, so Verify checks all of them while recording only a few."""
    return hashlib.sha256(np.asarray(labels, dtype=np.int64).tobytes()).hexdigest()


def _cluster_sizes(labels: np.ndarray) -> dict[str, int]:
    values, counts = np.unique(labels, return_counts=True)
    return {str(int(v)): int(c) for v, c in zip(values, counts, strict=True)}


def _run_reduction(model: Any, split: Split) -> Outcome:
    learner.fit_reducer(model, split.x_train)
    console.progress("evaluate", f"reducing and reconstructing {len(split.x_test)} test rows")
    reduced = learner.transform(model, split.x_test)
    space, reconstructed = learner.reconstruct(model, split.x_test)
    return Outcome(
        metrics=metrics.dimensionality_reduction_metrics(space, reconstructed, learner.explained_variance_ratio(model)),
        n_train=len(split.x_train),
        n_test=len(split.x_test),
        holdout={
            "kind": "transform",
            "features": split.x_test[:HOLDOUT_ROWS].tolist(),
            "transformed": reduced[:HOLDOUT_ROWS].tolist(),
        },
        save=partial(learner.save_model, model),
        figures=[plots.projection(reduced, split.y_test)],
    )
