"""The Verify step: reload a saved model and check it reproduces what it did at training time.

`evaluation.json` in the model directory records a holdout (test rows with their predictions, or RL
evaluation episodes with their returns). A model file that was corrupted, replaced or cannot be loaded by the
installed libraries fails the check.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mlops.training.outputs import EVALUATION, MODEL_INFO, read_json

Check = Callable[[Any, dict[str, Any], float], tuple[bool, str]]


def verify_model(model_dir: Path, tolerance: float = 1e-6) -> tuple[bool, str]:
    """(ok, detail): does the model in `model_dir` reproduce the holdout recorded in its evaluation.json?"""
    model_dir = Path(model_dir)
    try:
        info = read_json(model_dir / MODEL_INFO)
        holdout = read_json(model_dir / EVALUATION)["holdout"]
        check = _CHECKS[holdout["kind"]]
        model = _load(model_dir, info)
    except Exception as exc:  # any failure to read or load means the model cannot be trusted
        return False, f"cannot load the model in {model_dir}: {type(exc).__name__}: {exc}"
    try:
        return check(model, holdout, tolerance)
    except Exception as exc:
        return False, f"the loaded model failed to re-predict its holdout: {type(exc).__name__}: {exc}"


def _load(model_dir: Path, info: dict[str, Any]) -> Any:
    if info["learning_type"] == "reinforcement":
        from mlops.learners.catalog import get_algorithm
        from mlops.training.reinforcement import agent_class

        return agent_class(get_algorithm(info["algorithm"])).load(model_dir)
    from mlops.learners.sklearn_learner import MODEL_FILE, load_model

    return load_model(model_dir / MODEL_FILE)


def _close(expected: Any, actual: Any, tolerance: float) -> tuple[bool, float]:
    """(within tolerance, largest difference), the tolerance being relative to values larger than 1."""
    expected_values = np.asarray(expected, dtype=np.float64)
    actual_values = np.asarray(actual, dtype=np.float64)
    if expected_values.shape != actual_values.shape:
        return False, float("inf")
    difference = np.abs(expected_values - actual_values)
    allowed = tolerance * np.maximum(1.0, np.abs(expected_values))
    return bool(np.all(difference <= allowed)), float(difference.max(initial=0.0))


def _verdict(name: str, expected: Any, actual: Any, tolerance: float) -> tuple[bool, str]:
    ok, largest = _close(expected, actual, tolerance)
    count = len(expected)
    if ok:
        return True, f"{count} recorded {name} reproduced (largest difference {largest:.3g})"
    return (
        False,
        f"{name} differ from the recorded ones (largest difference {largest:.3g}, tolerance {tolerance})",
    )


def _check_predictions(model: Any, holdout: dict[str, Any], tolerance: float) -> tuple[bool, str]:
    features = np.asarray(holdout["features"], dtype=np.float64)
    ok, detail = _verdict("predictions", holdout["predictions"], model.predict(features), tolerance)
    if not ok or "scores" not in holdout:
        return ok, detail
    from mlops.learners.sklearn_learner import class_scores

    ok, scores_detail = _verdict("class scores", holdout["scores"], class_scores(model, features), tolerance)
    return ok, f"{detail}; {scores_detail}" if ok else scores_detail


def _check_cluster_labels(model: Any, holdout: dict[str, Any], tolerance: float) -> tuple[bool, str]:
    features = np.asarray(holdout["features"], dtype=np.float64)
    return _verdict("cluster labels", holdout["labels"], model.predict(features), 0.0)


def _check_fitted_labels(model: Any, holdout: dict[str, Any], tolerance: float) -> tuple[bool, str]:
    from mlops.learners.sklearn_learner import fitted_labels
    from mlops.training.unsupervised import labels_digest

    labels = fitted_labels(model)
    if len(labels) != holdout["count"] or labels_digest(labels) != holdout["sha256"]:
        return (
            False,
            f"the model's {len(labels)} fitted cluster labels differ from the {holdout['count']} recorded",
        )
    return _verdict("fitted cluster labels", holdout["labels"], labels[: len(holdout["labels"])], 0.0)


def _check_transform(model: Any, holdout: dict[str, Any], tolerance: float) -> tuple[bool, str]:
    features = np.asarray(holdout["features"], dtype=np.float64)
    return _verdict("transformed rows", holdout["transformed"], model.transform(features), tolerance)


def _check_episodes(agent: Any, holdout: dict[str, Any], tolerance: float) -> tuple[bool, str]:
    replay = agent.evaluate(episodes=holdout["episodes"], seed=holdout["seed"])
    return _verdict("episode returns", holdout["returns"], replay["returns"], tolerance)


_CHECKS: dict[str, Check] = {
    "predictions": _check_predictions,
    "cluster_labels": _check_cluster_labels,
    "fitted_labels": _check_fitted_labels,
    "transform": _check_transform,
    "episodes": _check_episodes,
}
