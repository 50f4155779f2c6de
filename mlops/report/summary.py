"""A short status block for the issue's status comment and the Actions job summary."""

from __future__ import annotations

from mlops.pipeline.models import RunState
from mlops.report.markdown import LONG_LIMIT, code, escape, item, safe_url, table
from mlops.report.status import status_lines
from mlops.report.strings import strings_for
from mlops.report.values import format_threshold, format_value, metric_label


def render_summary(run: RunState, lang: str = "ja", history_url: str | None = None) -> str:
    """A short status block for the issue's status comment and the Actions job summary."""
    t = strings_for(lang)
    blocks = ["### " + status_lines(run, lang)[0], *_summary_table(run, t)]
    facts = [item(t["training_id"], code(run.training_id))]
    if run.registered is not None:
        facts.append(
            item(t["version"], f"{escape(run.registered.version)} ({escape(run.registered.model_id)})")
        )
    facts.append(item(t["summary.history"], _history_link(run, history_url)))
    return "\n\n".join([*blocks, "\n".join(facts)]) + "\n"


def _summary_table(run: RunState, t: dict[str, str]) -> list[str]:
    gate = run.gate
    if gate is None:
        return []
    headers = [t["summary.metric"], t["summary.value"], t["summary.threshold"], t["summary.result"]]
    row = [
        metric_label(gate.metric),
        format_value(gate.value),
        f"{gate.comparison} {format_threshold(gate.threshold)}",
        t["pass"] if gate.passed else t["miss"],
    ]
    return [table([row], headers)]


def _history_link(run: RunState, history_url: str | None) -> str:
    path = run.report or f"training_history/{run.training_id}.md"
    url = safe_url(history_url)
    return f"[{escape(path, LONG_LIMIT)}]({url})" if url else code(path, LONG_LIMIT)
