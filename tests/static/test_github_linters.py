"""GIVEN the workflows, the action and the issue forms, WHEN GitHub's own schemas (check-jsonschema) and a security
linter for Actions (zizmor, offline) read them, THEN both pass: no schema error, no finding of medium severity or
higher. Each check is also shown failing on a file that deserves it, so a green run means something.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTION = REPO / "action" / "action.yml"
ISSUE_TEMPLATES = REPO / ".github" / "ISSUE_TEMPLATE"
CALLBACK = REPO / ".github" / "workflows" / "mlops-callback.yml"

SCHEMA_TARGETS = {
    "vendor.github-workflows": WORKFLOWS,
    "vendor.github-actions": [ACTION],
    "vendor.github-issue-forms": [ISSUE_TEMPLATES / "train.yml"],
    "vendor.github-issue-config": [ISSUE_TEMPLATES / "config.yml"],
}

INJECTABLE_WORKFLOW = """\
name: greet
on:
  issues:
    types: [opened]
permissions: {}
jobs:
  greet:
    runs-on: ubuntu-latest
    permissions: {}
    steps:
      - run: echo "Thanks for ${{ github.event.issue.title }}"
"""


def tool(name: str) -> str:
    """A linter of the dev extra, from this interpreter's environment (never whatever else is on PATH)."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'")
    return found


def check_jsonschema(schema: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    command = [tool("check-jsonschema"), "--builtin-schema", schema, *map(str, paths)]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)


def zizmor(*paths: Path, ignores: bool = True) -> tuple[int, list[dict]]:
    """zizmor's findings of medium severity or higher (JSON), and its exit status (0: none)."""
    command = [tool("zizmor"), "--offline", "--min-severity", "medium", "--format", "json", *map(str, paths)]
    if not ignores:
        command.append("--no-ignores")
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    return result.returncode, json.loads(result.stdout or "[]")


def audits(findings: list[dict]) -> list[str]:
    return sorted(finding["ident"] for finding in findings)


@pytest.mark.parametrize("schema", SCHEMA_TARGETS)
def test_the_files_match_github_s_published_schemas(schema: str) -> None:
    assert SCHEMA_TARGETS[schema], schema
    result = check_jsonschema(schema, *SCHEMA_TARGETS[schema])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_fails_on_a_workflow_github_would_reject(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(CALLBACK.read_text(encoding="utf-8").replace("issues: write", "issues: scribble", 1))
    result = check_jsonschema("vendor.github-workflows", broken)
    assert result.returncode == 1
    assert "scribble" in result.stdout


def test_zizmor_finds_nothing_of_medium_severity_or_higher() -> None:
    status, findings = zizmor(*WORKFLOWS, ACTION)
    assert (status, audits(findings)) == (0, [])


def test_zizmor_reports_an_issue_title_spliced_into_a_shell_script(tmp_path: Path) -> None:
    (tmp_path / "greet.yml").write_text(INJECTABLE_WORKFLOW)
    status, findings = zizmor(tmp_path / "greet.yml")
    assert status != 0
    assert "template-injection" in audits(findings)


def test_the_only_silenced_finding_is_the_issue_comment_trigger_justified_where_it_is_used() -> None:
    """zizmor rates every issue_comment trigger high; the workflow says inline why this one is safe."""
    status, findings = zizmor(CALLBACK, ignores=False)
    assert (status != 0, audits(findings)) == (True, ["dangerous-triggers"])
    text = CALLBACK.read_text(encoding="utf-8")
    assert "# zizmor: ignore[dangerous-triggers]" in text
    assert text.count("zizmor: ignore") == 1
    assert not list(REPO.glob("zizmor.y*ml")) and not list((REPO / ".github").glob("zizmor.y*ml")), (
        "findings are justified inline, never silenced by a configuration file"
    )
