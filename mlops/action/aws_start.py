"""`start` with backend aws: validate the issue's request in the job, then start its one Step Functions execution.

On AWS the job calls StartExecution and, for a request that started before, DescribeExecution: nothing else (no
listing, no DynamoDB), so its role can be that narrow. The execution's name is
`execution_name(repository, issue, request)`: every delivery of one request (`opened` and `labeled` for one form,
a redelivery, a job re-run) names the same execution, and Step Functions starts it once. The run's progress is
then the Lambdas' business (the status comment, the labels at the end, the history commit through `record`).

An edit after the run started names another execution: found by the issue's status comment (GitHub) and a
DescribeExecution of the edited request's name, it starts nothing and says so once per edit, as locally.
A request by someone without write access waits for a writer's `/mlops approve` (mlops/action/aws_comment.py).
"""

from __future__ import annotations

import hashlib

from mlops.action import labels
from mlops.action.aws import AwsParts, Prefetched, console_url
from mlops.action.context import ActionContext
from mlops.action.outcome import Outcome
from mlops.action.status import (
    STATUS_PREFIX,
    StatusComment,
    StatusView,
    awaits_approval,
    marked_training_id,
    status_marker,
)
from mlops.action.summary import job_summary, links_line, request_table
from mlops.action.validation import mark_valid, report_invalid, validate_issue
from mlops.errors import InvalidRequest
from mlops.github.actions_io import ActionsIO
from mlops.github.client import WRITE_ROLES, CommentData, GitHubClient, IssueData
from mlops.pipeline.asl import execution_name
from mlops.pipeline.models import IssueRef, RunState, new_training_id
from mlops.report import code
from mlops.request import TrainingRequest


class AwsIssueStart:
    def __init__(self, ctx: ActionContext, io: ActionsIO, gh: GitHubClient, issue: IssueData) -> None:
        self.ctx, self.io, self.gh, self.issue = ctx, io, gh, issue
        self.aws = AwsParts(ctx.settings.aws)
        # boto3 and the Step Functions client are made while the job talks to GitHub
        self.executions = Prefetched(self.aws.executions)

    def handle(self) -> Outcome:
        status = self.gh.find_comment(self.issue.number, STATUS_PREFIX)  # the issue's run, if it has one
        started = status if status is not None and not awaits_approval(status.body) else None
        try:
            request = validate_issue(self.ctx, self.issue)
        except InvalidRequest as exc:
            if started is not None:
                return self._edit_ignored(started, "the edited request does not validate")
            return report_invalid(self.ctx, self.io, self.gh, self.issue, exc.problems)
        if started is not None and not self.executions.get().exists(self.name(request)):
            return self._edit_ignored(started, "the request changed")
        training_id = (marked_training_id(status.body) if status else None) or new_training_id()
        if self.gh.role(self.issue.author) not in WRITE_ROLES:
            return self._await_approval(training_id, request)
        return self.start(training_id, request)

    def name(self, request: TrainingRequest) -> str:
        return execution_name(self.ctx.repository, self.issue.number, request.model_dump(mode="json"))

    def start(self, training_id: str, request: TrainingRequest) -> Outcome:
        """Start the request's execution (once, whatever the deliveries), show it, label the issue running."""
        run = RunState(training_id=training_id, request=request, issue=self._issue_ref(), source=self.issue.url)
        started = self.executions.get().start(self.name(request), run.model_dump(mode="json"))
        training_id = str(started.input.get("training_id") or training_id)  # a redelivery: the first one's id
        status = StatusComment(self.gh, self.issue.number, self._view(training_id, "validated", request))
        if started.new:
            self._show_started(status)
        else:
            self._repair(status, training_id)
        verb = "started" if started.new else "had started already"
        self.io.log(f"issue #{self.issue.number}: execution {started.execution_arn} {verb}")
        self.io.add_summary(self._summary(started.execution_arn, verb, request, status.url))
        state = "started" if started.new else "ignored"
        return Outcome(state, training_id, request.model_id, execution_arn=started.execution_arn)

    def _show_started(self, status: StatusComment) -> None:
        mark_valid(self.gh, self.issue.number)  # an earlier problem list says it is fixed
        status.show("validated")
        labels.set_status_label(self.gh, self.issue.number, labels.RUNNING)

    def _repair(self, status: StatusComment, training_id: str) -> None:
        """A redelivery: show what the first delivery may not have (its job died after the start), and leave what
        the run's Lambdas have moved on since (a later stage of the comment, another label) as it is."""
        if self.gh.find_comment(self.issue.number, status_marker(training_id)) is None:
            status.show("validated")
        if not set(self.gh.labels(self.issue.number)) & labels.STATUS_LABELS.keys():
            labels.set_status_label(self.gh, self.issue.number, labels.RUNNING)

    def _await_approval(self, training_id: str, request: TrainingRequest) -> Outcome:
        mark_valid(self.gh, self.issue.number)
        view = self._view(training_id, "awaiting_approval", request)
        status = StatusComment(self.gh, self.issue.number, view)
        status.show("awaiting_approval")
        links = links_line({"issue": self.issue.url, "status comment": status.url, "Actions run": self.ctx.run_url})
        outcome = f"waiting for `/mlops approve` from someone with write access ({self.issue.author} has none)"
        self.io.add_summary(
            job_summary(f"Training request #{self.issue.number}", outcome, request_table(request), links)
        )
        return Outcome("awaiting_approval", training_id, request.model_id)

    def _edit_ignored(self, status: CommentData, what: str) -> Outcome:
        """Say once per edit (its marker carries the edit's hash) that an edit after the start changes nothing."""
        training_id = marked_training_id(status.body) or "?"
        edit = hashlib.sha256(f"{self.issue.title}\n{self.issue.body}".encode()).hexdigest()
        marker = f"<!-- mlops:edit-ignored edit={edit[:16]} -->"
        self.gh.upsert_comment(
            self.issue.number,
            marker,
            f"{marker}\nThis issue's run {code(training_id)} started from the request as it was then; {what}, but "
            "edits after the start change nothing and start nothing. To train with other settings, open a new "
            "issue, or answer `/mlops retrain key=value` while the run waits for an operator.\n",
        )
        self.io.log(f"ignored: issue #{self.issue.number} already started run {training_id}; {what}")
        return Outcome("ignored", training_id)

    def _view(self, training_id: str, stage: str, request: TrainingRequest) -> StatusView:
        return StatusView(
            training_id,
            stage,
            request,
            run_url=self.ctx.run_url,
            author=self.issue.author,
            lang=self.ctx.settings.report_lang,
        )

    def _issue_ref(self) -> IssueRef:
        issue = self.issue
        return IssueRef(
            repository=self.ctx.repository, number=issue.number, title=issue.title, url=issue.url, author=issue.author
        )

    def _summary(self, arn: str, verb: str, request: TrainingRequest, status_url: str | None) -> str:
        links = links_line(
            {
                "issue": self.issue.url,
                "status comment": status_url,
                "execution": console_url(self.ctx.settings.aws.region, arn),
                "Actions run": self.ctx.run_url,
            }
        )
        outcome = f"the AWS Step Functions execution {verb}: {code(arn.rsplit(':', 1)[-1])}"
        return job_summary(f"Training request #{self.issue.number}", outcome, request_table(request), links)
