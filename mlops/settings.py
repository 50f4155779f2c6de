"""Settings, resolved once from the environment at start-up and passed down (nothing reads os.environ later)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops.errors import UsageError
from mlops.scalars import ScalarError, hint, read_scalar, shown

MAX_SECONDS = 1e9  # ~31 years: no real wait is longer, and 8x it (the back-off) is still under what sleeps accept


@dataclass(frozen=True)
class Settings:
    backend: str = "local"  # MLOPS_BACKEND: local | aws
    home: Path = Path(".mlops")  # MLOPS_HOME: store, registry and run database of the local backend
    history_dir: Path = Path("training_history")  # MLOPS_HISTORY_DIR: where reports are committed
    report_lang: str = "ja"  # MLOPS_REPORT_LANG: ja | en
    keep_versions: int = 5  # MLOPS_KEEP_VERSIONS: model generations kept (at least 5)
    keep_runs: int = 20  # MLOPS_KEEP_RUNS: the newest runs whose training outputs stay in the store (at least 1)
    train_timeout: float = 3600.0  # MLOPS_TRAIN_TIMEOUT: seconds before a training subprocess is killed
    retry_base_delay: float = 2.0  # MLOPS_RETRY_DELAY: first back-off (seconds) after a training crash
    # MLOPS_TRAIN_COMMAND: a command that runs the script-mode entry point once per try (default: a training
    # worker, this Python -m mlops.training.worker); e.g. a wrapper that runs it in a container image of your own.
    train_command: str | None = None
    slack_webhook_url: str | None = None  # MLOPS_SLACK_WEBHOOK_URL: also notify a Slack channel

    @property
    def store_dir(self) -> Path:
        return self.home / "store"

    @property
    def db_path(self) -> Path:
        return self.home / "mlops.db"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            backend=env.get("MLOPS_BACKEND", cls.backend),
            home=Path(env.get("MLOPS_HOME", str(cls.home))),
            history_dir=Path(env.get("MLOPS_HISTORY_DIR", str(cls.history_dir))),
            report_lang=_language(env.get("MLOPS_REPORT_LANG") or cls.report_lang),
            keep_versions=max(5, _whole_number(env, "MLOPS_KEEP_VERSIONS", cls.keep_versions)),
            keep_runs=max(1, _whole_number(env, "MLOPS_KEEP_RUNS", cls.keep_runs)),
            train_timeout=_seconds(env, "MLOPS_TRAIN_TIMEOUT", cls.train_timeout, zero_ok=False),
            retry_base_delay=_seconds(env, "MLOPS_RETRY_DELAY", cls.retry_base_delay),
            train_command=env.get("MLOPS_TRAIN_COMMAND") or None,
            slack_webhook_url=env.get("MLOPS_SLACK_WEBHOOK_URL") or None,
        )


def _whole_number(env: Mapping[str, str], name: str, default: int) -> int:
    value = _number(env, name, default)
    if not isinstance(value, int):
        raise UsageError(f"{name}: {shown(env[name])} is not a whole number; write one such as {default}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float, *, zero_ok: bool = True) -> float:
    value = float(_number(env, name, default))
    if value > MAX_SECONDS:
        raise UsageError(f"{name}: must be at most {MAX_SECONDS:.0e} seconds (got {shown(env[name])})")
    if value == 0 and not zero_ok:
        raise UsageError(f"{name}: must be more than 0 seconds (got {shown(env[name])})")
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> int | float:
    """The variable read like any number a user writes (mlops.scalars): finite, non-negative; `default` when unset."""
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = read_scalar(text)
    except ScalarError as exc:
        raise UsageError(f"{name}: {exc}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{name}: {shown(text)} is not a number{hint(text)}")
    if not math.isfinite(value):
        raise UsageError(f"{name}: must be a finite number (got {shown(text)})")
    if value < 0:
        raise UsageError(f"{name}: must not be negative (got {shown(text)})")
    return value


def _language(text: str) -> str:
    if text not in ("ja", "en"):
        raise UsageError(f"MLOPS_REPORT_LANG: {shown(text)} is not supported; use ja or en")
    return text
