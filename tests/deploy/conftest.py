"""`mlops aws deploy` against moto in-process (no network, nobody's credentials) and the fake GitHub on loopback.

The Lambda bundle's dependency step runs pip for real, offline, from a wheelhouse of small wheels written here
(`wheelhouse`): the real dependencies (pydantic-core's manylinux wheel for Python 3.12...) need the package index,
which tests cannot reach.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "github"))  # the fake GitHub's modules

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake keys, and none of the developer's AWS configuration or GitHub token leaks into a test."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
                 "AWS_DEFAULT_REGION", "GITHUB_TOKEN", "GH_TOKEN", "GITHUB_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def write_wheel(directory: Path, name: str, version: str = "1.0", tag: str = "py3-none-any",
                files: dict[str, str] | None = None) -> Path:
    """A real wheel (PEP 427: the files, METADATA, WHEEL and a RECORD with their hashes), written by hand."""
    files = files or {f"{name}/__init__.py": f"VERSION = {version!r}\n"}
    info = f"{name}-{version}.dist-info"
    contents = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: {tag}\n",
    }
    record = [f"{path},sha256={_digest(text)},{len(text.encode())}" for path, text in contents.items()]
    contents[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    wheel = directory / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
    return wheel


def _digest(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheelhouse with one small pure-Python wheel, `lambdadep`."""
    directory = tmp_path_factory.mktemp("wheelhouse")
    write_wheel(directory, "lambdadep")
    return directory


@pytest.fixture
def offline_requirements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The Lambda's requirements, as the wheelhouse can meet them: `lambdadep` instead of the real ones."""
    requirements = ["lambdadep==1.0"]
    monkeypatch.setattr("mlops.deploy.bundle.lambda_requirements", lambda: list(requirements))
    return requirements
