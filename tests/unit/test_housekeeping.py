"""Old runs that have ended give up their training outputs; recent runs and unfinished ones keep them."""

from __future__ import annotations

from pathlib import Path

from mlops.backends.local.housekeeping import prune_run_outputs
from mlops.backends.local.runs_db import SqliteRunStore
from mlops.backends.local.store import LocalArtifactStore
from mlops.pipeline.models import RunState
from mlops.request import validate_request

REQUEST = {
    "learning_type": "supervised",
    "algorithm": "random_forest",
    "dataset_id": "iris",
    "evaluation_threshold": 0.8,
}


def add_run(runs: SqliteRunStore, store: LocalArtifactStore, number: int, next_state: str | None) -> str:
    """A run with a try's model under runs/<id>/; next_state None means it has ended."""
    training_id = f"train-20261201-0000{number:02d}-abcd"
    run = RunState(training_id=training_id, request=validate_request(REQUEST))
    runs.create(run, "PrepareData")
    runs.checkpoint(run, next_state)
    store.put_bytes(f"runs/{training_id}/attempt-1/try-1-000000/model/model.skops", b"weights")
    return training_id


def test_ended_runs_beyond_the_newest_keep_lose_their_outputs_and_the_rest_keep_them(tmp_path: Path) -> None:
    # GIVEN five runs, oldest first: ended, paused (awaiting an operator), ended, killed in Train, ended
    runs, store = SqliteRunStore(tmp_path / "mlops.db"), LocalArtifactStore(tmp_path / "store")
    states = [None, "OperatorChoice", None, "Train", None]
    ids = [add_run(runs, store, n, state) for n, state in enumerate(states)]
    # WHEN outputs are pruned keeping the newest two runs
    pruned = prune_run_outputs(runs, store, keep=2)
    # THEN the two old ended runs lost theirs; the paused and the killed run keep theirs, as do the newest two
    assert pruned == [ids[0], ids[2]]
    kept = {training_id for training_id in ids if store.list(f"runs/{training_id}/")}
    assert kept == {ids[1], ids[3], ids[4]}
    # AND pruning again finds nothing more to do
    assert prune_run_outputs(runs, store, keep=2) == []


def test_nothing_is_pruned_while_there_are_no_more_runs_than_kept(tmp_path: Path) -> None:
    runs, store = SqliteRunStore(tmp_path / "mlops.db"), LocalArtifactStore(tmp_path / "store")
    ids = [add_run(runs, store, n, None) for n in range(3)]
    assert prune_run_outputs(runs, store, keep=3) == []
    assert all(store.list(f"runs/{training_id}/") for training_id in ids)
