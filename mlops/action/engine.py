"""The local engine inside the job: start or resume an issue's run, follow it in the status comment, and when it
ends (not at a pause) commit its history in one commit, label the issue and write the job summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlops.action import labels
from mlops.action.context import HISTORY_PATH, ActionContext
from mlops.action.history_commit import run_files
from mlops.action.outcome import Outcome
from mlops.action.status import StatusComment, StatusView
from mlops.action.summary import job_summary, links_line, request_table
from mlops.errors import GitHubError
from mlops.github.actions_io import ActionsIO
from mlops.github.client import GitHubClient, IssueData
from mlops.pipeline.models import IssueRef, OperatorDecision, RunState
from mlops.request import TrainingRequest

FINAL_LABELS = {"succeeded": labels.SUCCEEDED, "failed": labels.FAILED}


@dataclass
class LocalEngine:
    ctx: ActionContext
    io: ActionsIO
    gh: GitHubClient
    issue: IssueData

    def start(self, training_id: str, request: TrainingRequest) -> Outcome:
        """Run a new request from its first step, as far as it goes in this job."""
        worker = self._training_worker()  # boots on the other core while we talk to GitHub
        try:
            status = self._status_comment(training_id, request, "validated")
            status.show("validated")
            labels.set_status_label(self.gh, self.issue.number, labels.RUNNING)
            run = RunState(training_id=training_id, request=request, issue=self._issue_ref(), source=self.issue.url)
            return self._walk(status, lambda runner: runner.start(run), worker)
        finally:
            if worker is not None:
                worker.close()  # a no-op once the run took it

    def resume(self, run: RunState, decision: OperatorDecision) -> Outcome:
        """Continue a paused run with an operator's decision (InvalidRequest, and the run stays paused, when the
        overrides do not validate)."""
        status = self._status_comment(run.training_id, run.request, "awaiting_operator", run)
        return self._walk(status, lambda runner: runner.resume(run.training_id, decision), None)

    def _walk(self, status: StatusComment, walk: Any, worker: Any) -> Outcome:
        from mlops.services import build_services

        services = build_services(
            self.ctx.settings,
            progress=self.io.log,
            on_step=status.follow(lambda text: self.io.warning(text)),
            writes_history=True,
            standby=worker,
        )
        try:
            run = walk(services.runner)
            outcome = self._finish(status, run)
            services.tidy()
            return outcome
        finally:
            services.close()

    def _finish(self, status: StatusComment, run: RunState) -> Outcome:
        outcome = Outcome(
            "awaiting_operator" if run.status == "awaiting_operator" else run.status,
            run.training_id,
            run.request.model_id,
            run.registered.version if run.registered and not run.rolled_back_to else None,
        )
        if run.status == "awaiting_operator":
            status.show("awaiting_operator", run=run)
            labels.set_status_label(self.gh, self.issue.number, labels.AWAITING_OPERATOR)
        else:
            self._record(status, run)
            labels.set_status_label(self.gh, self.issue.number, FINAL_LABELS[run.status])
        self.io.add_summary(self._summary(run, status.url))
        return outcome

    def _record(self, status: StatusComment, run: RunState) -> None:
        """One commit with the run's history, then the final status comment, which links it."""
        from mlops.history import HistoryLog

        directory = self.ctx.settings.history_dir
        report = (directory / f"{run.training_id}.md").read_text(encoding="utf-8")
        final = {"run": run, "report": report, "head": HistoryLog(directory).head()}
        try:
            commit = self.gh.commit_files(run_files(directory, run.training_id), commit_message(run))
        except GitHubError as exc:
            status.show(run.status, **final, note=f"the history commit failed; run `record` again: {exc}")
            raise
        ref = commit or "HEAD"  # None: the default branch had these files already
        status.show(
            run.status,
            **final,
            report_url=self.ctx.file_url("blob", ref, f"{HISTORY_PATH}/{run.training_id}.md"),
            plots_url=self.ctx.file_url("raw", ref, HISTORY_PATH),
        )

    def _status_comment(
        self, training_id: str, request: TrainingRequest, stage: str, run: RunState | None = None
    ) -> StatusComment:
        view = StatusView(training_id, stage, request, run_url=self.ctx.run_url, run=run)
        return StatusComment(self.gh, self.issue.number, view)

    def _issue_ref(self) -> IssueRef:
        issue = self.issue
        return IssueRef(
            repository=self.ctx.repository, number=issue.number, title=issue.title, url=issue.url, author=issue.author
        )

    def _training_worker(self) -> Any:
        settings = self.ctx.settings
        if settings.train_command:
            return None
        from mlops.backends.local.processes import TrainingWorker

        return TrainingWorker()

    def _summary(self, run: RunState, status_url: str | None) -> str:
        links = links_line({"issue": self.issue.url, "status comment": status_url, "Actions run": self.ctx.run_url})
        return job_summary(f"MLOps run `{run.training_id}`", _outcome_text(run), request_table(run.request), links)


def commit_message(run: RunState) -> str:
    version = f" {run.registered.version}" if run.registered else ""
    return f"mlops: record {run.training_id} ({run.status}{version})"


def _outcome_text(run: RunState) -> str:
    from mlops.report import status_lines

    return status_lines(run, run.request.report_lang or "ja")[0]
