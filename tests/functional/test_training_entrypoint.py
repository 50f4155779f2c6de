"""The training entry point, driven as SageMaker drives it: `python -m mlops.training` with SM_* variables.

Every catalog algorithm trains on a bundled dataset (or a gymnasium environment) in its own subprocess, prints
its metrics in the fixed format, writes its model, evaluation and plots, and passes the Verify check; bad input
exits 2 with one line, a training failure exits 1.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mlops.errors import InvalidRequest
from mlops.learners.catalog import ALGORITHMS, get_algorithm
from mlops.metric_specs import DEFAULT_METRIC, METRICS, metrics_for
from mlops.training.entrypoint import main
from mlops.training.hyperparameters import decode_params, split_control
from mlops.training.verify import verify_model

PROGRESS_LINE = re.compile(r"^\[mlops\] progress [a-z]+ \S.*$")


@dataclass(frozen=True)
class TrainingCase:
    """One algorithm trained through the entry point, and the score that shows it learned."""

    algorithm: str
    dataset: str | None  # None: reinforcement learning, no channels
    metric: str
    good_enough: float  # at least this (at most, for error metrics)
    hps: Mapping[str, str] = field(default_factory=dict)  # string-valued, as SageMaker sends them

    @property
    def id(self) -> str:
        return f"{self.algorithm}-{self.dataset or self.hps.get('mlops_environment', 'default-env')}"


# Values are strings, as SageMaker delivers hyperparameters. Slow defaults are cut down (n_estimators).
SUPERVISED_AND_UNSUPERVISED = [
    TrainingCase("logistic_regression", "breast-cancer", "accuracy", 0.9),
    TrainingCase("random_forest", "iris", "accuracy", 0.8, {"n_estimators": "20"}),
    TrainingCase("random_forest", "diabetes", "r2", 0.3, {"n_estimators": "20", "max_depth": "null"}),
    TrainingCase("gradient_boosting", "wine", "accuracy", 0.8, {"n_estimators": "20"}),
    TrainingCase("gradient_boosting", "diabetes", "r2", 0.3, {"n_estimators": "20", "learning_rate": "0.1"}),
    TrainingCase("svm", "iris", "accuracy", 0.8, {"C": "1.0", "kernel": "rbf"}),
    TrainingCase("knn", "digits", "f1", 0.8, {"n_neighbors": "5", "mlops_metric": "f1"}),
    TrainingCase("decision_tree", "iris", "accuracy", 0.8),
    TrainingCase("linear_regression", "diabetes", "r2", 0.3, {"fit_intercept": "true"}),
    TrainingCase("ridge", "diabetes", "r2", 0.3, {"alpha": "1.0"}),
    TrainingCase("lasso", "diabetes", "rmse", 60.0, {"mlops_metric": "rmse"}),
    TrainingCase("svr", "diabetes", "r2", 0.3),
    TrainingCase("kmeans", "iris", "silhouette", 0.2, {"n_clusters": "3"}),
    # the default eps leaves iris's 30 test rows all noise: a wider neighbourhood finds the clusters
    TrainingCase("dbscan", "iris", "silhouette", 0.2, {"eps": "1.0"}),
    TrainingCase("agglomerative", "iris", "silhouette", 0.2),
    TrainingCase("gaussian_mixture", "iris", "silhouette", 0.2),
    TrainingCase("pca", "iris", "explained_variance", 0.5, {"n_components": "2"}),
    TrainingCase("truncated_svd", "iris", "explained_variance", 0.5),
]
# A random FrozenLake policy reaches the goal ~1.5% of the time; a random CartPole policy lasts ~22 steps.
REINFORCEMENT = [
    TrainingCase("q_learning", None, "mean_return", 0.3, {"mlops_environment": "FrozenLake-v1"}),
    TrainingCase(
        "policy_gradient",
        None,
        "mean_return",
        100.0,
        {"mlops_environment": "CartPole-v1", "episodes": "100", "eval_episodes": "10"},
    ),
]
PLOTS = {
    "classification": ["confusion_matrix.png", "roc.png"],
    "regression": ["residuals.png"],
    "clustering": ["clusters.png"],
    "dimensionality_reduction": ["projection.png"],
    "reinforcement": ["return_curve.png"],
}
EVALUATION_KEYS = {"task", "primary_metric", "metrics", "n_train", "n_test", "duration_seconds", "holdout"}
MODEL_INFO_KEYS = {
    "algorithm",
    "task",
    "learning_type",
    "params",
    "features",
    "target",
    "environment",
    "metric",
    "seed",
    "library_versions",
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def task_of(case: TrainingCase) -> str:
    return METRICS[case.metric].task


def test_the_cases_cover_every_task_of_every_catalog_algorithm():
    covered = {(case.algorithm, task_of(case)) for case in SUPERVISED_AND_UNSUPERVISED + REINFORCEMENT}
    assert covered == {(name, task) for name, spec in ALGORITHMS.items() for task in spec.tasks}


# --- every algorithm, end to end -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", SUPERVISED_AND_UNSUPERVISED + REINFORCEMENT, ids=lambda case: case.id)
def test_every_algorithm_trains_evaluates_and_verifies_through_the_entry_point(training_runs, case):
    # GIVEN string-valued SM_HPS naming the algorithm, and the bundled dataset's channels (none for RL)
    # WHEN the entry point runs in a subprocess
    run = training_runs.result(case)
    # THEN it succeeds and prints one metric line per metric of the task, in the fixed format
    assert run.returncode == 0, run.explain()
    task = task_of(case)
    printed = run.metric_lines()
    assert set(printed) == set(metrics_for(task))
    assert all(PROGRESS_LINE.match(line) for line in run.stdout.splitlines() if " progress " in line)
    # AND the model learned something (the primary metric beats the bar, in the metric's direction)
    evaluation = run.evaluation()
    value = evaluation["metrics"][case.metric]
    assert METRICS[case.metric].passes(value, case.good_enough), f"{case.metric}={value}"
    assert float(printed[case.metric]) == value
    # AND evaluation.json, its copy beside the model, model_info.json and the plots are written
    assert_outputs_complete(run, case, task)
    # AND the saved model reproduces its recorded holdout predictions
    ok, detail = verify_model(run.model_dir)
    assert ok, detail


def assert_outputs_complete(run, case: TrainingCase, task: str) -> None:
    evaluation = run.evaluation()
    assert set(evaluation) >= EVALUATION_KEYS
    assert evaluation["task"] == task
    assert evaluation["primary_metric"] == case.hps.get("mlops_metric", DEFAULT_METRIC[task])
    assert evaluation["n_train"] > 0 and evaluation["n_test"] > 0 and evaluation["holdout"]
    assert json.loads((run.model_dir / "evaluation.json").read_text()) == evaluation
    info = run.model_info()
    assert set(info) >= MODEL_INFO_KEYS
    assert (info["algorithm"], info["task"], info["learning_type"]) == (
        case.algorithm,
        task,
        ALGORITHMS[case.algorithm].learning_type,
    )
    ran_with = {"gymnasium"} if task == "reinforcement" else {"scipy", "scikit-learn", "skops"}
    assert set(info["library_versions"]) >= {"python", "mlops-issueops", "numpy", *ran_with}
    for plot in PLOTS[task]:
        assert (run.output_dir / "plots" / plot).read_bytes().startswith(PNG_MAGIC), plot


def test_unsupervised_algorithms_never_see_the_target_column(training_runs):
    # GIVEN a clustering run on iris, whose CSV has a target column
    run = training_runs.result(case_named("kmeans"))
    # THEN the model was trained on the four measurements only
    info = run.model_info()
    assert info["target"] is None
    assert "target" not in info["features"] and len(info["features"]) == 4


def test_a_dual_task_algorithm_infers_regression_from_a_continuous_target(training_runs):
    # GIVEN random_forest on diabetes with no mlops_task
    run = training_runs.result(case_named("random_forest", "diabetes"))
    # THEN it trained a regressor
    assert run.model_info()["task"] == "regression"
    assert set(run.evaluation()["metrics"]) == {"rmse", "mae", "r2"}


def test_a_classifier_reports_its_confusion_matrix(training_runs):
    run = training_runs.result(case_named("svm"))
    matrix = run.evaluation()["confusion_matrix"]
    assert matrix["labels"] == [0, 1, 2]
    assert sum(map(sum, matrix["matrix"])) == run.evaluation()["n_test"] == 30


# --- Verify: a corrupted or replaced model is caught ---------------------------------------------------------


def copied_model(run, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run.model_dir, tmp_path / "model"))


def test_verify_fails_for_a_corrupted_model_file(training_runs, tmp_path):
    # GIVEN a trained model whose file was overwritten with garbage
    model_dir = copied_model(training_runs.result(case_named("svm")), tmp_path)
    (model_dir / "model.skops").write_bytes(b"definitely not a model")
    # WHEN it is verified
    ok, detail = verify_model(model_dir)
    # THEN verification fails and says the model could not be loaded
    assert not ok
    assert detail.startswith(f"cannot load the model in {model_dir}: "), detail


def test_verify_fails_for_a_truncated_model_file(training_runs, tmp_path):
    model_dir = copied_model(training_runs.result(case_named("decision_tree")), tmp_path)
    blob = (model_dir / "model.skops").read_bytes()
    (model_dir / "model.skops").write_bytes(blob[: len(blob) // 2])
    ok, detail = verify_model(model_dir)
    assert not ok
    assert detail.startswith(f"cannot load the model in {model_dir}: "), detail


def test_verify_fails_when_the_model_was_replaced_by_another_one(training_runs, tmp_path):
    # GIVEN the svm's model directory with its model file swapped for the random forest's (same features)
    model_dir = copied_model(training_runs.result(case_named("svm")), tmp_path)
    impostor = training_runs.result(case_named("random_forest", "iris")).model_dir / "model.skops"
    shutil.copyfile(impostor, model_dir / "model.skops")
    # WHEN it is verified THEN the impostor does not reproduce the recorded holdout
    ok, detail = verify_model(model_dir)
    assert not ok
    assert detail.startswith("predictions differ from the recorded ones (largest difference "), detail


def test_verify_checks_the_fitted_labels_of_a_clusterer_without_predict(training_runs, tmp_path):
    # GIVEN dbscan's model directory with its model swapped for agglomerative clustering's (no predict either)
    model_dir = copied_model(training_runs.result(case_named("dbscan")), tmp_path)
    impostor = training_runs.result(case_named("agglomerative")).model_dir / "model.skops"
    shutil.copyfile(impostor, model_dir / "model.skops")
    # THEN the labels it stored for its training rows give it away
    ok, detail = verify_model(model_dir)
    assert not ok
    assert re.fullmatch(r"the model's \d+ fitted cluster labels differ from the \d+ recorded", detail), detail


def test_verify_fails_for_a_corrupted_reinforcement_learning_policy(training_runs, tmp_path):
    model_dir = copied_model(training_runs.result(REINFORCEMENT[0]), tmp_path)
    (model_dir / "policy.npz").write_bytes(b"PK\x03\x04 broken")
    ok, detail = verify_model(model_dir)
    assert not ok
    assert detail.startswith(f"cannot load the model in {model_dir}: "), detail


def test_verify_fails_for_a_directory_without_a_model(tmp_path):
    ok, detail = verify_model(tmp_path)
    assert not ok
    assert detail.startswith(f"cannot load the model in {tmp_path}: FileNotFoundError"), detail


# --- SM_HPS as SageMaker sends it ------------------------------------------------------------------------------


def test_string_hyperparameters_are_decoded_to_their_declared_types(bundled_channels, tmp_path, capsys):
    # GIVEN SM_HPS where every value is a string, including null and booleans
    hps = {
        "mlops_algorithm": "random_forest",
        "mlops_seed": "7",
        "n_estimators": "5",
        "max_depth": "null",
        "bootstrap": "false",
        "max_features": "None",
        "min_samples_leaf": "2",
        "sagemaker_program": "train.py",
    }
    # WHEN the entry point runs (in-process here: the decoding is what is under test)
    code = main(script_mode_environ(tmp_path, hps, bundled_channels("iris")))
    # THEN it trains with typed values, and mlops_seed seeds the algorithm
    assert code == 0, capsys.readouterr().err
    params = json.loads((tmp_path / "model" / "model_info.json").read_text())["params"]
    assert params["n_estimators"] == 5 and params["min_samples_leaf"] == 2
    assert params["max_depth"] is None and params["max_features"] is None and params["bootstrap"] is False
    assert params["random_state"] == 7


def test_a_classifier_refuses_a_continuous_target(bundled_channels, tmp_path, capsys):
    # GIVEN a classification-only algorithm and a dataset whose target is a continuous measurement
    code = main(script_mode_environ(tmp_path, {"mlops_algorithm": "svm"}, bundled_channels("diabetes")))
    # THEN it is rejected as bad input, with the reason
    assert code == 2
    assert "use a regression algorithm" in capsys.readouterr().err


def script_mode_environ(tmp_path: Path, hps: dict, channels: Mapping[str, Path]) -> dict[str, str]:
    channel_vars = {f"SM_CHANNEL_{name.upper()}": str(path) for name, path in channels.items()}
    return {
        "SM_MODEL_DIR": str(tmp_path / "model"),
        "SM_OUTPUT_DATA_DIR": str(tmp_path / "output"),
        "SM_HPS": json.dumps(hps),
        **channel_vars,
    }


# --- bad input exits 2 with one line; a crash exits 1 ----------------------------------------------------------

BAD_INPUTS = {
    "unknown algorithm": ({"mlops_algorithm": "random_forrest"}, "did you mean 'random_forest'"),
    "missing algorithm": ({"n_estimators": "5"}, "mlops_algorithm: required"),
    "bad hyperparameter": ({"mlops_algorithm": "random_forest", "n_estimators": "many"}, "n_estimators"),
    "out of range": ({"mlops_algorithm": "knn", "n_neighbors": "0"}, "out of range"),
    "not a choice": ({"mlops_algorithm": "svm", "kernel": "cubic"}, "kernel"),
    "unknown hyperparameter": ({"mlops_algorithm": "ridge", "alpah": "1"}, "did you mean 'alpha'"),
    "unknown metric": ({"mlops_algorithm": "ridge", "mlops_metric": "accuracy"}, "unknown metric"),
    "wrong task": ({"mlops_algorithm": "ridge", "mlops_task": "classification"}, "mlops_task"),
    "missing target": ({"mlops_algorithm": "ridge", "mlops_target": "price"}, "target column 'price'"),
    "unknown environment": ({"mlops_algorithm": "q_learning", "mlops_environment": "Pong-v5"}, "Pong-v5"),
}


@pytest.mark.parametrize(("hps", "message"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_exits_2_with_a_one_line_message(entry_point, bundled_channels, tmp_path, hps, message):
    # GIVEN a request a user got wrong
    # WHEN the entry point runs
    run = entry_point(tmp_path, hps, bundled_channels("diabetes"))
    # THEN it exits 2 with a single `[mlops] error` line naming the problem, and no traceback
    assert_one_line_error(run, 2, message)


def test_a_missing_channel_exits_2(entry_point, bundled_channels, tmp_path):
    # GIVEN a train channel but no SM_CHANNEL_TEST
    channels = {"train": bundled_channels("iris")["train"]}
    run = entry_point(tmp_path, {"mlops_algorithm": "svm"}, channels)
    # THEN the entry point refuses to start
    assert_one_line_error(run, 2, "SM_CHANNEL_TEST is not set")


def test_a_channel_directory_that_does_not_exist_exits_2(entry_point, tmp_path):
    channels = {"train": tmp_path / "nowhere", "test": tmp_path / "nowhere"}
    run = entry_point(tmp_path, {"mlops_algorithm": "svm"}, channels)
    assert_one_line_error(run, 2, "does not exist")


def test_malformed_data_exits_2_naming_file_line_and_column(entry_point, tmp_path):
    # GIVEN channels whose CSV has a word where a number belongs (line 3, column 2)
    channels = {channel: tmp_path / channel for channel in ("train", "test")}
    for directory in channels.values():
        directory.mkdir()
        (directory / "data.csv").write_text("a,b,target\n1,2,0\n3,oops,1\n")
    run = entry_point(tmp_path, {"mlops_algorithm": "svm"}, channels)
    # THEN the error points at the exact spot
    assert_one_line_error(run, 2, "data.csv:3:2")


def test_the_crash_test_hook_exits_1(entry_point, bundled_channels, tmp_path):
    # GIVEN the mlops_fail=crash test hook, used by pipeline tests to simulate a crashing trainer
    hps = {"mlops_algorithm": "ridge", "mlops_fail": "crash"}
    run = entry_point(tmp_path, hps, bundled_channels("diabetes"))
    # THEN training "crashes": exit 1, an error line, and no evaluation
    assert_one_line_error(run, 1, "simulated training crash")
    assert not (run.output_dir / "evaluation.json").exists()


def test_invalid_sm_hps_json_exits_2(entry_point, tmp_path):
    run = entry_point(tmp_path, {}, None, SM_HPS="{not json")
    assert_one_line_error(run, 2, "SM_HPS")


def assert_one_line_error(run, code: int, message: str) -> None:
    assert run.returncode == code, run.explain()
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("[mlops] error "), run.stderr
    assert message in lines[0]
    assert "Traceback" not in run.stderr + run.stdout


def case_named(algorithm: str, dataset: str | None = None) -> TrainingCase:
    cases = SUPERVISED_AND_UNSUPERVISED + REINFORCEMENT
    return next(c for c in cases if c.algorithm == algorithm and dataset in (None, c.dataset))


@pytest.mark.parametrize(
    ("name", "sent", "decoded"),
    [
        ("n_estimators", "100", 100),
        ("n_estimators", 100.0, 100),
        ("n_estimators", "1e3", 1000),
        ("learning_rate", "0.5", 0.5),
        ("learning_rate", 1, 1.0),
        ("max_depth", "null", None),
        ("max_depth", "None", None),
        ("max_depth", None, None),
    ],
)
def test_sagemaker_string_forms_decode_by_the_declared_kind(name, sent, decoded):
    params = decode_params(get_algorithm("gradient_boosting"), {name: sent})
    assert params[name] == decoded and type(params[name]) is type(decoded)


@pytest.mark.parametrize(("sent", "decoded"), [("true", True), ("False", False), ("1", True), (False, False)])
def test_boolean_hyperparameters_accept_sagemaker_spellings(sent, decoded):
    assert decode_params(get_algorithm("random_forest"), {"bootstrap": sent}) == {"bootstrap": decoded}


@pytest.mark.parametrize(
    ("name", "sent"),
    [("n_estimators", "2.5"), ("n_estimators", True), ("subsample", "nan"), ("subsample", "null"), ("subsample", "2")],
)
def test_values_that_do_not_fit_the_declared_kind_or_range_are_invalid(name, sent):
    with pytest.raises(InvalidRequest, match=name):
        decode_params(get_algorithm("gradient_boosting"), {name: sent})


def test_control_keys_are_separated_from_hyperparameters_and_sagemaker_keys_ignored():
    control = split_control(
        {"mlops_algorithm": "ridge", "mlops_seed": "7", "mlops_task": "null", "alpha": "2", "sagemaker_region": "x"}
    )
    assert (control.algorithm, control.seed, control.task, control.target) == ("ridge", 7, None, "target")
    assert control.algorithm_params == {"alpha": "2"}


def test_an_unknown_control_key_is_invalid():
    with pytest.raises(InvalidRequest, match="mlops_algoritm"):
        split_control({"mlops_algoritm": "ridge"})
