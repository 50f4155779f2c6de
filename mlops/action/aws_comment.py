"""`/mlops` commands with backend aws, once comment.py has read the command (and, for the commands that change a
run, confirmed the commenter's write access through the API).

retrain / abort: the paused run's task token is read from the run table (item `issue#<owner/repo>#<n>`/`token`,
kept there by the AwaitOperator Lambda, never in a comment) and answered with SendTaskSuccess, whose output becomes
`$.answer` for ApplyOperatorAnswer: the operator's decision (action, overrides, actor, reason). A retrain's
overrides are validated against the paused run's request first; invalid ones send nothing and the run stays
paused. A token Step Functions no longer knows (the wait timed out, someone answered first) is said plainly.
approve: starts the request that waits for approval, as its body reads now, like `start` (aws_start.py).
status: the run as the run table has it.

A comment is acted on once: its reply (marked with the comment's id) shows it was answered, so a redelivery
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from mlops.action.aws import AwsParts
from mlops.action.aws_start import AwsIssueStart
from mlops.action.comment import Answer, _describe, _run_outcome
from mlops.action.outcome import Outcome
from mlops.action.status import STATUS_PREFIX, awaits_approval, marked_training_id
from mlops.action.validation import validate_issue
from mlops.backends.aws.dynamodb_runs import DynamoRunStore
from mlops.commands import Command
from mlops.errors import InvalidRequest, RunStateError
from mlops.pipeline.models import OperatorDecision, RunState
from mlops.report import code
from mlops.request import TrainingRequest


def _answered_before(answer: Answer) -> bool:
    if answer.gh.find_comment(answer.number, answer.reply_marker) is None:
        return False
    answer.io.log(f"comment {answer.event.comment.id} was answered before: nothing to do")
    return True


def _decide(action: Literal["retrain", "abort"]) -> Callable[[Answer, Command], Outcome]:
    def handle(answer: Answer, command: Command) -> Outcome:
        if _answered_before(answer):
            return Outcome("ignored")
        aws = AwsParts(answer.ctx.settings.aws)
        runs = aws.runs()
        waiting = runs.get_token(answer.ctx.repository, answer.number)
        if waiting is None:
            return answer.refuse([f"{action}: no run of this issue waits for an operator"], "-1")
        decision = OperatorDecision(
            action=action, overrides=command.overrides, reason=command.reason, actor=answer.commenter
        )
        return _send(answer, aws, runs, waiting, decision)

    return handle


def _send(
    answer: Answer, aws: AwsParts, runs: DynamoRunStore, waiting: tuple[str, str], decision: OperatorDecision
) -> Outcome:
    """Answer the paused run's token with the decision, once its overrides validate; the run stays paused else."""
    token, training_id = waiting
    problems = _override_problems(answer, runs, training_id, decision)
    if problems:
        return answer.refuse(problems, "-1", status="awaiting_operator", training_id=training_id)
    try:
        aws.tasks().answer(token, decision.model_dump(mode="json"))
    except RunStateError as exc:
        problems = [f"{decision.action}: run {training_id}: {problem}" for problem in exc.problems]
        return answer.refuse(problems, "-1", training_id=training_id)
    return _resumed(answer, training_id, decision)


def _override_problems(
    answer: Answer, runs: DynamoRunStore, training_id: str, decision: OperatorDecision
) -> list[str]:
    """A retrain's overrides checked like a request (ApplyOperatorAnswer applies them the same way)."""
    if decision.action != "retrain":
        return []
    try:
        _paused_request(answer, runs, training_id).with_overrides(decision.overrides)
    except InvalidRequest as exc:
        return exc.problems
    return []


def _paused_request(answer: Answer, runs: DynamoRunStore, training_id: str) -> TrainingRequest:
    """The paused run's request as its last checkpoint has it; the issue's request when the table has no
    document of the run (the overrides are then checked against the request as the issue reads now)."""
    found = _document(runs, training_id)
    return found[0].request if found else validate_issue(answer.ctx, answer.gh.issue(answer.number))


def _document(runs: DynamoRunStore, training_id: str) -> tuple[RunState, str | None] | None:
    """The run's document and next state from its item (GetItem only: `load` would list every run to suggest a
    near name when there is none)."""
    item = runs.table.get(f"run#{training_id}", "run")
    if item is None:
        return None
    return RunState.model_validate_json(item["document"]), item.get("next_state") or None


def _resumed(answer: Answer, training_id: str, decision: OperatorDecision) -> Outcome:
    if decision.action == "retrain":
        what = f"retrains with {code(decision.overrides) if decision.overrides else 'the same settings'}"
    else:
        what = "ends (aborted" + (f": {decision.reason}" if decision.reason else "") + ")"
    answer.reply(f"Run {code(training_id)} {what}; its status comment follows it.")
    answer.react("rocket" if decision.action == "retrain" else "+1")
    answer.io.log(f"{answer.commenter} answered run {training_id}: {decision.action}")
    return Outcome("started", training_id)


def _approve(answer: Answer, command: Command) -> Outcome:
    """Start the request that waits for approval, as the issue's body reads now (read again through the API)."""
    if _answered_before(answer):
        return Outcome("ignored")
    status = answer.gh.find_comment(answer.number, STATUS_PREFIX)
    if status is None or not awaits_approval(status.body):
        what = "its run has started already" if status else "this issue has no valid request"
        return answer.refuse([f"approve: nothing waits for approval ({what})"], "-1")
    issue = answer.gh.issue(answer.number)
    try:
        request = validate_issue(answer.ctx, issue)
    except InvalidRequest as exc:
        problems = [f"approve: the request does not validate as it reads now: {p}" for p in exc.problems]
        return answer.refuse(problems, "-1")
    training_id = marked_training_id(status.body) or ""
    outcome = AwsIssueStart(answer.ctx, answer.io, answer.gh, issue).start(training_id, request)
    if outcome.status == "started":
        answer.reply(f"{answer.commenter} approved; run {code(outcome.training_id)} started.")
    else:  # approved a moment ago by someone else: the one execution is theirs
        answer.reply(f"Run {code(outcome.training_id)} had been approved and started already.")
    answer.react("rocket")
    return outcome


def _status(answer: Answer, command: Command) -> Outcome:
    status = answer.gh.find_comment(answer.number, STATUS_PREFIX)
    training_id = marked_training_id(status.body) if status else None
    if status is None or training_id is None:
        text, outcome = "This issue has no training run.", Outcome("ignored")
    elif awaits_approval(status.body):
        text = f"Run {code(training_id)} waits for someone with write access to answer `/mlops approve`."
        outcome = Outcome("awaiting_approval", training_id)
    else:
        text, outcome = _from_run_table(answer, training_id)
    answer.reply(text)
    answer.react("+1")
    return outcome


def _from_run_table(answer: Answer, training_id: str) -> tuple[str, Outcome]:
    runs = AwsParts(answer.ctx.settings.aws).runs()
    found = _document(runs, training_id)
    if found is None:  # no item (a run started before the Lambdas kept one, run_record.py): what the token says
        return _without_document(answer, runs, training_id)
    return _describe(answer, *found), _run_outcome(found[0])


def _without_document(answer: Answer, runs: DynamoRunStore, training_id: str) -> tuple[str, Outcome]:
    waiting = runs.get_token(answer.ctx.repository, answer.number)
    if waiting is not None and waiting[1] == training_id:
        text = f"Run {code(training_id)} waits for an operator: `/mlops retrain key=value` or `/mlops abort`."
        return text, Outcome("awaiting_operator", training_id, answers_query=True)
    return f"Run {code(training_id)} has started; its status comment follows it.", Outcome("started", training_id)


HANDLERS: dict[str, Callable[[Answer, Command], Outcome]] = {
    "retrain": _decide("retrain"),
    "abort": _decide("abort"),
    "approve": _approve,
    "status": _status,
}


