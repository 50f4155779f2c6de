"""Run the training entry point as SageMaker would: `python -m mlops.training` in a subprocess with SM_* set.

Training runs are cached per session and the parametrized ones are started together, as many at a time as
there are CPUs: each run is its own process (one algorithm per subprocess), only the waiting overlaps.
A "case" is any object with `id`, `algorithm`, `dataset` (None for reinforcement learning) and `hps`; tests
parametrize over cases with the argument name `case`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops.backends.local.store import LocalArtifactStore
from mlops.data import dataset_in_store

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 300
METRIC_LINE = re.compile(r"^\[mlops\] metric (?P<name>[a-z0-9_]+)=(?P<value>-?\d+(\.\d+)?(e[-+]\d+)?)$")


@dataclass
class TrainingRun:
    returncode: int
    stdout: str
    stderr: str
    model_dir: Path
    output_dir: Path

    def evaluation(self) -> dict[str, Any]:
        return json.loads((self.output_dir / "evaluation.json").read_text())

    def model_info(self) -> dict[str, Any]:
        return json.loads((self.model_dir / "model_info.json").read_text())

    def metric_lines(self) -> dict[str, str]:
        """name -> value text of every `[mlops] metric` line (AssertionError for a malformed one)."""
        lines = [line for line in self.stdout.splitlines() if line.startswith("[mlops] metric ")]
        matches = [METRIC_LINE.match(line) for line in lines]
        assert all(matches), f"malformed metric lines: {lines}"
        return {m["name"]: m["value"] for m in matches if m}

    def explain(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def run_entry_point(
    work_dir: Path, hps: Mapping[str, Any], channels: Mapping[str, Path] | None = None, **env: str
) -> TrainingRun:
    """`python -m mlops.training` with the script-mode environment SageMaker would give it."""
    model_dir, output_dir = work_dir / "model", work_dir / "output"
    model_dir.mkdir(parents=True, exist_ok=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    environ.update(SM_MODEL_DIR=str(model_dir), SM_OUTPUT_DATA_DIR=str(output_dir), SM_HPS=json.dumps(hps))
    environ.update({f"SM_CHANNEL_{name.upper()}": str(path) for name, path in (channels or {}).items()})
    environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg", **env)
    done = subprocess.run(
        [sys.executable, "-m", "mlops.training"],
        env=environ,
        cwd=work_dir,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    return TrainingRun(done.returncode, done.stdout, done.stderr, model_dir, output_dir)


def channels_of(dataset_dir: Path) -> dict[str, Path]:
    return {"train": dataset_dir / "train", "test": dataset_dir / "test"}


class TrainingRuns:
    """Session cache of entry-point runs, started in the background and awaited by the tests that need them."""

    def __init__(self, work_root: Path, data_root: Path) -> None:
        self.work_root, self.data_root = work_root, data_root
        self.pool = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1))
        self.futures: dict[str, Future[TrainingRun]] = {}

    def start(self, cases: Iterable[Any]) -> None:
        for case in cases:
            if case.id not in self.futures:
                channels = channels_of(published(self.data_root, case.dataset)) if case.dataset else None
                hps = {"mlops_algorithm": case.algorithm, **case.hps}
                work_dir = self.work_root / case.id
                self.futures[case.id] = self.pool.submit(run_entry_point, work_dir, hps, channels)

    def result(self, case: Any) -> TrainingRun:
        self.start([case])
        return self.futures[case.id].result()


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store root in which the bundled datasets are materialized on first use."""
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="session")
def training_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, data_root: Path):
    runs = TrainingRuns(tmp_path_factory.mktemp("runs"), data_root)
    runs.start(_selected_cases(request.session.items))  # all at once, so the subprocesses overlap
    yield runs
    runs.pool.shutdown(wait=True)


def _selected_cases(items: Iterable[pytest.Item]) -> list[Any]:
    """The `case` parameters of the tests this session will run."""
    callspecs = (getattr(item, "callspec", None) for item in items)
    cases = [spec.params.get("case") for spec in callspecs if spec is not None]
    return [case for case in cases if hasattr(case, "algorithm") and hasattr(case, "hps")]


@pytest.fixture
def entry_point():
    """`entry_point(work_dir, hps, channels=None, **extra_env) -> TrainingRun`."""
    return run_entry_point


@pytest.fixture
def bundled_channels(data_root: Path):
    """`bundled_channels("iris") -> {"train": Path, "test": Path}`, materializing the dataset on first use."""
    return lambda dataset_id: channels_of(published(data_root, dataset_id))


def published(root: Path, dataset_id: str) -> Path:
    """A bundled dataset published into a local store at `root`, as PrepareData does: its directory."""
    dataset_in_store(LocalArtifactStore(root), dataset_id)
    return root / "datasets" / dataset_id
