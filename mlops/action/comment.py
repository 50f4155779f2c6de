"""`comment`: someone wrote `/mlops <command>` on an issue.

Reactions: 👀 (eyes) as soon as the command is read; then 🚀 (rocket) when it started or resumed a run, 👍 (+1)
when it was answered without training (status, help, abort), 👎 (-1) when it was refused (no write access, bad
overrides, nothing to act on), 😕 (confused) for a command that does not exist. A reply carries a marker with
the id of the comment it answers, so a redelivered comment edits its reply instead of posting another.

Commands that change a run (retrain, abort, approve) need write, maintain or admin permission, read through the
API (never from `author_association`). Comments by bots, edited comments, comments on pull requests and
comments without a command are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from mlops.action.context import ActionContext
from mlops.action.event import IssueCommentEvent, load_event
from mlops.action.outcome import Outcome
from mlops.action.status import status_marker
from mlops.backends.local.issue_runs import IssueRun, IssueRuns
from mlops.commands import Command, find_command_line, help_text, parse_command
from mlops.errors import InvalidRequest, UsageError
from mlops.github.actions_io import ActionsIO
from mlops.github.client import WRITE_ROLES, GitHubClient, IssueData
from mlops.pipeline.models import RunState
from mlops.report import code, escape

RUN_CHANGING = ("retrain", "abort", "approve")


def run(ctx: ActionContext, io: ActionsIO) -> Outcome:
    event = load_event(ctx.event_path, ctx.event_name, "issue_comment", IssueCommentEvent)
    reason = _not_a_command(event)
    if reason:
        io.log(f"ignored: {reason}")
        return Outcome("ignored")
    answer = Answer(ctx, io, GitHubClient(ctx.connection), event)
    answer.react("eyes")
    try:
        command = parse_command(event.comment.body or "")
    except InvalidRequest as exc:
        return answer.refuse(exc.problems, "confused", show_help=True)
    if command.name in RUN_CHANGING and not answer.may_change_runs():
        return answer.refuse(
            [f"{command.name}: needs write, maintain or admin permission on this repository; nothing changed"],
            "-1",
        )
    return _handler(command.name, ctx.settings.backend)(answer, command)


def _not_a_command(event: IssueCommentEvent) -> str | None:
    if event.action != "created":
        return f"issue_comment.{event.action}: only new comments are read"
    if event.comment.user.is_bot or event.sender.is_bot:
        return f"a comment by the bot {event.comment.user.login}"
    if event.issue.pull_request is not None:
        return "a comment on a pull request"
    if find_command_line(event.comment.body or "") is None:
        return "no /mlops command in the comment"
    return None


@dataclass
class Answer:
    """One command comment being answered: its replies and reactions, and the issue's run."""

    ctx: ActionContext
    io: ActionsIO
    gh: GitHubClient
    event: IssueCommentEvent

    @property
    def number(self) -> int:
        return self.event.issue.number

    @property
    def commenter(self) -> str:
        return self.event.comment.user.login

    @property
    def issue(self) -> IssueData:
        issue = self.event.issue
        return IssueData(issue.number, issue.title, issue.body or "", issue.user.login, issue.html_url, ())

    @cached_property
    def runs(self) -> IssueRuns:
        return IssueRuns(self.ctx.settings.db_path)

    def react(self, content: str) -> None:
        self.gh.react(self.number, self.event.comment.id, content)

    def reply(self, text: str) -> None:
        marker = self.reply_marker
        line = find_command_line(self.event.comment.body or "") or ""
        self.gh.upsert_comment(self.number, marker, f"{marker}\n> {code(line, 200)}\n\n{text}\n")

    def refuse(
        self,
        problems: list[str],
        reaction: str,
        *,
        show_help: bool = False,
        status: str = "ignored",
        training_id: str | None = None,
    ) -> Outcome:
        """Answer with what is wrong; the run (if any) is left as it was."""
        listed = "\n".join(f"- {escape(problem, 500)}" for problem in problems)
        self.reply(listed + (f"\n\nThe commands:\n{help_text()}" if show_help else ""))
        self.react(reaction)
        for problem in problems:
            self.io.warning(problem, title=f"/mlops comment by {self.commenter}")
        if training_id is None and self.ctx.settings.backend == "local":
            claim = self.claim()
            training_id = claim.training_id if claim else None
        return Outcome(status, training_id)

    @property
    def reply_marker(self) -> str:
        return f"<!-- mlops:reply to={self.event.comment.id} -->"

    def may_change_runs(self) -> bool:
        role = self.gh.role(self.commenter)
        self.io.log(f"{self.commenter} has the role '{role}' on {self.ctx.repository}")
        return role in WRITE_ROLES

    def claim(self) -> IssueRun | None:
        return self.runs.find(self.ctx.repository, self.number)

    def first_time(self) -> bool:
        """True once per comment, whichever job asks first: a command never changes a run twice."""
        return self.runs.first_notice(self.ctx.repository, self.number, self._notice)

    def acted_on_before(self) -> bool:
        return self.runs.has_notice(self.ctx.repository, self.number, self._notice)

    @property
    def _notice(self) -> str:
        return f"comment:{self.event.comment.id}"

    def load_run(self, training_id: str) -> tuple[RunState, str | None] | None:
        """The run and the state it continues at; None while the job that claimed the issue is creating it."""
        from mlops.backends.local.runs_db import SqliteRunStore

        try:
            return SqliteRunStore(self.ctx.settings.db_path).load(training_id)
        except UsageError:
            return None


def _help(answer: Answer, command: Command) -> Outcome:
    answer.reply(f"The commands:\n{help_text()}")
    answer.react("+1")
    return Outcome("ignored")


def _status(answer: Answer, command: Command) -> Outcome:
    claim = answer.claim()
    if claim is None:
        text, outcome = "This issue has no training run.", Outcome("ignored")
    elif claim.state == "awaiting_approval":
        text = f"Run {code(claim.training_id)} waits for someone with write access to answer `/mlops approve`."
        outcome = Outcome("awaiting_approval", claim.training_id)
    elif (loaded := answer.load_run(claim.training_id)) is None:
        text, outcome = f"Run {code(claim.training_id)} is starting.", Outcome("started", claim.training_id)
    else:
        text, outcome = _describe(answer, *loaded), _run_outcome(loaded[0])
    answer.reply(text)
    answer.react("+1")
    return outcome


def _describe(answer: Answer, run: RunState, next_state: str | None) -> str:
    from mlops.report import status_lines

    lines = status_lines(run, run.request.report_lang or answer.ctx.settings.report_lang)
    head = f"Run {code(run.training_id)}" + (f" (next step: {escape(next_state)})" if run.status == "running" else "")
    status = answer.gh.find_comment(answer.number, status_marker(run.training_id))
    links = [f"[status comment]({status.url})"] if status else []
    if answer.ctx.run_url:
        links.append(f"[this Actions run]({answer.ctx.run_url})")
    return "\n".join([f"{head}: {lines[0]}", *lines[1:], "", " · ".join(links)]).rstrip()


def _run_outcome(run: RunState) -> Outcome:
    status = "started" if run.status == "running" else run.status
    version = run.registered.version if run.registered and not run.rolled_back_to else None
    return Outcome(status, run.training_id, run.request.model_id, version, answers_query=True)


def _handler(name: str, backend: str) -> Callable[[Answer, Command], Outcome]:
    if backend == "aws" and name != "help":  # the run is a Step Functions execution; its state is in AWS
        from mlops.action import aws_comment

        return aws_comment.HANDLERS[name]
    if name in RUN_CHANGING:  # these may train: their module (and the engine) only loads for them
        from mlops.action import operator

        return operator.HANDLERS[name]
    return {"help": _help, "status": _status}[name]
