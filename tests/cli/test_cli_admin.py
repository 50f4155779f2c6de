"""The admin commands (runs, models, rollback, history, datasets) and the command line itself."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from .conftest import REPO, Mlops, ServedIris, current_versions

MODEL = "iris-classifier"


def ids(served_iris: ServedIris) -> tuple[str, str]:
    return served_iris.first.json()["training_id"], served_iris.second.json()["training_id"]


# --- runs and models (read-only, on the session's two iris runs) -------------------------------------------


def test_runs_list_shows_every_run_oldest_first(served_iris: ServedIris) -> None:
    result = served_iris.mlops("runs", "list", "--json")
    assert result.returncode == 0, result
    runs = result.json()
    assert [(r["training_id"], r["status"]) for r in runs] == [(i, "succeeded") for i in ids(served_iris)]
    assert [r["version"] for r in runs] == ["v1.0.0", "v1.0.1"]


def test_runs_list_for_people_is_a_table(served_iris: ServedIris) -> None:
    result = served_iris.mlops("runs", "list")
    assert result.returncode == 0, result
    lines = result.stdout.splitlines()
    assert "training_id" in lines[0] and "status" in lines[0]
    first, second = ids(served_iris)
    assert result.stdout.index(first) < result.stdout.index(second)


def test_models_list_of_a_model_lists_its_versions_with_exactly_one_current(served_iris: ServedIris) -> None:
    versions = served_iris.mlops.versions(MODEL)
    assert [v["version"] for v in versions] == ["v1.0.0", "v1.0.1"]
    assert all(isinstance(v["current"], bool) for v in versions)
    assert current_versions(versions) == ["v1.0.1"]
    assert [v["training_id"] for v in versions] == list(ids(served_iris))


def test_models_list_lists_the_models(served_iris: ServedIris) -> None:
    result = served_iris.mlops("models", "list", "--json")
    assert result.returncode == 0, result
    assert result.json() == [{"model_id": MODEL, "current": "v1.0.1", "versions": 2, "latest": "v1.0.1"}]


def test_models_show_shows_the_current_version_and_its_rollback_target(served_iris: ServedIris) -> None:
    result = served_iris.mlops("models", "show", MODEL, "--json")
    assert result.returncode == 0, result
    record = result.json()
    assert record["model_id"] == MODEL and record["version"] == "v1.0.1"
    assert record["current"] is True and record["previous"] == "v1.0.0"
    assert record["training_id"] == ids(served_iris)[1]
    assert record["metrics"]["accuracy"] > 0.8
    older = served_iris.mlops("models", "show", MODEL, "v1.0.0", "--json").json()
    assert older["version"] == "v1.0.0" and older["current"] is False


def test_datasets_list_names_the_five_bundled_datasets(served_iris: ServedIris) -> None:
    result = served_iris.mlops("datasets", "list", "--json")
    assert result.returncode == 0, result
    rows = result.json()
    assert {row["dataset_id"] for row in rows} == {"iris", "wine", "breast-cancer", "diabetes", "digits"}
    assert all(row["bundled"] for row in rows)


def test_status_of_a_misspelt_run_id_suggests_the_right_one(served_iris: ServedIris) -> None:
    first, _ = ids(served_iris)
    result = served_iris.mlops("status", first[:-1] + "x")
    assert result.returncode == 2, result
    assert f"did you mean '{first}'" in result.stderr, result


# --- rollback -----------------------------------------------------------------------------------------------


def test_rollback_makes_the_previous_version_current_and_records_why(served_iris: ServedIris, tmp_path: Path) -> None:
    # GIVEN v1.0.0 and then v1.0.1 registered, v1.0.1 current
    mlops = served_iris.copy(tmp_path / "copy")
    # WHEN the operator rolls back with a reason
    result = mlops("rollback", MODEL, "--reason", "bad in prod", "--json")
    # THEN v1.0.0 is current again
    assert result.returncode == 0, result
    record = result.json()
    assert (record["from_version"], record["to_version"]) == ("v1.0.1", "v1.0.0")
    assert current_versions(mlops.versions(MODEL)) == ["v1.0.0"]
    # AND the history lists the rollback, and its Markdown in the history directory names the reason
    entries = mlops("history", "list", "--json").json()
    rollbacks = [e for e in entries if e["kind"] == "rollback"]
    assert len(rollbacks) == 1, entries
    assert (rollbacks[0]["model"], rollbacks[0]["from_version"], rollbacks[0]["version"]) == (
        MODEL,
        "v1.0.1",
        "v1.0.0",
    )
    markdown = mlops.history / rollbacks[0]["file"]
    assert Path(record["history"]) == markdown
    assert "bad in prod" in markdown.read_text(encoding="utf-8")
    # AND the history still verifies with the rollback in its chain
    assert mlops("history", "verify").returncode == 0


def test_rollback_to_a_version_that_does_not_exist_lists_the_available_ones(served_iris: ServedIris) -> None:
    result = served_iris.mlops("rollback", MODEL, "--to", "v9.9.9", "--reason", "x")
    assert result.returncode == 2, result  # a user's mistake: invalid usage
    assert "v9.9.9" in result.stderr and "available: v1.0.0, v1.0.1" in result.stderr, result
    assert current_versions(served_iris.mlops.versions(MODEL)) == ["v1.0.1"]


def test_rollback_of_an_unknown_model_suggests_the_known_one(served_iris: ServedIris) -> None:
    result = served_iris.mlops("rollback", "iris-clasifier", "--reason", "x")
    assert result.returncode == 2, result
    assert "did you mean 'iris-classifier'" in result.stderr, result


# --- history verify ----------------------------------------------------------------------------------------


def test_history_verify_passes_on_an_untouched_history(served_iris: ServedIris) -> None:
    result = served_iris.mlops("history", "verify", "--json")
    assert result.returncode == 0, result
    report = result.json()
    assert (report["ok"], report["problems"], report["records"]) == (True, [], 2)
    assert report["head"]["seq"] == 2 and len(report["head"]["sha256"]) == 64


def test_a_deleted_newest_record_is_caught_with_the_head_noted_earlier(
    served_iris: ServedIris, tmp_path: Path
) -> None:
    # GIVEN the head sha256 noted after the second run
    mlops = served_iris.copy(tmp_path / "copy")
    head = mlops("history", "verify", "--json").json()["head"]["sha256"]
    _, second = ids(served_iris)
    # WHEN the newest record is deleted whole (the chain that remains is consistent)
    for path in (mlops.history / f"{second}.json", mlops.history / f"{second}.md"):
        path.unlink()
    shutil.rmtree(mlops.history / second, ignore_errors=True)
    assert mlops("history", "verify").returncode == 0  # the chain alone cannot tell
    # THEN verifying against the noted head exits 1
    result = mlops("history", "verify", "--expect-head", head)
    assert result.returncode == 1, result


def test_a_one_character_edit_of_a_report_fails_verification_naming_the_run(
    served_iris: ServedIris, tmp_path: Path
) -> None:
    mlops = served_iris.copy(tmp_path / "copy")
    first, second = ids(served_iris)
    # GIVEN the first report with one character changed (`iris` -> `Iris`, once)
    report = mlops.history / f"{first}.md"
    text = report.read_text(encoding="utf-8")
    at = text.index("iris-classifier")
    report.write_text(text[:at] + "I" + text[at + 1 :], encoding="utf-8")
    # WHEN the history is verified
    result = mlops("history", "verify")
    # THEN it exits 1 and names that run's report, and only that run
    assert result.returncode == 1, result
    assert f"{first}.md was edited" in result.stdout, result
    assert second not in result.stdout


def test_deleting_a_middle_record_fails_verification(served_iris: ServedIris, tmp_path: Path) -> None:
    # GIVEN three records: the two runs and a rollback
    mlops = served_iris.copy(tmp_path / "copy")
    assert mlops("rollback", MODEL, "--reason", "third record").returncode == 0
    _, second = ids(served_iris)
    assert [e["seq"] for e in mlops("history", "list", "--json").json()] == [1, 2, 3]
    # WHEN the middle record's JSON is deleted
    (mlops.history / f"{second}.json").unlink()
    # THEN verification exits 1, says records were deleted, and names the run whose record is gone
    result = mlops("history", "verify", "--json")
    assert result.returncode == 1, result
    problems = "\n".join(result.json()["problems"])
    assert "deleted" in problems and second in problems, problems


def test_deleting_a_whole_history_record_with_its_plots_fails_verification(
    served_iris: ServedIris, tmp_path: Path
) -> None:
    mlops = served_iris.copy(tmp_path / "copy")
    first, _ = ids(served_iris)
    for path in (mlops.history / f"{first}.json", mlops.history / f"{first}.md"):
        path.unlink()
    shutil.rmtree(mlops.history / first, ignore_errors=True)
    result = mlops("history", "verify")
    assert result.returncode == 1, result
    assert "deleted" in result.stdout, result


# --- the command line --------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"]], ids=["mlops", "mlops run"])
def test_help_exits_0_with_an_example(mlops: Mlops, args: list[str]) -> None:
    result = mlops(*args)
    assert result.returncode == 0, result
    assert re.search(r"^\s+mlops run \S+", result.stdout, re.MULTILINE), result
    assert "example" in result.stdout


def test_the_request_files_in_the_help_examples_exist_and_are_valid(mlops: Mlops) -> None:
    # GIVEN the examples of `mlops --help`, `mlops run --help` and `mlops validate --help`
    text = "".join(mlops(*args).stdout for args in (["--help"], ["run", "--help"], ["validate", "--help"]))
    paths = set(re.findall(r"^\s+mlops (?:run|validate) (\S+)", text, re.MULTILINE))
    assert paths, text
    # THEN each request file they name exists in the repository and validates
    for path in sorted(paths):
        result = mlops("validate", str(REPO / path))
        assert result.returncode == 0, result


def test_mlops_without_a_command_prints_usage_and_exits_2(mlops: Mlops) -> None:
    result = mlops()
    assert result.returncode == 2, result
    assert "usage: mlops" in result.stderr


@pytest.mark.parametrize(
    "args",
    [["frobnicate"], ["models"], ["models", "remove", MODEL], ["rollback"], ["run"], ["status"], ["runs", "--bad"]],
)
def test_a_malformed_command_line_exits_2_with_usage(mlops: Mlops, args: list[str]) -> None:
    result = mlops(*args)
    assert result.returncode == 2, result
    assert "usage: mlops" in result.stderr
    assert result.stdout == ""


def test_models_show_without_a_model_is_a_usage_error(mlops: Mlops) -> None:
    result = mlops("models", "show")
    assert result.returncode == 2, result
    assert "MODEL_ID" in result.stderr


def test_admin_commands_on_an_empty_home_report_nothing_yet(mlops: Mlops) -> None:
    for args, expected in [
        (["runs", "list", "--json"], []),
        (["models", "list", "--json"], []),
        (["history", "list", "--json"], []),
        (["history", "verify", "--json"], {"ok": True, "problems": [], "records": 0, "head": None}),
    ]:
        result = mlops(*args)
        assert result.returncode == 0, result
        assert result.json() == expected, result


def test_a_bad_setting_is_a_usage_error_naming_the_variable(mlops: Mlops) -> None:
    bad = [("MLOPS_REPORT_LANG", "fr"), ("MLOPS_RETRY_DELAY", "soon"), ("MLOPS_KEEP_VERSIONS", "-1")]
    for variable, value in [*bad, ("MLOPS_KEEP_RUNS", "many")]:
        result = mlops("runs", "list", **{variable: value})
        assert result.returncode == 2, result
        assert result.stderr.startswith(f"{variable}: "), result


def test_mlops_home_that_is_a_file_is_a_usage_error_without_a_traceback(mlops: Mlops) -> None:
    not_a_directory = mlops.root / "home-file"
    not_a_directory.write_text("")
    result = mlops("runs", "list", MLOPS_HOME=str(not_a_directory))  # Mlops checks: no "Traceback" anywhere
    assert result.returncode == 2, result
    assert "MLOPS_HOME" in result.stderr, result


READ_ONLY_COMMANDS = [
    ["runs", "list"],
    ["models", "list"],
    ["datasets", "list"],
    ["history", "list"],
    ["history", "verify"],
    ["status", "train-20000101-000000-beef"],  # an unknown run: exit 2
]


def files_under(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*"))


@pytest.mark.parametrize("args", READ_ONLY_COMMANDS, ids=" ".join)
def test_a_read_only_command_creates_nothing_at_all(mlops: Mlops, args: list[str]) -> None:
    # GIVEN an empty directory, with MLOPS_HOME and MLOPS_HISTORY_DIR (not yet created) inside it
    # WHEN a command that only reads is run there
    result = mlops(*args)
    assert result.returncode == (2 if args[0] == "status" else 0), result
    # THEN the directory is still empty: no home, no database, no history directory
    assert files_under(mlops.root) == []
