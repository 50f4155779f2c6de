"""`rollback` (workflow_dispatch, inputs model_id, version (empty: the previous one), reason): make an earlier
version current through the registry, record it in the history, commit the record, write the job summary.

Only people with write access can run a workflow_dispatch, so no permission check is needed here.
"""

from __future__ import annotations

from typing import Any

from mlops.action.context import ActionContext
from mlops.action.event import WorkflowDispatchEvent, load_event
from mlops.action.history_commit import record_files
from mlops.action.outcome import Outcome
from mlops.action.summary import job_summary, links_line
from mlops.errors import UsageError
from mlops.github.actions_io import ActionsIO
from mlops.github.client import GitHubClient
from mlops.report import escape


def run(ctx: ActionContext, io: ActionsIO) -> Outcome:
    event = load_event(ctx.event_path, ctx.event_name, "workflow_dispatch", WorkflowDispatchEvent)
    model_id, version, reason = _inputs(event.inputs or {})
    actor = ctx.actor or (event.sender.login if event.sender else "unknown")
    if ctx.settings.backend == "aws":
        from mlops.action.aws_rollback import roll_back

        record, record_id, files = roll_back(ctx, model_id, version, actor, reason)
    else:
        record, record_id, files = _roll_back_locally(ctx, model_id, version, actor, reason)
    message = f"mlops: roll {model_id} back from {record['from_version']} to {record['to_version']}"
    commit = GitHubClient(ctx.connection).commit_files(files, message)
    io.log(f"{model_id}: {record['from_version']} -> {record['to_version']} is current; committed as {commit}")
    io.add_summary(_summary(ctx, record, f"{record_id}.md", commit))
    return Outcome("succeeded", model_id=model_id, model_version=record["to_version"])


def _roll_back_locally(
    ctx: ActionContext, model_id: str, version: str | None, actor: str, reason: str
) -> tuple[dict[str, Any], str, dict[str, bytes]]:
    from mlops.services import build_services

    services = build_services(ctx.settings, writes_history=True)
    try:
        record = services.ports.registry.rollback(model_id, version, actor=actor, reason=reason)
        path = services.ports.history.record_rollback(record, lang=ctx.settings.report_lang)
    finally:
        services.close()
    return record, path.stem, record_files(ctx.settings.history_dir, path.stem)


def _inputs(inputs: dict[str, Any]) -> tuple[str, str | None, str]:
    model_id = str(inputs.get("model_id") or "").strip()
    if not model_id:
        raise UsageError("model_id: say which model to roll back (the workflow's model_id input)")
    version = str(inputs.get("version") or "").strip() or None
    return model_id, version, str(inputs.get("reason") or "").strip()


def _summary(ctx: ActionContext, record: dict[str, Any], file_name: str, commit: str | None) -> str:
    rows = [
        ("model", record["model_id"]),
        ("from", record["from_version"]),
        ("to", record["to_version"]),
        ("by", record["actor"]),
        ("reason", record["reason"] or "-"),
    ]
    table = "| | |\n| --- | --- |\n" + "\n".join(f"| {key} | {escape(value, 500)} |" for key, value in rows)
    link = links_line(
        {"record": ctx.file_url("blob", commit or "HEAD", f"training_history/{file_name}"), "Actions run": ctx.run_url}
    )
    outcome = f"{escape(record['to_version'])} of {escape(record['model_id'])} is current"
    return job_summary(f"Rollback of `{record['model_id']}`", outcome, table, link)
