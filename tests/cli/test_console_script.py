"""The installed `mlops` command (the console script `mlops.cli:entry`), which leaves through `os._exit` to skip
tearing the interpreter down: everything it printed must still arrive, and its exit code must be the command's.

Each case runs with stdout buffered (the default for a pipe) and unbuffered (PYTHONUNBUFFERED, as CI sets it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlops.history import HistoryLog

MLOPS = Path(sys.executable).parent / "mlops"
pytestmark = pytest.mark.skipif(not MLOPS.is_file(), reason="the package is not installed here (pip install -e .)")


@pytest.fixture(params=["buffered", "unbuffered"])
def environ(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    environ = {**os.environ, "MLOPS_HOME": str(tmp_path / "home"), "MLOPS_HISTORY_DIR": str(tmp_path / "history")}
    environ.pop("PYTHONUNBUFFERED", None)
    if request.param == "unbuffered":
        environ["PYTHONUNBUFFERED"] = "1"
    return environ


def mlops(*args: str, environ: dict[str, str], **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MLOPS), *args], env=environ, text=True, timeout=120, **options)


def test_output_arrives_whole_and_the_exit_code_is_the_commands(environ: dict[str, str], tmp_path: Path) -> None:
    # GIVEN a history of 60 rollback records: `history list --json` prints far more than one buffer (8 KiB)
    log = HistoryLog(Path(environ["MLOPS_HISTORY_DIR"]))
    for n in range(60):
        log.record_rollback({"model_id": "m", "from_version": "v1.0.1", "to_version": "v1.0.0", "reason": f"#{n}"})
    # WHEN the installed command runs, for a 0, a 1 and a 2
    listed = mlops("history", "list", "--json", environ=environ, capture_output=True)
    head = mlops("history", "verify", "--expect-head", "0" * 64, environ=environ, capture_output=True)
    missing = mlops("validate", str(tmp_path / "nope.yml"), environ=environ, capture_output=True)
    # THEN every byte it printed arrives, and each exits with its command's code
    assert (listed.returncode, listed.stderr) == (0, ""), listed
    assert len(listed.stdout) > 8192 and listed.stdout.endswith("]\n"), listed.stdout[-200:]
    assert [entry["seq"] for entry in json.loads(listed.stdout)] == list(range(1, 61))
    assert head.returncode == 1, head
    assert "is not in the history" in head.stdout, head
    assert (missing.returncode, missing.stdout) == (2, ""), missing
    assert missing.stderr == f"PATH: no such file '{tmp_path / 'nope.yml'}'\n", missing


def test_a_reader_that_takes_one_byte_gets_it_and_the_command_succeeds(environ: dict[str, str]) -> None:
    # WHEN `mlops models list --json | head -c 1` runs
    pipeline = subprocess.run(
        ["bash", "-c", f"'{MLOPS}' models list --json | head -c 1; echo \" ${{PIPESTATUS[0]}}\""],
        env=environ,
        text=True,
        capture_output=True,
        timeout=120,
    )
    # THEN head printed the first byte of the JSON, and mlops exited 0 without a word on stderr
    assert (pipeline.stdout, pipeline.stderr) == ("[ 0\n", ""), pipeline


def test_a_reader_that_is_gone_is_a_quiet_exit_1(environ: dict[str, str]) -> None:
    # GIVEN a stdout whose reader has already gone away
    read_end, write_end = os.pipe()
    os.close(read_end)
    # WHEN the installed command prints to it
    try:
        result = mlops("models", "list", "--json", environ=environ, stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    # THEN it exits 1 (nothing reached anyone), without an internal error or a traceback
    assert (result.returncode, result.stderr) == (1, ""), result
