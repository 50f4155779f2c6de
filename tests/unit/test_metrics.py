"""Metrics: the numbers a user gates on, computed the way the metric catalog names and defines them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlops import metrics
from mlops.errors import TrainingError
from mlops.metric_specs import metrics_for


def only_python_floats(values: dict) -> bool:
    return all(type(v) is float for v in values.values())


# --- classification --------------------------------------------------------------------------------------------


def test_perfect_multiclass_predictions_score_one_on_every_classification_metric():
    y = [0, 1, 2, 2, 1, 0]
    scores = np.eye(3)[y]
    result = metrics.classification_metrics(y, y, scores, classes=[0, 1, 2])
    assert set(result) == set(metrics_for("classification"))
    assert all(value == 1.0 for value in result.values())
    assert only_python_floats(result)


def test_binary_precision_and_recall_are_about_the_positive_class():
    # GIVEN 2 positives, one found, and one false alarm among 3 negatives
    y_true = [1, 1, 0, 0, 0]
    y_pred = [1, 0, 1, 0, 0]
    result = metrics.classification_metrics(y_true, y_pred, classes=[0, 1])
    # THEN precision and recall are those of class 1, not averaged with class 0
    assert result["precision"] == 0.5 and result["recall"] == 0.5
    assert result["accuracy"] == 0.6
    assert "roc_auc" not in result  # no scores, no AUC


def test_multiclass_precision_recall_and_f1_are_macro_averages():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 1, 2, 2, 2]
    result = metrics.classification_metrics(y_true, y_pred)
    assert result["recall"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert result["precision"] == pytest.approx((1 + 1 + 2 / 3) / 3)


def test_binary_roc_auc_uses_the_positive_class_score_from_probabilities_or_a_decision_function():
    y_true = [0, 0, 1, 1]
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.35, 0.65], [0.2, 0.8]])
    assert metrics.roc_auc(y_true, probabilities, classes=[0, 1]) == 1.0
    assert metrics.roc_auc(y_true, np.array([-2.0, 0.5, 0.1, 3.0]), classes=[0, 1]) == 0.75


def test_multiclass_roc_auc_is_one_vs_rest_and_accepts_raw_decision_scores():
    y_true = [0, 1, 2, 0, 1, 2]
    decision = np.array([[5.0, 1, -3], [0, 4, 1], [-1, 0, 2], [3, 2, 1], [1, 3, 2], [0, 1, 9]])
    assert metrics.roc_auc(y_true, decision, classes=[0, 1, 2]) == 1.0


def test_roc_auc_with_a_single_class_in_the_test_set_is_a_clear_error():
    with pytest.raises(TrainingError, match="single class"):
        metrics.roc_auc([1, 1, 1], np.array([0.2, 0.4, 0.9]))


def test_the_confusion_matrix_counts_actual_rows_against_predicted_columns():
    labels, matrix = metrics.confusion([0, 0, 1, 2], [0, 1, 1, 2])
    assert labels == [0, 1, 2]
    assert matrix == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert all(type(label) is int for label in labels)


# --- regression ------------------------------------------------------------------------------------------------


def test_regression_metrics_match_their_definitions():
    result = metrics.regression_metrics([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 6.0])
    assert result["rmse"] == pytest.approx(1.0)  # sqrt(4 / 4)
    assert result["mae"] == pytest.approx(0.5)
    assert result["r2"] == pytest.approx(1 - 4 / 5)
    assert set(result) == set(metrics_for("regression")) and only_python_floats(result)


# --- clustering ------------------------------------------------------------------------------------------------


def two_blobs(points_per_blob: int = 20) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 0.1, (points_per_blob, 2)), rng.normal(5, 0.1, (points_per_blob, 2))])
    return x, np.repeat([0, 1], points_per_blob)


def test_well_separated_clusters_score_well():
    x, labels = two_blobs()
    result = metrics.clustering_metrics(x, labels)
    assert set(result) == set(metrics_for("clustering")) and only_python_floats(result)
    assert result["silhouette"] > 0.9 and result["davies_bouldin"] < 0.1 and result["calinski_harabasz"] > 1000


def test_noise_points_are_left_out_of_the_clustering_scores():
    x, labels = two_blobs()
    noisy_x = np.vstack([x, [[2.5, 2.5], [-3.0, 8.0]]])
    noisy_labels = np.concatenate([labels, [-1, -1]])
    assert metrics.clustering_metrics(noisy_x, noisy_labels) == metrics.clustering_metrics(x, labels)


@pytest.mark.parametrize("labels", [[0] * 6, [-1] * 6, [0, 0, 0, -1, -1, -1]], ids=["one", "all-noise", "one+noise"])
def test_fewer_than_two_clusters_is_a_training_error_with_advice(labels):
    x = np.arange(12, dtype=float).reshape(6, 2)
    with pytest.raises(TrainingError, match=r"at least 2 clusters.*eps"):
        metrics.clustering_metrics(x, labels)


def test_one_point_per_cluster_is_a_training_error():
    with pytest.raises(TrainingError, match="its own cluster"):
        metrics.clustering_metrics(np.arange(6, dtype=float).reshape(3, 2), [0, 1, 2])


# --- dimensionality reduction ----------------------------------------------------------------------------------


def test_a_perfect_reconstruction_keeps_all_the_variance():
    x = np.random.default_rng(1).normal(size=(10, 3))
    result = metrics.dimensionality_reduction_metrics(x, x)
    assert result == {"explained_variance": 1.0, "reconstruction_error": 0.0}


def test_explained_variance_falls_back_to_the_share_of_variance_the_reconstruction_keeps():
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    flattened = x * [1.0, 0.0]  # the second axis is lost
    result = metrics.dimensionality_reduction_metrics(x, flattened)
    assert result["reconstruction_error"] == pytest.approx(0.25)
    assert result["explained_variance"] == pytest.approx(0.5)


def test_explained_variance_is_the_sum_of_the_ratios_when_the_estimator_reports_them():
    x = np.zeros((3, 2))
    result = metrics.dimensionality_reduction_metrics(x, x, explained_variance_ratio=np.array([0.6, 0.25]))
    assert result["explained_variance"] == pytest.approx(0.85) and only_python_floats(result)


# --- reinforcement learning ------------------------------------------------------------------------------------


def test_reinforcement_metrics_summarize_episode_returns_and_successes():
    result = metrics.reinforcement_metrics([1.0, 0.0, 1.0, 1.0], [True, False, True, True])
    assert result == {"mean_return": 0.75, "std_return": pytest.approx(math.sqrt(0.1875)), "success_rate": 0.75}
    assert set(result) == set(metrics_for("reinforcement")) and only_python_floats(result)


def test_reinforcement_metrics_without_episodes_is_an_error():
    with pytest.raises(TrainingError, match="no episodes"):
        metrics.reinforcement_metrics([], [])
