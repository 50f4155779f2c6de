"""`start`: an issue labelled `mlops:train` was opened, labelled or edited.

Validate its request; an invalid one gets the problem list. A valid one claims the issue's one run (whatever the
deliveries: GitHub sends `opened` and `labeled` for one form, and redelivers), then starts at once when the
issue's author may write to the repository, or waits for a writer's `/mlops approve`. A redelivery changes
nothing; an edit after the run started starts nothing and says so, once per edit. With backend aws the run is a
Step Functions execution, started by mlops/action/aws_start.py.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from mlops.action import labels
from mlops.action.context import ActionContext
from mlops.action.event import IssuesEvent, load_event
from mlops.action.outcome import Outcome
from mlops.action.status import StatusComment, StatusView
from mlops.action.summary import job_summary, links_line, request_table
from mlops.action.validation import mark_valid, report_invalid, request_digest, validate_issue
from mlops.errors import InvalidRequest
from mlops.github.actions_io import ActionsIO
from mlops.github.client import WRITE_ROLES, GitHubClient, IssueData
from mlops.pipeline.models import new_training_id
from mlops.report import code
from mlops.request import TrainingRequest

if TYPE_CHECKING:  # the local engine's modules load only for the local backend
    from mlops.action.engine import LocalEngine
    from mlops.backends.local.issue_runs import IssueRun, IssueRuns

ACTIONS = ("opened", "labeled", "edited", "reopened")


def run(ctx: ActionContext, io: ActionsIO) -> Outcome:
    event = load_event(ctx.event_path, ctx.event_name, "issues", IssuesEvent)
    reason = _not_a_request(event)
    if reason:
        io.log(f"ignored: {reason}")
        return Outcome("ignored")
    issue = event.issue
    data = IssueData(issue.number, issue.title, issue.body or "", issue.user.login, issue.html_url, ())
    if ctx.settings.backend == "aws":  # the run happens in Step Functions; this job only starts it
        from mlops.action.aws_start import AwsIssueStart

        return AwsIssueStart(ctx, io, GitHubClient(ctx.connection), data).handle()
    from mlops.backends.local.issue_runs import IssueRuns

    return IssueStart(ctx, io, GitHubClient(ctx.connection), IssueRuns(ctx.settings.db_path), data).handle()


def _not_a_request(event: IssuesEvent) -> str | None:
    if event.action not in ACTIONS:
        return f"issues.{event.action} does not start runs"
    if labels.TRIGGER not in event.issue.label_names:
        return f"issue #{event.issue.number} is not labelled {labels.TRIGGER}"
    if event.action == "labeled" and event.label is not None and event.label.name != labels.TRIGGER:
        return f"the label added was {event.label.name}, not {labels.TRIGGER}"
    if event.issue.state != "open":
        return f"issue #{event.issue.number} is closed"
    return None


class IssueStart:
    def __init__(self, ctx: ActionContext, io: ActionsIO, gh: GitHubClient, runs: IssueRuns, issue: IssueData):
        self.ctx, self.io, self.gh, self.runs, self.issue = ctx, io, gh, runs, issue

    def handle(self) -> Outcome:
        known = self.runs.find(self.ctx.repository, self.issue.number)
        try:
            request = validate_issue(self.ctx, self.issue)
        except InvalidRequest as exc:
            if known is not None and known.state == "started":
                return self._edit_ignored(known, "the edited request does not validate")
            return report_invalid(self.ctx, self.io, self.gh, self.issue, exc.problems)
        digest = request_digest(self.ctx.repository, self.issue.number, request)
        if known is not None:
            return self._known(known, digest, request)
        return self._claim(request, digest)

    def _claim(self, request: TrainingRequest, digest: str) -> Outcome:
        from mlops.backends.local.issue_runs import IssueRun

        mark_valid(self.gh, self.issue.number)
        writer = self.gh.role(self.issue.author) in WRITE_ROLES
        wanted = IssueRun(
            self.ctx.repository,
            self.issue.number,
            new_training_id(),
            digest,
            "started" if writer else "awaiting_approval",
        )
        claim, won = self.runs.claim(wanted)
        if not won:
            return self._known(claim, digest, request)
        if not writer:
            return self._await_approval(claim, request)
        return self._engine().start(claim.training_id, request)

    def _known(self, known: IssueRun, digest: str, request: TrainingRequest) -> Outcome:
        """The issue has its run already: a redelivery, an edit while it awaits approval, or an edit too late."""
        if known.request_digest == digest:
            if known.state == "started":  # a job re-run after this run was interrupted continues it
                continued = self._engine().continue_interrupted(known.training_id)
                if continued is not None:
                    return continued
            self.io.log(f"issue #{self.issue.number} already has run {known.training_id} for this request")
            return Outcome("ignored", known.training_id, request.model_id)
        if known.state == "awaiting_approval" and self.runs.revise(self.ctx.repository, self.issue.number, digest):
            mark_valid(self.gh, self.issue.number)
            return self._await_approval(known, request)
        return self._edit_ignored(known, "the request changed")

    def _engine(self) -> LocalEngine:
        from mlops.action.engine import LocalEngine

        return LocalEngine(self.ctx, self.io, self.gh, self.issue)

    def _await_approval(self, claim: IssueRun, request: TrainingRequest) -> Outcome:
        view = StatusView(
            claim.training_id, "awaiting_approval", request, run_url=self.ctx.run_url, author=self.issue.author
        )
        status = StatusComment(self.gh, self.issue.number, view)
        status.show("awaiting_approval")
        links = links_line({"issue": self.issue.url, "status comment": status.url, "Actions run": self.ctx.run_url})
        outcome = f"waiting for `/mlops approve` from someone with write access ({self.issue.author} has none)"
        self.io.add_summary(
            job_summary(f"Training request #{self.issue.number}", outcome, request_table(request), links)
        )
        return Outcome("awaiting_approval", claim.training_id, request.model_id)

    def _edit_ignored(self, known: IssueRun, what: str) -> Outcome:
        """Say once per edit (not once per delivery of it) that an edit after the start changes nothing."""
        edit = hashlib.sha256(f"{self.issue.title}\n{self.issue.body}".encode()).hexdigest()
        if self.runs.first_notice(self.ctx.repository, self.issue.number, f"edit:{edit}"):
            self.gh.comment(
                self.issue.number,
                f"<!-- mlops:edit-ignored edit={edit[:16]} -->\nThis issue's run {code(known.training_id)} started "
                f"from the request as it was then; {what}, but edits after the start change nothing and start "
                "nothing. To train with other settings, open a new issue, or answer `/mlops retrain key=value` "
                "while the run waits for an operator.\n",
            )
        self.io.log(f"ignored: issue #{self.issue.number} already started run {known.training_id}; {what}")
        return Outcome("ignored", known.training_id)
