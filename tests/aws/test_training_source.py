"""The training source bundle: the layout the framework image expects, requirements for exactly what the image
lacks, an image whose libraries satisfy the train extra, and an entry script that trains from the extracted
bundle with SageMaker's SM_* variables (offline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from mlops.backends.aws.training_job import FRAMEWORK_VERSION, framework_image
from mlops.backends.aws.training_source import (
    FRAMEWORK_PYTHON,
    FRAMEWORK_SHIPS,
    build_source_bundle,
    missing_requirements,
    train_requirements,
)
from tests.functional.conftest import published


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = build_source_bundle(tmp_path_factory.mktemp("dist"))
    into = tmp_path_factory.mktemp("code")  # what the image does in /opt/ml/code
    with tarfile.open(bundle) as tar:
        tar.extractall(into, filter="data")
    return into


def test_the_bundle_holds_the_entry_script_the_requirements_and_the_package_at_its_root(tmp_path: Path) -> None:
    bundle = build_source_bundle(tmp_path / "out")
    assert bundle == tmp_path / "out" / "sourcedir.tar.gz"
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
    assert {"mlops_train.py", "requirements.txt", "mlops/__init__.py", "mlops/training/entrypoint.py"} <= set(names)
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert all(name in ("mlops_train.py", "requirements.txt") or name.startswith("mlops/") for name in names)


def test_the_requirements_are_what_the_image_lacks(extracted: Path) -> None:
    lines = (extracted / "requirements.txt").read_text().splitlines()
    assert lines == missing_requirements()
    names = {Requirement(line).name.lower() for line in lines}
    assert {"skops", "gymnasium", "matplotlib"} <= names  # saving, reinforcement learning, plots
    assert not names & {"scikit-learn", "numpy"}  # pip must not replace the image's own builds


def test_the_pinned_image_satisfies_the_train_extra_and_the_python_requirement() -> None:
    assert framework_image("us-east-1").endswith(f"sagemaker-scikit-learn:{FRAMEWORK_VERSION}-cpu-py3")
    assert FRAMEWORK_SHIPS["scikit-learn"].startswith(FRAMEWORK_VERSION.split("-")[0])
    shipped = [Requirement(line) for line in train_requirements() if Requirement(line).name in FRAMEWORK_SHIPS]
    assert {r.name for r in shipped} >= {"scikit-learn", "numpy"}
    for requirement in shipped:
        assert FRAMEWORK_SHIPS[requirement.name] in requirement.specifier, requirement
    from importlib.metadata import metadata

    assert FRAMEWORK_PYTHON in SpecifierSet(metadata("mlops-issueops")["Requires-Python"])


def test_the_entry_script_trains_and_verifies_from_the_extracted_bundle(extracted: Path, tmp_path: Path) -> None:
    channels = published(tmp_path / "store", "iris")
    trained = _run_entry_script(extracted, tmp_path / "train", {"mlops_algorithm": "random_forest"},
                                {"TRAIN": channels / "train", "TEST": channels / "test"})
    assert trained.returncode == 0, trained.stderr
    assert "[mlops] metric accuracy=" in trained.stdout
    assert (tmp_path / "train" / "model" / "model.skops").is_file()
    checked = _run_entry_script(extracted, tmp_path / "verify", {"mlops_mode": "verify"},
                                {"MODEL": tmp_path / "train" / "model"})
    assert checked.returncode == 0, checked.stderr
    assert json.loads((tmp_path / "verify" / "output" / "verification.json").read_text())["ok"] is True
    where = subprocess.run([sys.executable, "-c", "import mlops; print(mlops.__file__)"], cwd=extracted,
                           capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(extracted)  # the bundle's package, not the installed one


def _run_entry_script(code: Path, work: Path, hps: dict, channels: dict[str, Path]) -> subprocess.CompletedProcess:
    """As the framework image runs it: from /opt/ml/code, with SM_* variables, the network unused."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SM_", "MLOPS_", "AWS_"))}
    env |= {"SM_MODEL_DIR": str(work / "model"), "SM_OUTPUT_DATA_DIR": str(work / "output"),
            "SM_HPS": json.dumps(hps), "SM_CHANNELS": json.dumps(sorted(c.lower() for c in channels))}
    env |= {f"SM_CHANNEL_{name}": str(path) for name, path in channels.items()}
    return subprocess.run([sys.executable, "mlops_train.py"], cwd=code, env=env, capture_output=True, text=True,
                          timeout=300)
