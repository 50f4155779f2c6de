"""The Markdown of a rollback record: who rolled which model back, from and to which version, and why."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mlops.report.markdown import LONG_LIMIT, escape, item
from mlops.report.strings import strings_for
from mlops.report.values import format_time


def render_rollback(rollback: Mapping[str, Any], lang: str = "ja") -> str:
    """The Markdown of a rollback record: who rolled which model back, from and to which version, and why."""
    t, fields = strings_for(lang), _rollback_fields(rollback, strings_for(lang))
    sentence = t["rb.sentence_automatic" if rollback.get("automatic") else "rb.sentence"].format(**fields)
    labels = {
        "model": "rb.model",
        "from_version": "rb.from",
        "to_version": "rb.to",
        "actor": "rb.actor",
        "reason": "rb.reason",
        "at": "rb.at",
    }
    lines = [item(t[label], fields[key]) for key, label in labels.items()]
    return "\n\n".join([f"# {t['rb.title']}", sentence, "\n".join(lines)]) + "\n"


def _rollback_fields(rollback: Mapping[str, Any], t: dict[str, str]) -> dict[str, str]:
    automatic = bool(rollback.get("automatic"))
    return {
        "model": escape(rollback.get("model_id") or t["unknown"]),
        "from_version": escape(rollback.get("from_version") or "-"),
        # an automatic rollback of a first version leaves no version current
        "to_version": escape(rollback.get("to_version") or t["no_previous"]),
        "actor": t["rb.automatic"] if automatic else escape(rollback.get("actor") or t["unknown"]),
        "reason": escape(rollback.get("reason") or t["no_reason"], LONG_LIMIT),
        "at": _rollback_time(rollback.get("at")),
    }


def _rollback_time(at: Any) -> str:
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            return escape(at)
    return format_time(at if isinstance(at, datetime) else None)
