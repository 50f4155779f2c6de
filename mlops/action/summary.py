"""Job summaries: the request as a table, links, and the outcome, on the page of the workflow run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mlops.report import escape
from mlops.request import TrainingRequest


def request_table(request: TrainingRequest) -> str:
    rows = [f"| {escape(key)} | {escape(_text(value), 500)} |" for key, value in _fields(request).items()]
    return "| field | value |\n| --- | --- |\n" + "\n".join(rows)


def _fields(request: TrainingRequest) -> dict[str, Any]:
    fields = request.model_dump(mode="json", exclude_none=True)
    fields["evaluation_metric"] = request.metric
    return {key: value for key, value in fields.items() if value not in (None, {}, [])}


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key}={_text(item)}" for key, item in value.items())
    return value if isinstance(value, str) else json.dumps(value)


def links_line(links: Mapping[str, str | None]) -> str:
    return " · ".join(f"[{escape(name)}]({url})" for name, url in links.items() if url)


def job_summary(title: str, outcome: str, *blocks: str) -> str:
    return "\n\n".join([f"## {title}", f"**Outcome:** {outcome}", *(block for block in blocks if block)])
