"""The training source bundle: `sourcedir.tar.gz`, the script-mode source of every SageMaker job we start.

    sourcedir.tar.gz
    ├── mlops_train.py      the entry script (`sagemaker_program`): runs mlops.training.entrypoint.main
    ├── requirements.txt    what the job imports and the framework image lacks; the image installs it at start
    └── mlops/              this package, as installed here (no __pycache__)

The scikit-learn framework image unpacks it into /opt/ml/code, installs requirements.txt with pip, then runs
`python mlops_train.py` with the SM_* variables (docs/aws.md, "Training source bundle"). The deploy command
builds it and uploads it to MLOPS_TRAINING_SOURCE.
"""

from __future__ import annotations

import importlib.metadata
import io
import re
import tarfile
from pathlib import Path

import mlops
from mlops.pipeline.models import SCRIPT_MODE_PROGRAM

BUNDLE_NAME = "sourcedir.tar.gz"
DISTRIBUTION = "mlops-issueops"
# What the pinned framework image (training_job.FRAMEWORK_VERSION) ships, from its Dockerfile
# (aws/sagemaker-scikit-learn-container docker/1.4-2): tests/aws/test_training_source.py checks the train extra
# against it. The rest of the train extra goes into requirements.txt.
FRAMEWORK_PYTHON = "3.10"
FRAMEWORK_SHIPS = {"numpy": "2.1.0", "scipy": "1.9.0", "pandas": "1.5.0", "scikit-learn": "1.4.2", "pyarrow": "17.0.0"}
ENTRY_SCRIPT = '''"""SageMaker script-mode entry point of mlops-issueops: one training or verifying job, from SM_*."""

import sys

from mlops.training.entrypoint import main

sys.exit(main())
'''


def build_source_bundle(dest: Path) -> Path:
    """Write `dest/sourcedir.tar.gz` (dest: a directory, created if need be) and return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    bundle = dest / BUNDLE_NAME
    package = Path(mlops.__file__).parent
    with tarfile.open(bundle, "w:gz") as tar:
        _add_text(tar, SCRIPT_MODE_PROGRAM, ENTRY_SCRIPT)
        _add_text(tar, "requirements.txt", "".join(f"{line}\n" for line in missing_requirements()))
        for path in sorted(p for p in package.rglob("*") if p.is_file() and _wanted(p)):
            tar.add(path, arcname=f"mlops/{path.relative_to(package).as_posix()}", filter=_plain)
    return bundle


def train_requirements() -> list[str]:
    """The train extra of the installed package, as `name>=version` lines."""
    requires = importlib.metadata.requires(DISTRIBUTION) or []
    return [line.split(";")[0].strip() for line in requires if re.search(r"extra\s*==\s*['\"]train['\"]", line)]


def missing_requirements() -> list[str]:
    """The train extra bar what the framework image ships (its versions are checked against the extra by the
    tests, not at a job's start, where pip would try to replace scikit-learn)."""
    return [line for line in train_requirements() if requirement_name(line) not in FRAMEWORK_SHIPS]


def requirement_name(line: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
    return match.group(0).lower().replace("_", "-") if match else line


def _wanted(path: Path) -> bool:
    return "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """No owner or modes of this machine in the bundle."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    return info


def _add_text(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = _plain(tarfile.TarInfo(name))
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
