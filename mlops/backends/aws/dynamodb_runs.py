"""The RunStore port on DynamoDB, with the issue's one active run and the paused run's task token.

A run is one item (`run#<training_id>`/`run`): its document as JSON text, the state it resumes at, and whether
it has ended. Creating a run for an issue also claims `issue#<owner/repo>#<n>`/`active` in the same transaction,
on the condition that no other run holds it, so two deliveries of one request can never start two runs; the
checkpoint that ends the run releases the claim in the same transaction as it writes the document.

Size: a DynamoDB item holds at most 400 KB, and a Step Functions payload (which the run document also is on AWS)
at most 256 KiB. So a document over 256 KiB is refused with RunStateError: it could not flow between states
anyway, and the bound keeps every run item well under DynamoDB's limit.

`claim` is a lease (owner and expiry in the item, taken by one conditional update): on AWS a run is executed by
Step Functions, and the lease only keeps a stray second executor (a manual resume, say) off a live run.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mlops.backends.aws.dynamodb_table import NEW_ITEM, Table, key, put_action
from mlops.errors import AwsConflict, RunStateError, UsageError
from mlops.pipeline.models import RunState, utcnow
from mlops.suggest import did_you_mean

if TYPE_CHECKING:
    from mlops.ports import RunStore

MAX_DOCUMENT_BYTES = 256 * 1024  # Step Functions' payload limit
LEASE_SECONDS = 900  # a Lambda runs at most 15 minutes
TAKEABLE = "attribute_exists(pk) AND (attribute_not_exists(run_owner) OR run_owner = :me OR lease_until < :now)"
RELEASE_IF_OURS = "attribute_not_exists(pk) OR training_id = :tid"


def issue_key(repository: str, issue: int) -> str:
    return f"issue#{repository}#{issue}"


class DynamoRunStore:
    def __init__(self, table: Table, owner: str | None = None, clock: Any = time.time) -> None:
        self.table = table
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.clock = clock

    # --- runs ------------------------------------------------------------------------------------------

    def create(self, run: RunState, next_state: str) -> None:
        actions = [put_action(self._item(run, next_state, created=utcnow().isoformat()), NEW_ITEM)]
        claim = _issue_of(run)
        if claim:
            active = {"pk": claim, "sk": "active", "training_id": run.training_id}
            actions.append(put_action(active, NEW_ITEM))
        try:
            self.table.transact(*actions)
        except AwsConflict:
            raise RunStateError(self._refusal(run, claim)) from None

    def _refusal(self, run: RunState, claim: str | None) -> str:
        holder = self.table.get(claim, "active") if claim else None
        if holder and holder["training_id"] != run.training_id:
            return f"issue: {claim} already has an active run, {holder['training_id']}; answer or end it first"
        return f"training_id: a run {run.training_id} exists already"

    def checkpoint(self, run: RunState, next_state: str | None) -> None:
        update = self._document_update(run, next_state)
        claim = _issue_of(run)
        if next_state is None and claim:  # the run ended: the issue may start another
            release = {"Key": key(claim, "active"), "ConditionExpression": RELEASE_IF_OURS,
                       "ExpressionAttributeValues": {":tid": {"S": run.training_id}}}
            self.table.transact({"Update": update}, {"Delete": release})
        else:
            self.table.transact({"Update": update})

    def _document_update(self, run: RunState, next_state: str | None) -> dict[str, Any]:
        values = {":doc": {"S": _document(run)}, ":status": {"S": run.status}, ":ended": {"BOOL": next_state is None},
                  ":now": {"S": utcnow().isoformat()}, ":next": {"S": next_state or ""}}
        return {
            "Key": key(f"run#{run.training_id}", "run"), "ConditionExpression": "attribute_exists(pk)",
            "UpdateExpression": "SET document = :doc, run_status = :status, ended = :ended, "
            "updated_at = :now, next_state = :next",
            "ExpressionAttributeValues": values,
        }

    def load(self, training_id: str) -> tuple[RunState, str | None]:
        item = self.table.get(f"run#{training_id}", "run")
        if item is None:
            known = [known_id for known_id, _ in self.outline()]
            raise UsageError(f"training_id: no run '{training_id}'{did_you_mean(training_id, known)}")
        return RunState.model_validate_json(item["document"]), item["next_state"] or None

    def runs(self) -> Iterator[RunState]:
        return (RunState.model_validate_json(item["document"]) for item in self.table.query_runs())

    def outline(self) -> list[tuple[str, bool]]:
        """(training_id, whether the run has ended) of every run, oldest first."""
        return [(item["training_id"], bool(item["ended"])) for item in self.table.query_runs()]

    def _item(self, run: RunState, next_state: str, created: str) -> dict[str, Any]:
        return {
            "pk": f"run#{run.training_id}", "sk": "run", "kind": "run", "created": f"{created}#{run.training_id}",
            "training_id": run.training_id, "document": _document(run), "run_status": run.status,
            "next_state": next_state, "ended": False, "updated_at": created,
        }

    # --- the executor's lease --------------------------------------------------------------------------

    def claim(self, training_id: str) -> None:
        """Hold the run for LEASE_SECONDS; refuse while another owner's lease runs."""
        now = int(self.clock())
        values = {":me": self.owner, ":until": now + LEASE_SECONDS, ":now": now}
        try:
            self.table.update(f"run#{training_id}", "run", "SET run_owner = :me, lease_until = :until", TAKEABLE,
                              values)
        except AwsConflict:
            message = f"training_id: run {training_id} is held by another executor, or does not exist"
            raise RunStateError(message) from None

    def release(self, training_id: str) -> None:
        with contextlib.suppress(AwsConflict):  # not ours (any more): nothing to release
            self.table.update(f"run#{training_id}", "run", "REMOVE run_owner, lease_until", "run_owner = :me",
                              {":me": self.owner})

    # --- the operator's task token ---------------------------------------------------------------------

    def put_token(self, repository: str, issue: int, token: str, training_id: str) -> None:
        """Keep the paused run's task token, keyed by repository and issue (a newer pause replaces it)."""
        item = {"pk": issue_key(repository, issue), "sk": "token", "task_token": token, "training_id": training_id}
        self.table.put(item)

    def get_token(self, repository: str, issue: int) -> tuple[str, str] | None:
        """(task token, training id) of the issue's paused run, or None when nothing waits for an answer."""
        item = self.table.get(issue_key(repository, issue), "token")
        return (item["task_token"], item["training_id"]) if item else None

    def delete_token(self, repository: str, issue: int, token: str) -> None:
        """Forget the token once answered; a newer token (the run paused again meanwhile) stays."""
        with contextlib.suppress(AwsConflict):
            self.table.delete(issue_key(repository, issue), "token", "task_token = :token", {":token": token})


def _issue_of(run: RunState) -> str | None:
    if run.issue.repository and run.issue.number is not None:
        return issue_key(run.issue.repository, run.issue.number)
    return None


def _document(run: RunState) -> str:
    text = run.model_dump_json()
    if len(text.encode()) > MAX_DOCUMENT_BYTES:
        raise RunStateError(
            f"run {run.training_id}: its document is {len(text.encode())} bytes, over the 256 KiB a Step Functions "
            "state can pass on; keep large outputs in the artifact store and put their keys in the document"
        )
    return text


if TYPE_CHECKING:  # mypy proves the store fits the port

    def _fits_the_port(store: DynamoRunStore) -> RunStore:
        return store
