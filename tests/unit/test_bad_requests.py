"""GIVEN a bad training request, WHEN `mlops validate` reads it, THEN it exits 2 with one specific line per problem
on stderr, names the field, says how to fix it, and prints nothing else (no traceback, no internal error)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from mlops.cli import main
from mlops.errors import DatasetError, InvalidRequest
from mlops.intake import request_from_file

GOOD = """\
learning_type: supervised
algorithm: random_forest
dataset_id: iris
hyperparameters:
  n_estimators: 100
  max_depth: 10
evaluation_threshold: 0.85
max_retry: 3
"""


# A problem line names a field (`hyperparameters.max_depth`, `issue body`) and says what is wrong with it.
PROBLEM_LINE = re.compile(r"[a-z_][\w.]*( body)?: \S")


def _variant(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


# (case, request body, the start of the problem line it must produce: the field, then what is wrong)
BAD_REQUESTS: list[tuple[str, str | bytes, str]] = [
    (
        "unknown key with suggestion",
        GOOD + "max_retires: 2\n",
        "max_retires: unknown field (did you mean 'max_retry'?)",
    ),
    (
        "unknown algorithm",
        _variant("random_forest", "random_forrest"),
        "algorithm: unknown algorithm 'random_forrest' (did you mean 'random_forest'?)",
    ),
    (
        "algorithm that does not exist at all",
        _variant("random_forest", "xgboost_deluxe"),
        "algorithm: unknown algorithm 'xgboost_deluxe' (valid: ",
    ),
    (
        "mismatched learning type",
        _variant("supervised", "unsupervised"),
        "algorithm: 'random_forest' is a supervised algorithm but learning_type is 'unsupervised'; "
        "set learning_type: supervised",
    ),
    (
        "invalid learning type",
        _variant("supervised", "semi_supervised"),
        "learning_type: Input should be 'supervised', 'unsupervised' or 'reinforcement'",
    ),
    (
        "reinforcement algorithm as supervised",
        _variant("random_forest", "q_learning"),
        "algorithm: 'q_learning' is a reinforcement algorithm but learning_type is 'supervised'",
    ),
    (
        "unknown hyperparameter",
        _variant("max_depth", "max_dept"),
        "hyperparameters.max_dept: not a hyperparameter of random_forest (did you mean 'max_depth'?)",
    ),
    (
        "hyperparameter wrong type",
        _variant("n_estimators: 100", "n_estimators: many"),
        "hyperparameters.n_estimators: must be an integer",
    ),
    (
        "hyperparameter float for int",
        _variant("n_estimators: 100", "n_estimators: 10.5"),
        "hyperparameters.n_estimators: must be an integer",
    ),
    (
        "hyperparameter bool for int",
        _variant("n_estimators: 100", "n_estimators: true"),
        "hyperparameters.n_estimators: must be an integer",
    ),
    (
        "hyperparameter out of range",
        _variant("max_depth: 10", "max_depth: 0"),
        "hyperparameters.max_depth: 0 is out of range",
    ),
    (
        "hyperparameter negative",
        _variant("n_estimators: 100", "n_estimators: -5"),
        "hyperparameters.n_estimators: -5 is out of range",
    ),
    (
        "hyperparameter bad choice",
        _variant("max_depth: 10", "max_features: sqr"),
        "hyperparameters.max_features: 'sqr' is not allowed (did you mean 'sqrt'?)",
    ),
    (
        "hyperparameters not a mapping",
        _variant("  n_estimators: 100\n  max_depth: 10\n", "  - 100\n"),
        "hyperparameters: Input should be a valid dictionary",
    ),
    (
        "threshold out of range",
        _variant("0.85", "1.5"),
        "evaluation_threshold: 1.5 is outside the range of accuracy (0 to 1)",
    ),
    (
        "threshold not a number",
        _variant("0.85", "high"),
        "evaluation_threshold: Input should be a valid number",
    ),
    ("threshold infinite", _variant("0.85", ".inf"), "evaluation_threshold: must be a finite number"),
    (
        "max_retry too large",
        _variant("max_retry: 3", "max_retry: 11"),
        "max_retry: Input should be less than or equal to 10",
    ),
    (
        "max_retry negative",
        _variant("max_retry: 3", "max_retry: -1"),
        "max_retry: Input should be greater than or equal to 0",
    ),
    (
        "metric for another task",
        "learning_type: supervised\nalgorithm: logistic_regression\ndataset_id: iris\n"
        "evaluation_threshold: 0.85\nevaluation_metric: rmse\n",
        "evaluation_metric: 'rmse' does not apply to logistic_regression (classification)",
    ),
    (
        "metric for the bundled dataset's task",
        GOOD + "evaluation_metric: rmse\n",
        "evaluation_metric: 'rmse' does not apply to random_forest (classification)",
    ),
    ("unknown task", GOOD + "task: clustering\n", "task: 'clustering' is not a supervised task"),
    ("made-up task", GOOD + "task: sorting\n", "task: 'sorting' is not a supervised task"),
    (
        "octal-looking integer is decimal",
        _variant("max_depth: 10", "max_depth: 0100000"),
        "hyperparameters.max_depth: 100000 is out of range",
    ),
    (
        "base-60 integer is text",
        _variant("max_depth: 10", "max_depth: 1:30"),
        "hyperparameters.max_depth: must be an integer >= 1 and <= 1000 (got '1:30'); base-60 numbers",
    ),
    (
        "integer of 5000 digits",
        _variant("max_depth: 10", "max_depth: " + "9" * 5000),
        "request: line 6: max_depth: '999",
    ),
    (
        "path in dataset id",
        _variant("dataset_id: iris", "dataset_id: ../../etc/passwd"),
        "dataset_id: '../../etc/passwd' is not a dataset id",
    ),
    (
        "absolute path dataset id",
        _variant("dataset_id: iris", "dataset_id: /etc/passwd"),
        "dataset_id: '/etc/passwd' is not a dataset id",
    ),
    (
        "dataset id with dots",
        _variant("dataset_id: iris", "dataset_id: a..b"),
        "dataset_id: 'a..b' is not a dataset id",
    ),
    ("missing required fields", "algorithm: random_forest\n", "dataset_id: required field is missing"),
    (
        "environment on supervised",
        GOOD + "environment: CartPole-v1\n",
        "environment: only reinforcement learning takes an environment",
    ),
    ("bad model id", GOOD + "model_id: Bad Name!\n", "model_id: 'Bad Name!' must be lower-case"),
    ("bad version", GOOD + "version: latest\n", "version: 'latest' is not a semantic version"),
    (
        "tuning not available yet",
        GOOD + "tuning: {strategy: grid}\n",
        "tuning: hyperparameter tuning is not available",
    ),
    (
        "yaml bomb",
        'a: &a ["lol","lol"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n'
        "d: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
        "request: line 1: anchors (&a) are not allowed",
    ),
    ("deep nesting", "a: " + "[" * 500 + "]" * 500 + "\n", "request: line 1: nested more than 10 levels deep"),
    ("oversized body", "# " + "x" * 70_000 + "\n" + GOOD, "body: the request is larger than 64 KiB"),
    ("non-UTF-8 body", GOOD.encode() + b"note: \xff\xfe\n", "issue body: is not valid UTF-8 (byte 0xff at offset"),
    (
        "a list instead of a mapping",
        "- algorithm: random_forest\n",
        "request: nothing that looks like a training request was found",
    ),
    (
        "a bare scalar",
        "just train something please\n",
        "request: nothing that looks like a training request was found",
    ),
    (
        "python object tag",
        "algorithm: !!python/object/apply:os.system ['echo pwned']\n",
        "request: line 1: the tag !!python/object/apply:os.system is not allowed",
    ),
    ("duplicate key", GOOD + "algorithm: svm\n", "request: line 9: duplicate key 'algorithm' (first set on line 2)"),
    ("malformed yaml", "algorithm: [random_forest\n", "request: YAML error at line 2, column 1"),
    (
        "empty body",
        "",
        "request: nothing that looks like a training request was found (the issue body is empty)",
    ),
]


@pytest.mark.parametrize(("case", "body", "expected"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_request_is_rejected_with_a_specific_message(tmp_path: Path, capsys, case, body, expected) -> None:
    # GIVEN a request file with one kind of mistake
    path = tmp_path / "request.yml"
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    # WHEN it is validated
    started = time.perf_counter()
    code = main(["validate", str(path)])
    elapsed = time.perf_counter() - started
    # THEN exit 2, every line on stderr a problem (`field: what is wrong`; no traceback, no internal error),
    # one of them the specific problem, and no time lost on hostile input
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert all(PROBLEM_LINE.match(line) for line in lines), err
    assert any(line.startswith(expected) for line in lines), err
    assert elapsed < 1.0


def test_every_problem_is_reported_at_once(tmp_path: Path, capsys) -> None:
    # GIVEN a request with four separate mistakes
    path = tmp_path / "request.yml"
    path.write_text(
        "learning_type: unsupervised\nalgorithm: random_forest\ndataset_id: ../x\n"
        "evaluation_threshold: 2\nhyperparameters: {n_estimator: 3}\n"
    )
    # WHEN validated THEN each gets its own line, so the author fixes them in one go
    assert main(["validate", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    fields = {line.split(":", 1)[0] for line in lines}
    assert {"algorithm", "dataset_id", "hyperparameters.n_estimator", "evaluation_threshold"} <= fields


def test_valid_request_prints_the_normalized_request_as_json(tmp_path: Path, capsys) -> None:
    import json

    path = tmp_path / "request.yml"
    path.write_text(GOOD)
    assert main(["validate", str(path), "--json", "--title", "[MLOps] モデル学習リクエスト: Iris Classifier"]) == 0
    request = json.loads(capsys.readouterr().out)
    assert request["model_id"] == "iris-classifier"
    assert request["hyperparameters"] == {"n_estimators": 100, "max_depth": 10}
    assert request["max_retry"] == 3


def test_missing_file_is_a_usage_error(capsys) -> None:
    assert main(["validate", "/nonexistent/request.yml"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_an_unknown_dataset_is_refused_before_a_run_starts(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    path = tmp_path / "request.yml"
    path.write_text(GOOD.replace("dataset_id: iris", "dataset_id: irsi"))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "dataset_id: no dataset 'irsi' here (did you mean 'iris'?)" in err
    assert not (tmp_path / "home" / "mlops.db").exists(), "no run may start for a request that cannot run"


def test_an_unknown_dataset_is_reported_with_every_other_problem(tmp_path: Path) -> None:
    # GIVEN a request with a misspelt dataset id and a misspelt hyperparameter (and an empty artifact store)
    path = tmp_path / "request.yml"
    path.write_text(GOOD.replace("dataset_id: iris", "dataset_id: irs").replace("n_estimators", "n_estimator"))
    # WHEN it is read against the store
    with pytest.raises(InvalidRequest) as refused:
        request_from_file(path, dataset_root=tmp_path / "store")
    # THEN one answer names both, the dataset with a suggestion and the ids that exist
    assert refused.value.problems == [
        "hyperparameters.n_estimator: not a hyperparameter of random_forest (did you mean 'n_estimators'?)",
        f"dataset_id: no dataset 'irs' here (did you mean 'iris'?); available: breast-cancer, diabetes, digits, "
        f"iris, wine (add your own under {tmp_path / 'store'}/datasets/<id>/train|test/)",
    ]
    assert not (tmp_path / "store").exists(), "checking a request creates nothing"


def test_the_datasets_task_checks_the_metric_in_the_same_answer(tmp_path: Path) -> None:
    # GIVEN random_forest (a classifier or a regressor) on iris (classification) gated on rmse, and a typo
    path = tmp_path / "request.yml"
    path.write_text(GOOD.replace("n_estimators", "n_estimator") + "evaluation_metric: rmse\n")
    with pytest.raises(InvalidRequest) as refused:
        request_from_file(path, dataset_root=tmp_path / "store")
    # THEN the metric is checked against iris' task at once, not after the typo is fixed
    assert refused.value.problems[1].startswith(
        "evaluation_metric: 'rmse' does not apply to random_forest (classification)"
    )


def test_a_dataset_of_ones_own_settles_the_task_from_its_description(tmp_path: Path) -> None:
    # GIVEN a dataset of one's own that describes itself as regression
    own = tmp_path / "store" / "datasets" / "house-prices"
    (own / "train").mkdir(parents=True)
    (own / "dataset.json").write_text('{"task": "regression"}')
    path = tmp_path / "request.yml"
    path.write_text(GOOD.replace("dataset_id: iris", "dataset_id: house-prices").replace("0.85", "0.5"))
    # THEN the request validates with that task
    assert request_from_file(path, dataset_root=tmp_path / "store").task == "regression"
    # AND a description that is not JSON is named, not a crash
    (own / "dataset.json").write_text("{task: regression")
    with pytest.raises(DatasetError, match=r"dataset\.json is not a JSON object; fix it or delete it"):
        request_from_file(path, dataset_root=tmp_path / "store")


def test_an_unknown_algorithm_does_not_hide_the_other_problems(tmp_path: Path, capsys) -> None:
    path = tmp_path / "request.yml"
    path.write_text(GOOD.replace("random_forest", "xgboost").replace("dataset_id: iris", "dataset_id: ../x"))
    assert main(["validate", str(path)]) == 2
    fields = {line.split(":", 1)[0] for line in capsys.readouterr().err.strip().splitlines()}
    assert {"algorithm", "dataset_id"} <= fields


def test_an_operator_retrain_reports_every_problem_at_once() -> None:
    from mlops.request import validate_request

    request = validate_request(
        {"learning_type": "supervised", "algorithm": "random_forest", "dataset_id": "iris", "evaluation_threshold": 0.8}
    )
    with pytest.raises(InvalidRequest) as error:
        request.with_overrides({"n_estimaters": 300, "max_depth": 0, "max_retry": 9})
    problems = error.value.problems
    assert any("did you mean 'n_estimators'" in p for p in problems)
    assert any(p.startswith("hyperparameters.max_depth: 0 is out of range") for p in problems)
    assert any(p.startswith("max_retry: cannot be changed on a paused run") for p in problems)


def test_a_threshold_fits_any_task_until_the_dataset_settles_it() -> None:
    from mlops.request import validate_request

    # random_forest may be a regressor, and R² may be negative: -0.5 is a legal (if modest) bar
    request = validate_request(
        {
            "learning_type": "supervised",
            "algorithm": "random_forest",
            "dataset_id": "diabetes",
            "evaluation_threshold": -0.5,
        }
    )
    assert request.with_task("regression").metric == "r2"
