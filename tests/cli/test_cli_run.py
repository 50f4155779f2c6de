"""`mlops run` and `mlops resume` as a user drives them: exit codes, the JSON summary, the report, the pause."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import EXAMPLES, Mlops, Result, ServedIris, request_file

REPORT_HEADINGS_JA = [
    "# 学習結果レポート",
    "## 基本情報",
    "## データセット",
    "## ハイパーパラメータ",
    "## 評価結果",
    "## モデル情報",
    "## ステータス",
]
REPORT_HEADINGS_EN = [
    "# Training Report",
    "## Basic information",
    "## Dataset",
    "## Hyperparameters",
    "## Evaluation",
    "## Model",
    "## Status",
]
# A stump (max_depth 1) reaches about 0.67 accuracy on iris; max_depth 5 reaches about 0.93.
WEAK_TREE = {
    "learning_type": "supervised",
    "algorithm": "decision_tree",
    "dataset_id": "iris",
    "hyperparameters": {"max_depth": 1},
    "evaluation_threshold": 0.9,
    "max_retry": 2,
}


def headings(markdown: str) -> list[str]:
    return [line.rstrip() for line in markdown.splitlines() if line.startswith("#")]


def in_order(wanted: list[str], found: list[str]) -> bool:
    """Every wanted heading is found, in this order (others may come between and after)."""
    positions = [found.index(heading) if heading in found else -1 for heading in wanted]
    return -1 not in positions and positions == sorted(positions)


# --- a run that passes -------------------------------------------------------------------------------------


def test_run_of_the_iris_example_succeeds_with_one_json_summary(served_iris: ServedIris) -> None:
    # GIVEN an empty home WHEN `mlops run mlops/examples/iris-request.yml --json` (done once per session)
    result = served_iris.first
    # THEN it exits 0 and its stdout is exactly one JSON object describing the run
    assert result.returncode == 0, result
    summary = result.json()
    assert isinstance(summary, dict), result
    assert re.fullmatch(r"train-\d{8}-\d{6}-[0-9a-f]+", summary["training_id"]), summary
    assert summary["status"] == "succeeded"
    assert summary["model_id"] == "iris-classifier"
    assert summary["version"] == "v1.0.0"
    assert summary["metrics"]["accuracy"] > 0.8
    assert summary["attempts"] == 1
    assert summary["error"] is None


def test_the_report_has_the_sections_of_the_requirements_in_order(served_iris: ServedIris) -> None:
    summary = served_iris.first.json()
    # THEN `report` names an existing Markdown file in the history directory
    report = Path(summary["report"])
    assert report.suffix == ".md" and report.is_file(), summary
    assert report.parent == served_iris.mlops.history
    markdown = report.read_text(encoding="utf-8")
    # AND it has the §7.2 headings in order, in Japanese by default
    assert in_order(REPORT_HEADINGS_JA, headings(markdown)), headings(markdown)
    assert summary["training_id"] in markdown and "iris-classifier" in markdown and "v1.0.0" in markdown


def test_report_is_english_with_mlops_report_lang_en(served_iris: ServedIris) -> None:
    # GIVEN the second run was made with MLOPS_REPORT_LANG=en
    summary = served_iris.second.json()
    assert summary["status"] == "succeeded" and summary["version"] == "v1.0.1", summary
    # THEN its report is in English with the same sections, and no Japanese heading
    markdown = Path(summary["report"]).read_text(encoding="utf-8")
    assert in_order(REPORT_HEADINGS_EN, headings(markdown)), headings(markdown)
    assert "学習結果レポート" not in markdown


# --- a run that misses its threshold and waits for an operator ---------------------------------------------


@dataclass
class Paused:
    mlops: Mlops
    human: Result  # started without --json
    machine: Result  # started with --json


@pytest.fixture(scope="module")
def paused(tmp_path_factory: pytest.TempPathFactory) -> Paused:
    """Two runs of a stump that misses its threshold, in one home; each test continues its own run."""
    mlops = Mlops(tmp_path_factory.mktemp("paused"))
    request = request_file(mlops.root / "weak-tree.yml", "Iris Tree", WEAK_TREE)
    human, machine = mlops.start("run", str(request)), mlops.start("run", str(request), "--json")
    return Paused(mlops, human.wait(), machine.wait())


def test_a_run_that_misses_its_threshold_exits_3_and_says_how_to_continue(paused: Paused) -> None:
    result = paused.human
    # THEN it exits 3 (awaiting operator) and tells the user exactly what to type next
    assert result.returncode == 3, result
    match = re.search(r'mlops resume (train-\S+) "/mlops retrain ', result.stdout)
    assert match, result
    assert f'mlops resume {match[1]} "/mlops abort' in result.stdout
    status = paused.mlops("status", match[1], "--json")
    assert status.returncode == 0, status
    assert status.json()["status"] == "awaiting_operator"
    assert status.json()["next_state"] is not None


def test_operator_retrain_continues_the_paused_run_to_success(paused: Paused) -> None:
    mlops = paused.mlops
    first = paused.machine.json()
    # GIVEN a paused run (exit 3 with status awaiting_operator in its JSON)
    assert paused.machine.returncode == 3 and first["status"] == "awaiting_operator", paused.machine
    assert first["version"] is None and first["attempts"] == 1
    training_id = first["training_id"]

    # WHEN the operator misspells a hyperparameter
    typo = mlops("resume", training_id, "/mlops retrain max_dept=5")
    # THEN the command is refused as invalid (2) with a suggestion, and the run still waits
    assert typo.returncode == 2, typo
    assert "did you mean 'max_depth'" in typo.stderr, typo
    assert mlops("status", training_id, "--json").json()["status"] == "awaiting_operator"

    # WHEN the operator retrains with a deeper tree
    retrained = mlops("resume", training_id, "/mlops retrain max_depth=5", "--json")
    # THEN the run succeeds on its second attempt and registers the model
    assert retrained.returncode == 0, retrained
    summary = retrained.json()
    assert summary["training_id"] == training_id
    assert summary["status"] == "succeeded" and summary["attempts"] == 2, summary
    assert summary["version"] == "v1.0.0"
    assert summary["metrics"]["accuracy"] >= 0.9
    assert mlops("status", training_id, "--json").json()["status"] == "succeeded"

    # WHEN the user tries to resume the finished run again, with or without a decision
    for extra in ([], ["/mlops retrain max_depth=6"]):
        again = mlops("resume", training_id, *extra)
        # THEN it is refused as a usage error and says the run is finished
        assert again.returncode == 2, again
        assert "already succeeded" in again.stderr, again
    assert [v["version"] for v in mlops.versions("iris-tree")] == ["v1.0.0"]


def test_operator_abort_fails_the_paused_run(paused: Paused) -> None:
    training_id = re.findall(r'mlops resume (train-\S+) "/mlops abort', paused.human.stdout)[0]
    # WHEN the operator aborts the other paused run with a reason
    aborted = paused.mlops("resume", training_id, "/mlops abort labels need cleaning", "--json")
    # THEN it exits 1, the run failed, and the report records why
    assert aborted.returncode == 1, aborted
    summary = aborted.json()
    assert summary["status"] == "failed" and summary["version"] is None, summary
    assert "labels need cleaning" in Path(summary["report"]).read_text(encoding="utf-8")
    assert paused.mlops("status", training_id, "--json").json()["status"] == "failed"


# --- requests that are refused -----------------------------------------------------------------------------


def test_an_invalid_request_exits_2_and_creates_no_run(mlops: Mlops) -> None:
    # GIVEN a request with a misspelt field and an out-of-range hyperparameter
    body = {**WEAK_TREE, "max_retires": 1, "hyperparameters": {"max_depth": 0}}
    request = request_file(mlops.root / "bad.yml", "Iris Tree", body)
    # WHEN it is run
    result = mlops("run", str(request), "--json")
    # THEN it exits 2 and names every problem with a fix, for people (stderr) and for machines (one JSON object)
    assert result.returncode == 2, result
    assert "did you mean 'max_retry'" in result.stderr, result
    error = result.json()
    assert error["error"] == "InvalidRequest"
    assert [p.split(":")[0] for p in error["problems"]] == ["max_retires", "hyperparameters.max_depth"], error
    # AND no run was created
    runs = mlops("runs", "list", "--json")
    assert runs.returncode == 0 and runs.json() == [], runs


def test_a_missing_request_file_exits_2(mlops: Mlops) -> None:
    result = mlops("run", str(mlops.root / "nope.yml"))
    assert result.returncode == 2, result
    assert "no such file" in result.stderr


def test_resume_of_an_unknown_run_exits_2(mlops: Mlops) -> None:
    result = mlops("resume", "train-20000101-000000-beef")
    assert result.returncode == 2, result
    assert "no run 'train-20000101-000000-beef'" in result.stderr


# --- the other bundled examples ----------------------------------------------------------------------------

OTHER_EXAMPLES = [
    "diabetes-regression.yml",
    "wine-clustering.yml",
    "digits-pca.yml",
    "frozenlake-q-learning.yml",
    "cartpole-policy-gradient.yml",  # the slowest: about 11 s on a loaded 2-core machine
]


@pytest.fixture(scope="module")
def example_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Mlops, Result]]:
    """Each bundled example run in its own home, two at a time (each run is mostly one busy process)."""

    def run(name: str) -> tuple[Mlops, Result]:
        mlops = Mlops(tmp_path_factory.mktemp(name.removesuffix(".yml")))
        return mlops, mlops("run", str(EXAMPLES / name), "--json")

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(OTHER_EXAMPLES, pool.map(run, OTHER_EXAMPLES), strict=True))


@pytest.mark.parametrize("name", OTHER_EXAMPLES)
def test_each_bundled_example_passes_its_gate_and_registers_v1_0_0(
    name: str, example_runs: dict[str, tuple[Mlops, Result]]
) -> None:
    # GIVEN a bundled example, as a user would first try it WHEN it is run on an empty home
    mlops, result = example_runs[name]
    summary = result.json()
    # THEN it passes its own gate with no operator: exit 0, v1.0.0 registered and current, a report written
    assert result.returncode == 0, result
    assert summary["status"] == "succeeded", summary
    assert summary["gate"]["passed"] is True and summary["gate"]["metric"] in summary["metrics"], summary
    assert summary["version"] == "v1.0.0"
    assert [(v["version"], v["current"]) for v in mlops.versions(summary["model_id"])] == [("v1.0.0", True)]
    assert Path(summary["report"]).is_file()
    runs = mlops("runs", "list", "--json").json()
    assert [(r["training_id"], r["status"]) for r in runs] == [(summary["training_id"], summary["status"])]


def test_an_unusable_history_directory_is_refused_before_the_run_starts(mlops: Mlops) -> None:
    not_a_directory = mlops.root / "history-file"
    not_a_directory.write_text("")
    result = mlops("run", str(EXAMPLES / "iris-request.yml"), MLOPS_HISTORY_DIR=str(not_a_directory))
    assert result.returncode == 2, result
    assert "MLOPS_HISTORY_DIR" in result.stderr, result
    assert mlops("runs", "list", "--json").json() == []
    assert mlops("models", "list", "--json").json() == []


def test_the_readme_main_command_runs_the_full_pipeline(tmp_path) -> None:
    """The Quickstart's first command, as written in the README, trains, registers and reports (§7.2)."""
    import json
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    (command,) = re.findall(r"^pip install \S+ && (mlops run \S+)$", (repo / "README.md").read_text(), re.M)
    args = command.split()[1:]
    env = {**os.environ, "MLOPS_HOME": str(tmp_path / "home"), "MLOPS_HISTORY_DIR": str(tmp_path / "history")}
    result = subprocess.run(
        [sys.executable, "-m", "mlops.cli", *args, "--json"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "succeeded" and summary["version"] == "v1.0.0"
    report = Path(summary["report"]).read_text()
    positions = [report.index(heading) for heading in REPORT_HEADINGS_JA]
    assert positions == sorted(positions)


def test_old_runs_give_up_their_training_outputs_but_not_their_models_or_reports(
    served_iris: ServedIris, tmp_path: Path
) -> None:
    # GIVEN a home with two finished runs (v1.0.0 and v1.0.1), each with its training outputs under store/runs/
    mlops = served_iris.copy(tmp_path / "user")
    first, second = served_iris.first.json()["training_id"], served_iris.second.json()["training_id"]
    runs_dir = mlops.home / "store" / "runs"
    assert {p.name for p in runs_dir.iterdir()} == {first, second}
    # WHEN a third run finishes with MLOPS_KEEP_RUNS=1
    third = mlops("run", str(EXAMPLES / "iris-request.yml"), "--json", MLOPS_KEEP_RUNS="1")
    assert third.returncode == 0, third
    # THEN only the newest run keeps its training outputs
    assert {p.name for p in runs_dir.iterdir()} == {third.json()["training_id"]}
    # AND every registered version, report and history record is intact: rolling back to v1.0.0 still works
    assert [v["version"] for v in mlops.versions("iris-classifier")] == ["v1.0.0", "v1.0.1", "v1.0.2"]
    assert mlops("history", "verify").returncode == 0
    rolled = mlops("rollback", "iris-classifier", "--to", "v1.0.0", "--reason", "check", "--json")
    assert rolled.returncode == 0, rolled
