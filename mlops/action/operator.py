"""The commands that change a run, once the commenter's write access is confirmed: retrain or abort a paused
run (it resumes in this job), and approve a request that waits for approval (its run starts in this job).

Each comment changes a run at most once, however often GitHub delivers it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from mlops.action.comment import Answer
from mlops.action.engine import LocalEngine
from mlops.action.outcome import Outcome
from mlops.action.validation import mark_valid, request_digest, validate_issue
from mlops.commands import Command
from mlops.errors import InvalidRequest, RunStateError
from mlops.github.client import IssueData
from mlops.pipeline.models import OperatorDecision, RunState


def _issue_run(answer: Answer) -> RunState | None:
    claim = answer.claim()
    loaded = answer.load_run(claim.training_id) if claim is not None and claim.state == "started" else None
    return loaded[0] if loaded else None


def _decide(action: Literal["retrain", "abort"]) -> Callable[[Answer, Command], Outcome]:
    def handle(answer: Answer, command: Command) -> Outcome:
        run = _issue_run(answer)
        if run is not None and answer.acted_on_before():
            return _redelivered(answer, run.training_id)
        if run is None or run.status != "awaiting_operator":
            what = f"run {run.training_id} is {run.status.replace('_', ' ')}" if run else "it has no run"
            return answer.refuse([f"{action}: no run of this issue waits for an operator ({what})"], "-1")
        decision = OperatorDecision(
            action=action, overrides=command.overrides, reason=command.reason, actor=answer.commenter
        )
        try:
            if action == "retrain":
                run.request.with_overrides(decision.overrides)  # validated like a request before anything moves
        except InvalidRequest as exc:
            return answer.refuse(exc.problems, "-1", status="awaiting_operator")
        return _resume(answer, run, decision)

    return handle


def _redelivered(answer: Answer, training_id: str) -> Outcome:
    """This comment was acted on before: a redelivery, or the job run again. Never act twice; but a run the first
    job left mid-way (it failed, was cancelled, the runner restarted) is continued."""
    continued = _engine(answer, answer.issue).continue_interrupted(training_id)
    if continued is not None:
        return continued
    answer.io.log(f"comment {answer.event.comment.id} was acted on before: nothing to do")
    return Outcome("ignored", training_id)


def _resume(answer: Answer, run: RunState, decision: OperatorDecision) -> Outcome:
    if not answer.first_time():
        return Outcome("ignored", run.training_id)  # the same comment, delivered twice at the same moment
    answer.react("rocket" if decision.action == "retrain" else "+1")
    try:
        return _engine(answer, answer.issue).resume(run, decision)
    except RunStateError as exc:  # another job is executing it right now, say
        return answer.refuse(exc.problems, "-1", status="awaiting_operator")


def _engine(answer: Answer, issue: IssueData) -> LocalEngine:
    return LocalEngine(answer.ctx, answer.io, answer.gh, issue)


def _approve(answer: Answer, command: Command) -> Outcome:
    """Start the issue's request that waits for approval, as its body reads now (read again through the API)."""
    claim = answer.claim()
    if claim is not None and claim.state == "started" and answer.acted_on_before():
        return _redelivered(answer, claim.training_id)
    if claim is None or claim.state != "awaiting_approval":
        what = f"run {claim.training_id} has started already" if claim else "this issue has no valid request"
        return answer.refuse([f"approve: nothing waits for approval ({what})"], "-1")
    issue = answer.gh.issue(answer.number)
    try:
        request = validate_issue(answer.ctx, issue)
    except InvalidRequest as exc:
        return answer.refuse(
            [f"approve: the request does not validate as it reads now: {p}" for p in exc.problems], "-1"
        )
    digest = request_digest(answer.ctx.repository, answer.number, request)
    if not answer.runs.approve(answer.ctx.repository, answer.number, digest):
        return answer.refuse(["approve: nothing waits for approval (someone approved it a moment ago)"], "-1")
    answer.first_time()  # this comment started the run: delivered again, it only continues it
    answer.react("rocket")
    answer.io.log(f"{answer.commenter} approved run {claim.training_id}")
    mark_valid(answer.gh, answer.number)
    return _engine(answer, issue).start(claim.training_id, request)


HANDLERS: dict[str, Callable[[Answer, Command], Outcome]] = {
    "retrain": _decide("retrain"),
    "abort": _decide("abort"),
    "approve": _approve,
}
