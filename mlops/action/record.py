"""`record`: a run finished elsewhere (the `mlops-run-finished` repository_dispatch, client_payload
`{"training_id": ...}`); commit its history files in one commit. Recording the same run again is a no-op.

With the local backend the files come from MLOPS_HISTORY_DIR (`start` and `comment` record their own runs
when they end; this mode re-records one, after a failed commit say). With backend aws the Publish Lambda sends
the dispatch, and the files come from `history/` in MLOPS_BUCKET (mlops/action/aws_history.py).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlops.action.context import HISTORY_PATH, ActionContext
from mlops.action.event import RepositoryDispatchEvent, load_event
from mlops.action.history_commit import commit_message, read_record, run_files
from mlops.action.outcome import Outcome
from mlops.action.summary import job_summary, links_line
from mlops.errors import UsageError
from mlops.github.actions_io import ActionsIO
from mlops.github.client import GitHubClient
from mlops.report import code

EVENT_TYPE = "mlops-run-finished"


def dispatch_command(repository: str, training_id: str) -> str:
    """The `gh` command that sends the dispatch the `record` job answers (gh nests `key[subkey]=value`)."""
    return (
        f"gh api repos/{repository}/dispatches -f event_type={EVENT_TYPE} "
        f"-f 'client_payload[training_id]={training_id}'"
    )


def run(ctx: ActionContext, io: ActionsIO) -> Outcome:
    event = load_event(ctx.event_path, ctx.event_name, "repository_dispatch", RepositoryDispatchEvent)
    if event.action != EVENT_TYPE:
        io.log(f"ignored: repository_dispatch '{event.action}' is not {EVENT_TYPE}")
        return Outcome("ignored")
    training_id = (event.client_payload or {}).get("training_id")
    if not isinstance(training_id, str) or not training_id:
        raise UsageError(f'client_payload.training_id: missing; send {{"training_id": "train-..."}} with {EVENT_TYPE}')
    with _history_dir(ctx, training_id) as directory:
        record = read_record(directory, training_id)
        files = run_files(directory, training_id)
    commit = GitHubClient(ctx.connection).commit_files(files, commit_message(record))
    io.log(f"{training_id}: " + (f"committed as {commit}" if commit else "already in the repository; nothing to do"))
    io.add_summary(_summary(ctx, record, commit))
    return _outcome(record)


@contextmanager
def _history_dir(ctx: ActionContext, training_id: str) -> Iterator[Path]:
    """Where the run's history files are: MLOPS_HISTORY_DIR, or (aws) a scratch copy of them from S3."""
    if ctx.settings.backend != "aws":
        yield ctx.settings.history_dir
        return
    from mlops.action.aws import AwsParts
    from mlops.action.aws_history import S3HistoryFiles

    parts = AwsParts(ctx.settings.aws)
    bucket = parts.require(ctx.settings.aws.bucket, "MLOPS_BUCKET", "the artifact bucket")
    with tempfile.TemporaryDirectory(prefix="mlops-history-") as scratch:
        yield S3HistoryFiles(parts.clients.client("s3"), bucket, Path(scratch)).fetch_run(training_id)


def _outcome(record: dict[str, Any]) -> Outcome:
    model = record.get("model") or {}
    status = record.get("status") if record.get("status") in ("succeeded", "failed") else "failed"
    version = None if model.get("rolled_back_to") else model.get("version")
    return Outcome(str(status), record.get("training_id"), (record.get("request") or {}).get("model_id"), version)


def _summary(ctx: ActionContext, record: dict[str, Any], commit: str | None) -> str:
    path = f"{HISTORY_PATH}/{record.get('training_id')}.md"
    links = links_line({"report": ctx.file_url("blob", commit or "HEAD", path), "Actions run": ctx.run_url})
    done = f"committed in {code(commit[:12])}" if commit else "already in the repository (nothing to commit)"
    return job_summary(f"History of `{record.get('training_id')}`", f"{record.get('status')}; {done}", links)
