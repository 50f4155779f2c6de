"""GIVEN a user's repository (here: a plain directory, no git needed), WHEN they run `mlops init`, THEN it holds the
Issue Form and the workflows this project runs on, using the action pinned to the ref they chose; a second run
changes nothing; a file of theirs is never overwritten without --force; and they are told what is left to set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops.init_repo import FILES, TEMPLATES

REPO = Path(__file__).resolve().parents[2]
SHA = "0123456789abcdef0123456789abcdef01234567"
WORKFLOW_FILES = [f".github/{name}" for name in FILES if name.startswith("workflows/")]
ALL_FILES = [f".github/{name}" for name in FILES]


def mlops_init(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "mlops.cli", "init", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert "Traceback" not in result.stdout + result.stderr
    return result


def statuses(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return {entry["path"]: entry["status"] for entry in json.loads(result.stdout)["files"]}


def uses_of_the_action(root: Path) -> set[str]:
    lines = [line.strip() for path in WORKFLOW_FILES for line in (root / path).read_text().splitlines()]
    return {line for line in lines if line.startswith("- uses:") and "actions/" not in line}


def test_the_bundled_files_are_the_ones_this_repository_runs_on() -> None:
    """init copies what ships in the package; it must be what .github/ here holds (`cp` one onto the other)."""
    for name in FILES:
        assert (TEMPLATES / name).read_bytes() == (REPO / ".github" / name).read_bytes(), (
            f"mlops/templates/github/{name} differs from .github/{name}: copy .github/{name} over it"
        )
    assert not (TEMPLATES / "workflows" / "ci.yml").exists()  # the project's own CI is not the user's


def test_init_sets_up_an_empty_directory_and_lists_the_variables_to_set(tmp_path: Path) -> None:
    result = mlops_init(str(tmp_path))
    assert result.returncode == 0, result.stderr
    for path in ALL_FILES:
        assert (tmp_path / path).is_file(), path
        assert f"created          {path}" in result.stdout
    assert (tmp_path / ".github/ISSUE_TEMPLATE/train.yml").read_bytes() == (
        REPO / ".github/ISSUE_TEMPLATE/train.yml"
    ).read_bytes()
    for name in ("MLOPS_RUNNER", "MLOPS_BACKEND", "MLOPS_HOME"):
        assert name in result.stdout
    assert "(default: self-hosted)" in result.stdout


def test_the_workflows_use_the_published_action_instead_of_the_local_checkout(tmp_path: Path) -> None:
    mlops_init(str(tmp_path), "--action-ref", SHA)
    assert uses_of_the_action(tmp_path) == {f"- uses: mlops-issueops/mlops-issueops/action@{SHA}"}
    published = f"- uses: mlops-issueops/mlops-issueops/action@{SHA}"
    for path in WORKFLOW_FILES:
        ours = (REPO / path).read_text().replace("- uses: ./action", published)
        assert (tmp_path / path).read_text() == ours  # nothing else changed


def test_a_fork_can_be_named_with_owner_repo_at_ref(tmp_path: Path) -> None:
    result = mlops_init(str(tmp_path), "--action-ref", f"my-org/mlops-fork@{SHA}", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["action"] == f"my-org/mlops-fork/action@{SHA}"
    assert uses_of_the_action(tmp_path) == {f"- uses: my-org/mlops-fork/action@{SHA}"}


def test_a_ref_that_is_not_a_commit_is_written_but_warned_about(tmp_path: Path) -> None:
    result = mlops_init(str(tmp_path), "--action-ref", "v0.1.0", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["pinned"] is False
    assert "warning: the workflows use mlops-issueops/mlops-issueops/action@v0.1.0, which is not pinned" in (
        result.stderr
    )
    pinned = mlops_init(str(tmp_path), "--force", "--action-ref", SHA, "--json")
    assert json.loads(pinned.stdout)["pinned"] is True and "warning" not in pinned.stderr


def test_the_warning_is_true_zizmor_flags_a_tag_and_accepts_a_commit(tmp_path: Path) -> None:
    zizmor = Path(sys.executable).parent / "zizmor"
    if not zizmor.exists():
        pytest.fail("zizmor is not installed: pip install -e '.[dev]'")

    def findings(ref: str) -> list[str]:
        mlops_init(str(tmp_path), "--force", "--action-ref", ref)
        command = [str(zizmor), "--offline", "--min-severity", "medium", "--format", "json", str(tmp_path / ".github")]
        out = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
        return sorted({finding["ident"] for finding in json.loads(out)})

    assert findings("v0.1.0") == ["unpinned-uses"]
    assert findings(SHA) == []


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    mlops_init(str(tmp_path))
    before = {path: (tmp_path / path).stat().st_mtime_ns for path in ALL_FILES}
    again = mlops_init(str(tmp_path), "--json")
    assert again.returncode == 0
    assert statuses(again) == dict.fromkeys(ALL_FILES, "unchanged")
    assert {path: (tmp_path / path).stat().st_mtime_ns for path in ALL_FILES} == before


def test_a_file_of_the_user_s_is_kept_unless_forced(tmp_path: Path) -> None:
    theirs = tmp_path / ".github/ISSUE_TEMPLATE/config.yml"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("blank_issues_enabled: false\n")

    refused = mlops_init(str(tmp_path), "--json")
    assert refused.returncode == 2
    assert statuses(refused)[".github/ISSUE_TEMPLATE/config.yml"] == "would overwrite"
    assert statuses(refused)[".github/workflows/mlops-train.yml"] == "created"
    assert theirs.read_text() == "blank_issues_enabled: false\n"
    assert ".github/ISSUE_TEMPLATE/config.yml: differs from the bundled file and was left as it is" in refused.stderr
    assert "--force" in refused.stderr

    forced = mlops_init(str(tmp_path), "--force", "--json")
    assert forced.returncode == 0
    assert statuses(forced)[".github/ISSUE_TEMPLATE/config.yml"] == "overwritten"
    assert theirs.read_bytes() == (REPO / ".github/ISSUE_TEMPLATE/config.yml").read_bytes()


def test_the_json_document_names_every_file_the_action_and_the_variables(tmp_path: Path) -> None:
    document = json.loads(mlops_init(str(tmp_path), "--json", "--action-ref", SHA).stdout)
    assert document["path"] == str(tmp_path.resolve())
    assert [entry["path"] for entry in document["files"]] == ALL_FILES
    assert [variable["name"] for variable in document["variables"]] == ["MLOPS_RUNNER", "MLOPS_BACKEND", "MLOPS_HOME"]
    assert document["problems"] == [] and document["warnings"] == []


def test_init_defaults_to_the_current_directory(tmp_path: Path) -> None:
    result = mlops_init(cwd=tmp_path)
    assert result.returncode == 0
    assert (tmp_path / ".github/workflows/mlops-callback.yml").is_file()


@pytest.mark.parametrize("ref", ["v1 && curl evil", "main\n    run: id", "../../x", "-rf", "a/b/c@v1", ""])
def test_a_reference_that_could_not_be_one_is_refused_before_anything_is_written(tmp_path: Path, ref: str) -> None:
    result = mlops_init(str(tmp_path), f"--action-ref={ref}")
    assert result.returncode == 2
    assert "--action-ref:" in result.stderr
    assert not (tmp_path / ".github").exists()


def test_a_path_that_is_not_a_directory_is_refused_with_what_to_give_instead(tmp_path: Path) -> None:
    a_file = tmp_path / "README.md"
    a_file.write_text("# mine\n")
    for path, what in ((a_file, "is not a directory"), (tmp_path / "missing", "does not exist")):
        result = mlops_init(str(path))
        assert result.returncode == 2
        assert f"PATH: '{path}' {what}; give the root of your repository's working tree" in result.stderr


def test_a_directory_init_cannot_write_into_is_refused_clearly(tmp_path: Path) -> None:
    (tmp_path / ".github").write_text("not a directory\n")  # a file where .github/ must go
    result = mlops_init(str(tmp_path))
    assert result.returncode == 2
    assert "PATH: cannot write .github/ISSUE_TEMPLATE/train.yml in" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere; GitHub-hosted runners test as a user")
def test_a_read_only_directory_is_refused_clearly(tmp_path: Path) -> None:
    tmp_path.chmod(0o555)
    try:
        result = mlops_init(str(tmp_path))
    finally:
        tmp_path.chmod(0o755)
    assert result.returncode == 2
    assert "Permission denied" in result.stderr
