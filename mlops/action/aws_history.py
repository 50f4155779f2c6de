"""The history as the AWS engine keeps it: `history/` in MLOPS_BUCKET mirrors the repository's
`training_history/` exactly (same names, same bytes; the Publish Lambda writes it). The action copies one run's
files (or one rollback's) into a scratch directory and commits them from there with history_commit.py, so a
commit from AWS is the same commit as one from the local engine.

Reads only: GetObject on `history/*`, and for a failed run that had registered a version ListObjectsV2 of
`history/rollback-<model_id>-` (the automatic rollback its failed verification recorded, committed with it).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from mlops.action.history_commit import automatic_rollbacks, read_record
from mlops.backends.aws.clients import aws_call
from mlops.errors import AwsNotFound, UsageError
from mlops.history import SAFE_NAME

PREFIX = "history/"


class S3HistoryFiles:
    def __init__(self, s3: Any, bucket: str, scratch: Path) -> None:
        self.s3, self.bucket, self.scratch = s3, bucket, scratch

    def fetch_run(self, training_id: str) -> Path:
        """The run's files and its automatic rollbacks', in the scratch directory (returned)."""
        record = self.fetch_record(training_id)
        model = record.get("model") or {}
        if record.get("status") == "failed" and model.get("version"):  # only a failed Verify rolls back
            for key in self._keys(f"{PREFIX}rollback-{model.get('model_id')}-"):
                if key.endswith(".json"):
                    self._download(key.removeprefix(PREFIX))
            for rollback_id in automatic_rollbacks(self.scratch, record):
                self.fetch_record(rollback_id)
        return self.scratch

    def fetch_record(self, record_id: str) -> dict[str, Any]:
        """One record (`train-...` or `rollback-...`): its JSON twin, its report and the plots it names."""
        if not SAFE_NAME.match(record_id) or ".." in record_id:
            raise UsageError(f"training_id: '{record_id[:80]}' is not a training id")
        try:
            self._download(f"{record_id}.json")
        except AwsNotFound:
            raise UsageError(
                f"training_id: no history record {record_id} in s3://{self.bucket}/{PREFIX} (MLOPS_BUCKET); "
                "has its run published (its PublishSucceeded or PublishFailed step)?"
            ) from None
        record = read_record(self.scratch, record_id)
        for name in [str(record.get("markdown")), *(record.get("plots_sha256") or {})]:
            self._download(name)
        return record

    def _download(self, name: str) -> None:
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise UsageError(f"history: a record names the file '{name}' outside the history directory")
        with aws_call(f"reading s3://{self.bucket}/{PREFIX}{name}"):
            body = self.s3.get_object(Bucket=self.bucket, Key=f"{PREFIX}{name}")["Body"].read()
        path = self.scratch / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        with aws_call(f"listing s3://{self.bucket}/{prefix}"):
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

