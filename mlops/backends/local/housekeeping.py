"""Housekeeping of the local engine: the training outputs of old runs.

Every training try writes its model and outputs under `store/runs/<training_id>/`. Once a run has ended they
are only a record: a registered model was copied to `models/<model_id>/<version>/`, and the report and plots are
in the history. The newest MLOPS_KEEP_RUNS runs keep them, to look into; older runs that have ended lose them.
A run that has not ended (paused, or killed and not resumed yet) keeps them whatever its age: it needs them to
go on. On AWS an S3 lifecycle rule on the `runs/` prefix does this job.
"""

from __future__ import annotations

from mlops.ports import ArtifactStore, RunStore


def prune_run_outputs(runs: RunStore, store: ArtifactStore, keep: int) -> list[str]:
    """Delete the training outputs of ended runs older than the newest `keep` runs; returns whose went."""
    outline = runs.outline()
    older = outline[: max(0, len(outline) - keep)]
    doomed = [training_id for training_id, ended in older if ended and store.list(f"runs/{training_id}/")]
    for training_id in doomed:
        store.delete_prefix(f"runs/{training_id}")
    return doomed
