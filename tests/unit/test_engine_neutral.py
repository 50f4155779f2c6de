"""The agents serve both engines (DESIGN.md §3): they reach the world only through ports, so nothing in them may
import a backend, touch a local path, take a lock or start a process; the Lambda handlers neither."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENGINE_NEUTRAL = [REPO / "mlops" / "pipeline" / "agents.py", REPO / "mlops" / "handlers.py"]
# modules that give a local path, a lock or a process
FORBIDDEN_MODULES = {"fcntl", "os", "pathlib", "shutil", "subprocess", "tempfile", "threading", "multiprocessing"}
FORBIDDEN_NAMES = {"root", "local_path", "locked", "home", "history_dir", "store_dir", "db_path"}


def _imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("module", ENGINE_NEUTRAL, ids=lambda path: path.name)
def test_no_backend_path_lock_or_process_in(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    imported = _imported(tree)
    assert not {name for name in imported if name.startswith("mlops.backends")}, "import a port, not a backend"
    assert not {name.split(".")[0] for name in imported} & FORBIDDEN_MODULES
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert not attributes & FORBIDDEN_NAMES, "a local path or lock reached through a port's implementation"


def test_the_rule_sees_a_violation(tmp_path: Path) -> None:
    bad = ast.parse("from mlops.backends.local.store import LocalArtifactStore\nimport fcntl\nx = ports.store.root\n")
    assert "mlops.backends.local.store" in _imported(bad) and "fcntl" in _imported(bad)
    assert "root" in {node.attr for node in ast.walk(bad) if isinstance(node, ast.Attribute)}


def test_the_lambda_handlers_import_no_ml_library() -> None:
    """Heavy work runs in training jobs, never in Lambda (DESIGN.md §3): the handlers load without it."""
    import subprocess
    import sys

    code = ("import sys, mlops.handlers; "
            "print(sorted(m for m in ('sklearn', 'numpy', 'gymnasium', 'matplotlib', 'skops') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
