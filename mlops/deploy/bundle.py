"""The Lambda bundle: one zip with the `mlops` package and its runtime dependencies, built for the Lambda runtime
(python3.12 on x86_64 Linux), whoever builds it on whatever machine.

Two steps, kept apart so that each can be tested on its own:
- `install_dependencies` is the only step that needs wheels for another platform: pip installs manylinux wheels
  for CPython 3.12 into a directory, from the package index or, offline, from a wheelhouse (`--wheelhouse DIR`:
  `pip --no-index --find-links DIR`). Compiled packages (pydantic-core) must come as wheels for Lambda's platform,
  never as whatever this machine has installed.
- `write_zip` packs that directory and the `mlops` package, byte for byte the same for the same inputs (sorted
  entries, fixed timestamps and modes), so the bundle's sha256 names its content: a deploy with unchanged code
  uploads nothing and leaves the Lambdas alone, and any change makes CloudFormation update them.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path

from mlops.errors import DeployError, UsageError
from mlops.history import sha256_file

DISTRIBUTION = "mlops-issueops"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the `mlops` package this command runs from
LAMBDA_PYTHON = "3.12"
# manylinux2014 covers every wheel these packages publish for x86_64; Lambda's python3.12 (Amazon Linux 2023,
# glibc 2.34) also runs manylinux_2_28 wheels, which some packages publish alone in newer releases.
LAMBDA_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
# In the Lambda runtime already: packing them would add ~80 MB and pin an AWS SDK the runtime keeps current.
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore"})
# What the handlers need beyond the package's own dependencies: the `aws` extra (Powertools), with a floor for an
# installation whose metadata predates that extra.
LAMBDA_EXTRA = "aws"
LAMBDA_ALWAYS = ("aws-lambda-powertools>=3",)
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
SKIPPED_PARTS = frozenset({"__pycache__"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")
PIP_TIMEOUT = 900  # seconds: the dependency step downloads ~20 MB of wheels


def lambda_requirements() -> list[str]:
    """The package's runtime requirements and its `aws` extra (as installed), less what the runtime provides."""
    try:
        declared = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        raise UsageError(f"{DISTRIBUTION} is not installed; run `pip install .` in its checkout first") from None
    wanted = [req.split(";")[0].strip() for req in declared if _for_lambda(req)]
    wanted += [req for req in LAMBDA_ALWAYS if _name(req) not in {_name(w) for w in wanted}]
    return [req for req in wanted if _name(req) not in PROVIDED_BY_RUNTIME]


def _for_lambda(requirement: str) -> bool:
    marker = requirement.partition(";")[2].replace("'", '"')
    return "extra ==" not in marker or f'extra == "{LAMBDA_EXTRA}"' in marker


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    return (match.group(0) if match else requirement).lower().replace("_", "-")


def pip_command(target: Path, requirements: Sequence[str], wheelhouse: Path | None = None) -> list[str]:
    """pip, installing wheels for Lambda's Python and platform (never this machine's) into `target`."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
               "--target", str(target), "--implementation", "cp", "--python-version", LAMBDA_PYTHON,
               "--only-binary=:all:"]
    for platform in LAMBDA_PLATFORMS:
        command += ["--platform", platform]
    if wheelhouse is not None:
        command += ["--no-index", "--find-links", str(wheelhouse)]
    return [*command, *requirements]


def install_dependencies(target: Path, requirements: Sequence[str], wheelhouse: Path | None = None) -> None:
    """Install `requirements` for Lambda into `target` (the one step that needs the index or a wheelhouse)."""
    if wheelhouse is not None and not wheelhouse.is_dir():
        raise UsageError(f"--wheelhouse: '{wheelhouse}' is not a directory of wheels")
    try:
        result = subprocess.run(pip_command(target, requirements, wheelhouse), capture_output=True, text=True,
                                timeout=PIP_TIMEOUT, check=False, env=_pip_environment())
    except subprocess.TimeoutExpired:
        raise DeployError(f"Lambda bundle: pip did not finish within {PIP_TIMEOUT} s; check the network") from None
    if result.returncode != 0:
        where = f"the wheelhouse {wheelhouse}" if wheelhouse else "the package index"
        raise DeployError(
            f"Lambda bundle: pip could not install manylinux wheels for Python {LAMBDA_PYTHON} from {where}",
            [f"Lambda bundle: pip could not install manylinux wheels for Python {LAMBDA_PYTHON} from {where}:",
             *_last_lines(result.stderr or result.stdout)],
        )


def _pip_environment() -> dict[str, str]:
    """pip reads its configuration from the environment too; one that forces a user install would break --target."""
    return {key: value for key, value in os.environ.items() if key not in ("PIP_USER", "PIP_TARGET", "PIP_PREFIX")}


def _last_lines(text: str, count: int = 8) -> list[str]:
    return ["  " + line for line in text.strip().splitlines()[-count:]]


def package_files(package_dir: Path = PACKAGE_DIR) -> Iterator[tuple[str, Path]]:
    """(name in the zip, file) for every file of the `mlops` package, its data included, no bytecode."""
    root = package_dir.parent
    for path in package_dir.rglob("*"):
        if path.is_file() and _kept(path.relative_to(root)):
            yield path.relative_to(root).as_posix(), path


def directory_files(directory: Path) -> Iterator[tuple[str, Path]]:
    """(name in the zip, file) for every file under `directory`, at the zip's root."""
    for path in directory.rglob("*"):
        if path.is_file() and _kept(path.relative_to(directory)):
            yield path.relative_to(directory).as_posix(), path


def _kept(relative: Path) -> bool:
    return not SKIPPED_PARTS.intersection(relative.parts) and not relative.name.endswith(SKIPPED_SUFFIXES)


def write_zip(destination: Path, files: Iterable[tuple[str, Path]]) -> Path:
    """A zip whose bytes depend only on the files' names and contents (sorted; fixed time and mode)."""
    entries = dict(files)  # a later source of the same name wins: the package over a dependency's copy of it
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16  # readable by the Lambda runtime's user, whatever the umask was
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name].read_bytes())
    return destination


def build_lambda_bundle(work_dir: Path, *, wheelhouse: Path | None = None, package_dir: Path = PACKAGE_DIR) -> Path:
    """`work_dir/mlops-lambda.zip`: the dependencies for Lambda, then the `mlops` package, at the zip's root."""
    dependencies = work_dir / "lambda-dependencies"
    shutil.rmtree(dependencies, ignore_errors=True)
    dependencies.mkdir(parents=True)
    install_dependencies(dependencies, lambda_requirements(), wheelhouse)
    files = [*directory_files(dependencies), *package_files(package_dir)]
    return write_zip(work_dir / "mlops-lambda.zip", files)


sha256_of = sha256_file  # one file digest for the project (mlops/history.py)


def reproducible_tarball(path: Path) -> Path:
    """Rewrite a .tar.gz so that its bytes depend only on its members' names and contents (fixed times, owners and
    modes; no timestamp in the gzip header): a rebuild of the same source gets the same content-addressed key."""
    with tarfile.open(path, "r:gz") as archive:
        members = [(info, archive.extractfile(info).read() if info.isfile() else None)  # type: ignore[union-attr]
                   for info in archive.getmembers()]
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as stream, \
            tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o755 if info.isdir() else 0o644
            info.pax_headers = {}  # they repeat the file's time, to the nanosecond
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return path
