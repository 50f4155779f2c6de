"""`rollback` with backend aws: the rollback goes through the SageMaker Model Registry (the version rolled away
from is Rejected, the target Approved: current = the newest Approved package), is recorded in the history in
`history/` of MLOPS_BUCKET (and its audit copy in MLOPS_AUDIT_BUCKET), and its files are copied back from there
for the commit, so the repository gets the same bytes the bucket holds."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from mlops.action.aws import AwsParts, registry_and_history
from mlops.action.aws_history import S3HistoryFiles
from mlops.action.context import ActionContext
from mlops.action.history_commit import record_files


def roll_back(
    ctx: ActionContext, model_id: str, version: str | None, actor: str, reason: str
) -> tuple[dict[str, Any], str, dict[str, bytes]]:
    """(the rollback record, its id, its files for the commit)."""
    parts = AwsParts(ctx.settings.aws)
    registry, history = registry_and_history(parts, ctx.settings)
    record = registry.rollback(model_id, version, actor=actor, reason=reason)
    record_id = history.record_rollback(record, lang=ctx.settings.report_lang).stem
    with tempfile.TemporaryDirectory(prefix="mlops-rollback-") as scratch:
        S3HistoryFiles(parts.clients.client("s3"), str(ctx.settings.aws.bucket), Path(scratch)).fetch_record(record_id)
        return record, record_id, record_files(Path(scratch), record_id)
