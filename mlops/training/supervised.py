"""Classification and regression: fit on the train channel, evaluate on the test channel."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from mlops import metrics
from mlops.learners import sklearn_learner as learner
from mlops.training import console, plots
from mlops.training.job import HOLDOUT_ROWS, Job, Outcome
from mlops.training.tabular import Split, check_test_classes, class_labels


def run_supervised(job: Job, split: Split) -> Outcome:
    assert split.y_train is not None and split.y_test is not None  # load_split guarantees a target
    y_train, y_test = split.y_train, split.y_test
    if job.task == "classification":
        y_train, y_test = class_labels(y_train, "train"), class_labels(y_test, "test")
        check_test_classes(y_train, y_test)
    model = learner.build_estimator(job.spec, job.task, job.params)
    console.progress("train", f"fitting {job.spec.name} ({job.task}) on {len(y_train)} rows")
    learner.fit_supervised(model, split.x_train, y_train)
    console.progress("evaluate", f"predicting {len(y_test)} test rows")
    evaluate = _evaluate_classifier if job.task == "classification" else _evaluate_regressor
    outcome = evaluate(model, split.x_test, y_test)
    outcome.n_train, outcome.features = len(y_train), split.features
    return outcome


def _evaluate_classifier(model: Any, x_test: np.ndarray, y_test: np.ndarray) -> Outcome:
    """Metrics, confusion matrix and plots on the test set (the caller fills in n_train and features)."""
    predictions = learner.predict(model, x_test)
    scores = learner.class_scores(model, x_test)
    classes = learner.classes(model)
    labels, matrix = metrics.confusion(y_test, predictions)
    figures = [plots.confusion_matrix(labels, matrix)]
    if scores is not None:
        figures.append(plots.roc(y_test, scores, classes))
    return Outcome(
        metrics=metrics.classification_metrics(y_test, predictions, scores, classes),
        n_train=0,
        n_test=len(y_test),
        holdout=_holdout(x_test, predictions, scores),
        save=partial(learner.save_model, model),
        figures=figures,
        details={"confusion_matrix": {"labels": labels, "matrix": matrix}, "classes": classes},
    )


def _evaluate_regressor(model: Any, x_test: np.ndarray, y_test: np.ndarray) -> Outcome:
    predictions = learner.predict(model, x_test)
    return Outcome(
        metrics=metrics.regression_metrics(y_test, predictions),
        n_train=0,
        n_test=len(y_test),
        holdout=_holdout(x_test, predictions, None),
        save=partial(learner.save_model, model),
        figures=[plots.residuals(y_test, predictions)],
    )


def _holdout(x_test: np.ndarray, predictions: np.ndarray, scores: np.ndarray | None) -> dict[str, Any]:
    """The first test rows with what the model said about them, for the Verify step to reproduce."""
    holdout = {
        "kind": "predictions",
        "features": x_test[:HOLDOUT_ROWS].tolist(),
        "predictions": predictions[:HOLDOUT_ROWS].tolist(),
    }
    if scores is not None:
        holdout["scores"] = scores[:HOLDOUT_ROWS].tolist()
    return holdout
