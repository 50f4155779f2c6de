"""checkov, from a virtual environment of its own: `python tests/infra/checkov_env.py [checkov arguments]`.

checkov pins boto3 (3.3.30: boto3==1.35.49); installed beside the project's boto3 and moto it would drag them
back. So it lives in `.venv-checkov/` at the repository root (gitignored), created on first use with the pinned
version and reused afterwards. The test suite and CI call this script; so can a developer.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import venv
from pathlib import Path

CHECKOV_VERSION = "3.3.30"
ENV_DIR = Path(__file__).resolve().parents[2] / ".venv-checkov"
# checkov exits 0 (nothing failed) or 1 (a check failed); this says it could not be installed at all.
INSTALL_FAILED = 3


class InstallFailed(Exception):
    """pip could not install the pinned checkov."""


def checkov_executable(env_dir: Path = ENV_DIR) -> Path:
    """The checkov of `env_dir`, installing it first if needed (one installer at a time)."""
    # Written last, so a half-finished installation (interrupted pip) is redone rather than trusted.
    ready_mark = env_dir / f"checkov-{CHECKOV_VERSION}.ready"
    with open(env_dir.with_name(env_dir.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready_mark.exists():
            _install(env_dir)
            ready_mark.touch()
    return env_dir / "bin" / "checkov"


def _install(env_dir: Path) -> None:
    venv.EnvBuilder(clear=True, with_pip=True).create(env_dir)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    result = subprocess.run([*pip, f"checkov=={CHECKOV_VERSION}"], capture_output=True, text=True)
    if result.returncode != 0:
        raise InstallFailed(f"installing checkov=={CHECKOV_VERSION} into {env_dir} failed:\n{result.stderr}")


def main(arguments: list[str]) -> int:
    try:
        executable = checkov_executable()
    except InstallFailed as failure:
        print(failure, file=sys.stderr)
        return INSTALL_FAILED
    # Never the caller's virtual environment: checkov must import its own boto3.
    environment = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return subprocess.run([str(executable), *arguments], env=environment).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
