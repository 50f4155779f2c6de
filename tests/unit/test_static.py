"""The code stays lint-clean and type-clean: ruff and mypy run as part of the suite (and so in CI)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _tool(name: str) -> list[str]:
    if shutil.which(name) is None and not (Path(sys.executable).parent / name).exists():
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return [sys.executable, "-m", name]


def test_ruff_finds_nothing() -> None:
    result = subprocess.run([*_tool("ruff"), "check", "mlops", "tests", "benchmarks"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing() -> None:
    result = subprocess.run([*_tool("mypy")], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_action_side_does_not_import_scikit_learn() -> None:
    """Request validation runs in the GitHub Action and in Lambdas, which do not install scikit-learn."""
    code = ("import sys, mlops.request, mlops.issue_forms, mlops.commands, mlops.report, mlops.history; "
            "print(sorted(m for m in ('sklearn', 'numpy', 'gymnasium', 'matplotlib') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_subcommands_do_not_import_the_entry_point() -> None:
    """mlops.cli imports mlops.cli_commands; the reverse would be an import cycle (and load cli.py twice)."""
    code = "import sys, mlops.cli_commands; print('mlops.cli' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
