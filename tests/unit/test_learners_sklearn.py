"""scikit-learn learners: estimators built from the catalog, the task helpers, and skops files (never pickle)."""

from __future__ import annotations

import dataclasses
import zipfile

import numpy as np
import pytest

from mlops.errors import InvalidRequest, TrainingError
from mlops.learners import sklearn_learner as learner
from mlops.learners.catalog import ALGORITHMS, get_algorithm


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    return x[order[:120]], y[order[:120]], x[order[120:]], y[order[120:]]


class Opaque:
    """A type no model of ours contains."""


# --- construction ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "task"), [(n, t) for n, s in ALGORITHMS.items() if s.learning_type != "reinforcement" for t in s.tasks]
)
def test_every_catalog_algorithm_builds_its_named_estimator(name, task):
    model = learner.build_estimator(get_algorithm(name), task, {})
    class_name = get_algorithm(name).implementation[task].split(":")[1]
    assert type(learner.final_estimator(model)).__name__ == class_name


def test_the_user_overrides_the_defaults_and_fixed_arguments_override_the_user():
    # GIVEN an algorithm whose catalog entry fixes a constructor argument
    spec = dataclasses.replace(get_algorithm("svm"), fixed={"kernel": "linear"})
    # WHEN built with a user C and a user attempt at the fixed argument
    model = learner.build_estimator(spec, "classification", {"C": 3.0, "kernel": "poly"})
    svc = learner.final_estimator(model)
    # THEN the user's C wins over the default, the fixed argument wins over the user, defaults fill the rest
    assert svc.C == 3.0 and svc.kernel == "linear" and svc.gamma == "scale"


@pytest.mark.parametrize("name", sorted(learner.SCALED_ALGORITHMS))
def test_scale_sensitive_algorithms_are_wrapped_with_a_standard_scaler(name):
    spec = get_algorithm(name)
    model = learner.build_estimator(spec, spec.tasks[0], {})
    assert [step for step, _ in model.steps] == ["scale", "model"]
    assert type(model.steps[0][1]).__name__ == "StandardScaler"


def test_tree_models_are_not_scaled():
    assert not hasattr(learner.build_estimator(get_algorithm("random_forest"), "regression", {}), "steps")


def test_a_task_the_algorithm_does_not_do_is_an_invalid_request():
    with pytest.raises(InvalidRequest, match="does not support regression"):
        learner.build_estimator(get_algorithm("svm"), "regression", {})


def test_a_broken_implementation_reference_is_a_training_error():
    with pytest.raises(TrainingError, match="cannot be imported"):
        learner.import_implementation("sklearn.linear_model:NoSuchModel")


# --- fit and predict per task ----------------------------------------------------------------------------------


def test_a_classifier_predicts_labels_and_class_probabilities(iris):
    x_train, y_train, x_test, _ = iris
    model = learner.fit_supervised(
        learner.build_estimator(get_algorithm("knn"), "classification", {}), x_train, y_train
    )
    scores = learner.class_scores(model, x_test)
    assert set(learner.predict(model, x_test)) <= {0, 1, 2}
    assert scores is not None and scores.shape == (30, 3) and np.allclose(scores.sum(axis=1), 1)
    assert learner.classes(model) == [0, 1, 2]


def test_a_clusterer_with_predict_labels_new_points_with_the_fitted_model(iris):
    x_train, _, x_test, _ = iris
    model = learner.build_estimator(get_algorithm("kmeans"), "clustering", {})
    train_labels = learner.fit_clusters(model, x_train)
    assert len(train_labels) == 120 and len(set(train_labels)) == 3
    assert np.array_equal(learner.cluster_labels(model, x_test), model.predict(x_test))


@pytest.mark.parametrize("name", ["dbscan", "agglomerative"])
def test_a_clusterer_without_predict_clusters_new_points_without_touching_the_saved_model(iris, name):
    # GIVEN a clusterer that cannot place new points, fitted on the training rows
    x_train, _, x_test, _ = iris
    model = learner.build_estimator(get_algorithm(name), "clustering", {"eps": 1.0} if name == "dbscan" else {})
    train_labels = learner.fit_clusters(model, x_train)
    assert learner.is_transductive(model)
    # WHEN the test rows are clustered
    test_labels = learner.cluster_labels(model, x_test)
    # THEN they get labels, and the model still holds the training rows' labels
    assert len(test_labels) == 30
    assert np.array_equal(learner.fitted_labels(model), train_labels)


def test_a_reducer_transforms_and_reconstructs(iris):
    x_train, _, x_test, _ = iris
    model = learner.fit_reducer(learner.build_estimator(get_algorithm("pca"), "dimensionality_reduction", {}), x_train)
    assert learner.transform(model, x_test).shape == (30, 2)
    space, reconstructed = learner.reconstruct(model, x_test)
    assert space.shape == reconstructed.shape == (30, 4)
    assert np.allclose(space.mean(axis=0), 0, atol=0.5)  # reconstruction is judged in the scaled space
    ratio = learner.explained_variance_ratio(model)
    assert ratio is not None and 0.9 < ratio.sum() <= 1


def test_keeping_every_component_reconstructs_exactly(iris):
    x_train, _, x_test, _ = iris
    spec = get_algorithm("pca")
    model = learner.fit_reducer(learner.build_estimator(spec, "dimensionality_reduction", {"n_components": 4}), x_train)
    space, reconstructed = learner.reconstruct(model, x_test)
    assert np.allclose(space, reconstructed)


# --- persistence -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["random_forest", "gradient_boosting", "svm", "logistic_regression"])
def test_a_saved_model_loads_and_predicts_the_same(iris, tmp_path, name):
    # GIVEN a fitted model (tree models need their types trusted explicitly when loaded)
    x_train, y_train, x_test, _ = iris
    params = {"n_estimators": 5} if name in ("random_forest", "gradient_boosting") else {}
    model = learner.build_estimator(get_algorithm(name), "classification", params)
    learner.fit_supervised(model, x_train, y_train)
    # WHEN it is saved and loaded again
    path = learner.save_model(model, tmp_path)
    loaded = learner.load_model(path)
    # THEN it is a skops file (a zip, not a pickle) named model.skops, and the loaded model predicts the same
    assert path.name == "model.skops" and zipfile.is_zipfile(path)
    assert np.array_equal(loaded.predict(x_test), model.predict(x_test))
    assert np.array_equal(
        np.asarray(learner.class_scores(loaded, x_test)), np.asarray(learner.class_scores(model, x_test))
    )


def test_a_model_holding_types_beyond_the_catalog_defaults_still_loads(iris, tmp_path):
    # GIVEN a KNN built on a ball tree, a type the fast path does not expect
    x_train, y_train, x_test, _ = iris
    model = learner.build_estimator(get_algorithm("knn"), "classification", {"algorithm": "ball_tree"})
    learner.fit_supervised(model, x_train, y_train)
    # WHEN it is saved and loaded THEN the audit finds only scikit-learn types and it predicts the same
    loaded = learner.load_model(learner.save_model(model, tmp_path))
    assert np.array_equal(loaded.predict(x_test), model.predict(x_test))


def test_a_model_file_holding_a_foreign_type_is_refused(tmp_path):
    import skops.io

    path = tmp_path / "model.skops"
    skops.io.dump({"model": Opaque()}, path)
    with pytest.raises(TrainingError, match="foreign types"):
        learner.load_model(path)
