"""GIVEN this checkout's `mlops` package, WHEN the Lambda bundle is built, THEN its dependencies are installed by pip
for Lambda's platform (CPython 3.12, manylinux x86_64) and never this machine's, the zip holds the package and the
dependencies at its root without bytecode, its bytes depend only on the content (a rebuild has the same sha256, a
changed file another), and every handler the state machine calls imports from the extracted zip.

What is NOT tested here, and why: installing the real dependencies (pydantic-core's manylinux wheel for Python
3.12 and the rest) needs the package index, which tests cannot reach; pip runs for real, offline, from a
wheelhouse of wheels written by the tests. The import test runs the extracted zip with this interpreter's
site-packages standing in for the bundled dependencies (this interpreter's versions, not Lambda's wheels).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from mlops.deploy import bundle
from mlops.errors import DeployError, UsageError
from mlops.pipeline import asl
from tests.deploy.conftest import write_wheel


def test_the_lambda_needs_the_package_s_runtime_dependencies_but_not_what_the_runtime_has() -> None:
    names = {re.match(r"[A-Za-z0-9_.-]+", req).group(0).lower() for req in bundle.lambda_requirements()}  # type: ignore[union-attr]
    assert {"pydantic", "pyyaml", "tabulate", "pygithub", "aws-lambda-powertools"} <= names
    assert not names & {"boto3", "botocore", "numpy", "scikit-learn", "matplotlib", "sagemaker"}


def test_pip_is_asked_for_wheels_of_lambda_s_python_and_platform(tmp_path: Path) -> None:
    command = bundle.pip_command(tmp_path, ["pydantic>=2.6"], wheelhouse=tmp_path / "wheels")
    joined = " ".join(command)
    assert "--python-version 3.12" in joined and "--implementation cp" in joined
    assert "--platform manylinux2014_x86_64" in joined and "--only-binary=:all:" in joined
    assert f"--target {tmp_path}" in joined and "--no-compile" in joined
    assert f"--no-index --find-links {tmp_path / 'wheels'}" in joined
    assert "--no-index" not in bundle.pip_command(tmp_path, ["pydantic"])


def test_a_wheel_for_lambda_s_platform_installs_from_the_wheelhouse(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write_wheel(wheels, "compiled", tag="cp312-cp312-manylinux2014_x86_64")
    bundle.install_dependencies(tmp_path / "target", ["compiled"], wheels)
    assert (tmp_path / "target" / "compiled" / "__init__.py").is_file()
    assert not list((tmp_path / "target").rglob("*.pyc"))


@pytest.mark.parametrize("tag", ["cp312-cp312-linux_x86_64", "cp311-cp311-manylinux2014_x86_64",
                                 "cp312-cp312-macosx_11_0_arm64", "cp312-cp312-manylinux2014_aarch64"])
def test_a_wheel_lambda_could_not_load_is_refused_with_pip_s_reason(tmp_path: Path, tag: str) -> None:
    """This machine's own build, another Python, another OS, another CPU: pip must not take any of them."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write_wheel(wheels, "compiled", tag=tag)
    with pytest.raises(DeployError) as error:
        bundle.install_dependencies(tmp_path / "target", ["compiled"], wheels)
    text = "\n".join(error.value.problems)
    assert f"from the wheelhouse {wheels}" in text and "manylinux wheels for Python 3.12" in text
    assert "compiled" in text  # pip's own words name what it could not find


def test_a_missing_wheelhouse_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--wheelhouse: .* is not a directory"):
        bundle.install_dependencies(tmp_path / "target", ["x"], tmp_path / "nowhere")


@pytest.fixture
def built(tmp_path: Path, wheelhouse: Path, offline_requirements: list[str]) -> Path:
    return bundle.build_lambda_bundle(tmp_path / "build", wheelhouse=wheelhouse)


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    (tmp_path / "build").mkdir()
    return tmp_path / "build"


def test_the_zip_holds_the_package_and_its_dependencies_at_its_root(build_dir: Path, built: Path) -> None:
    names = zipfile.ZipFile(built).namelist()
    assert "mlops/handlers.py" in names and "mlops/pipeline/flow.py" in names
    assert "lambdadep/__init__.py" in names and "lambdadep-1.0.dist-info/METADATA" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    package = {p.relative_to(bundle.PACKAGE_DIR.parent).as_posix() for p in bundle.PACKAGE_DIR.rglob("*.py")
               if "__pycache__" not in p.parts}
    assert package <= set(names)
    assert names == sorted(names)
    assert {info.date_time for info in zipfile.ZipFile(built).infolist()} == {bundle.ZIP_EPOCH}


def test_the_same_code_gives_the_same_bytes_and_a_change_gives_others(
        tmp_path: Path, wheelhouse: Path, offline_requirements: list[str]) -> None:
    package = tmp_path / "src" / "mlops"
    shutil.copytree(bundle.PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__"))
    first = bundle.sha256_of(bundle.build_lambda_bundle(tmp_path / "a", wheelhouse=wheelhouse, package_dir=package))
    (package / "handlers.py").touch()  # a new mtime, same content
    second = bundle.sha256_of(bundle.build_lambda_bundle(tmp_path / "b", wheelhouse=wheelhouse, package_dir=package))
    (package / "handlers.py").write_text((package / "handlers.py").read_text() + "\n# changed\n")
    third = bundle.sha256_of(bundle.build_lambda_bundle(tmp_path / "c", wheelhouse=wheelhouse, package_dir=package))
    assert first == second != third


def handler_names() -> list[str]:
    """Every handler the state machine calls (its `${<Agent>FunctionArn}` placeholders), as module attributes."""
    arns = [name for name in asl.substitution_names(asl.compile_flow()) if name.endswith("FunctionArn")]
    return [re.sub(r"(?<!^)(?=[A-Z])", "_", name.removesuffix("FunctionArn")).lower() for name in arns]


def template_handler_names() -> list[str]:
    """Every `Handler:` of the pipeline template's Lambdas (mlops.handlers.<name>)."""
    text = (Path(__file__).resolve().parents[2] / "infra" / "cloudformation" / "mlops-pipeline.yml").read_text()
    return sorted(set(re.findall(r"Handler: mlops\.handlers\.(\w+)", text)))


def test_every_handler_imports_from_the_extracted_zip(tmp_path: Path, built: Path) -> None:
    """The state machine's handlers, and the template's: the zip holds whatever the package has (a handler the
    package lacks is tests/infra/test_pipeline_template.py's to report)."""
    extracted = tmp_path / "lambda"
    zipfile.ZipFile(built).extractall(extracted)
    names = sorted({*handler_names(), *template_handler_names()})
    assert {"prepare_data", "publish"} <= set(handler_names()) and len(template_handler_names()) >= 10
    # -S: no site, so no editable install of this checkout; the zip first, then this interpreter's packages
    script = (
        "import sys, importlib, json\n"
        f"sys.path[:0] = [{str(extracted)!r}, {sysconfig.get_paths()['purelib']!r}]\n"
        "handlers = importlib.import_module('mlops.handlers')\n"
        f"assert handlers.__file__.startswith({str(extracted)!r}), handlers.__file__\n"
        "import lambdadep\n"
        f"print(json.dumps([n for n in {names!r} if not callable(getattr(handlers, n, None))]))\n"
    )
    result = subprocess.run([sys.executable, "-S", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    import mlops.handlers

    missing_here = [n for n in names if not callable(getattr(mlops.handlers, n, None))]
    assert json.loads(result.stdout) == missing_here
    assert not set(missing_here) & set(handler_names())  # every handler the state machine calls is there


def test_the_training_source_bundle_is_made_reproducible_without_changing_its_members(tmp_path: Path) -> None:
    from mlops.backends.aws.training_source import build_source_bundle

    def members(path: Path) -> dict[str, bytes | None]:
        with tarfile.open(path) as archive:
            return {m.name: archive.extractfile(m).read() if m.isfile() else None  # type: ignore[union-attr]
                    for m in archive.getmembers()}

    first = build_source_bundle(tmp_path / "a")
    original = members(first)
    bundle.reproducible_tarball(first)
    time.sleep(1.1)  # gzip and tar keep times in whole seconds
    second = bundle.reproducible_tarball(build_source_bundle(tmp_path / "b"))
    assert bundle.sha256_of(first) == bundle.sha256_of(second)
    assert members(first) == original and "mlops/handlers.py" in original
    with tarfile.open(first) as archive:
        assert {(m.mtime, m.uid, m.uname) for m in archive.getmembers()} == {(0, 0, "")}
