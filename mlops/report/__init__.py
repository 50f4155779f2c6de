"""Training reports: the Markdown of requirements §7.2 (Japanese by default, English on request), its JSON
twin, a short summary for issue comments and Actions job summaries, and the Markdown of a rollback record.

- `strings`: every user-facing string, one small table per language
- `markdown`: Markdown building blocks, and the escaping every user-typed value goes through first
- `values`: how metric values, thresholds, hyperparameters, times and durations are written
- `status`: what became of a run (`outcome`) and the status lines that say it
- `run`: the run report (`render_report`); `summary`: its short form (`render_summary`)
- `twin`: the JSON twin (`report_json`); `rollback`: a rollback record (`render_rollback`)
"""

from mlops.report.markdown import code, escape, safe_url
from mlops.report.rollback import render_rollback
from mlops.report.run import render_report
from mlops.report.status import outcome, status_lines
from mlops.report.summary import render_summary
from mlops.report.twin import report_json

__all__ = [
    "code",
    "escape",
    "outcome",
    "render_report",
    "render_rollback",
    "render_summary",
    "report_json",
    "safe_url",
    "status_lines",
]
