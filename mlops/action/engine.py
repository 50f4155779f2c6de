"""The local engine inside the job: start or resume an issue's run, follow it in the status comment, and when it
ends (not at a pause) commit its history in one commit, label the issue and write the job summary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from mlops.action import labels
from mlops.action.context import HISTORY_PATH, ActionContext
from mlops.action.history_commit import commit_message, read_record, run_files
from mlops.action.outcome import Outcome
from mlops.action.status import StatusComment, StatusView
from mlops.action.summary import job_summary, links_line, request_table
from mlops.errors import GitHubError, RunStateError, UsageError
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
        run = RunState(training_id=training_id, request=request, issue=self._issue_ref(), source=self.issue.url)
        status = self._status_comment(run, "validated")
        services = self._services(status, worker)
        try:
            # The run exists (and is ours) before anything is shown: a delivery of the same request in another job
            # finds it, and a job re-run after this one failed continues it.
            services.runs.create(run, services.runner.flow.start)
            status.show("validated")
            labels.set_status_label(self.gh, self.issue.number, labels.RUNNING)
            return self._walk(services, status, lambda runner: runner.resume(training_id))
        finally:
            services.close()
            if worker is not None:
                worker.close()  # a no-op once the run took it

    def resume(self, run: RunState, decision: OperatorDecision | None) -> Outcome:
        """Continue a paused run with an operator's decision, or an interrupted run from its last finished step.

        RunStateError, before anything changes, while another job executes the run or when it cannot continue;
        InvalidRequest (the run stays paused) when a retrain's overrides do not validate."""
        status = self._status_comment(run, "awaiting_operator" if decision else "training")
        services = self._services(status, None)
        try:
            services.runs.claim(run.training_id)  # ours from here on (the runner takes the same claim again)
            run, next_state = services.runs.load(run.training_id)
            if next_state is None:
                raise RunStateError(f"training_id: run {run.training_id} already {run.status}; nothing to continue")
            if decision is not None and run.status != "awaiting_operator":
                raise RunStateError(f"training_id: run {run.training_id} is not waiting for an operator ({run.status})")
            status.view = replace(status.view, run=run)
            if decision is None or decision.action == "retrain":
                labels.set_status_label(self.gh, self.issue.number, labels.RUNNING)
            return self._walk(services, status, lambda runner: runner.resume(run.training_id, decision))
        finally:
            services.close()

    def continue_interrupted(self, training_id: str) -> Outcome | None:
        """Continue the run if it stopped mid-way (its job failed or was cancelled, the runner restarted); None when
        it is paused, ended, not created yet, or being executed by another job."""
        from mlops.backends.local.runs_db import SqliteRunStore

        try:
            run, next_state = SqliteRunStore(self.ctx.settings.db_path).load(training_id)
        except UsageError:
            return None  # the job that claimed the issue is creating it this moment
        if run.status != "running" or next_state is None:
            return None
        try:
            return self.resume(run, None)
        except RunStateError as exc:
            self.io.log(f"run {training_id} is not continued here: {exc}")
            return None

    def _services(self, status: StatusComment, worker: Any) -> Any:
        from mlops.services import build_services

        return build_services(
            self.ctx.settings,
            progress=self.io.log,
            on_step=status.follow(lambda text: self.io.warning(text)),
            writes_history=True,
            standby=worker,
        )

    def _walk(self, services: Any, status: StatusComment, walk: Callable[[Any], RunState]) -> Outcome:
        run = walk(services.runner)
        outcome = self._finish(status, run)
        services.tidy()
        return outcome

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
            message = commit_message(read_record(directory, run.training_id))
            commit = self.gh.commit_files(run_files(directory, run.training_id), message)
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

    def _status_comment(self, run: RunState, stage: str) -> StatusComment:
        lang = self.ctx.settings.report_lang
        view = StatusView(run.training_id, stage, run.request, run_url=self.ctx.run_url, run=run, lang=lang)
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
        from mlops.report import status_lines

        outcome = status_lines(run, run.request.report_lang or self.ctx.settings.report_lang)[0]
        return job_summary(f"MLOps run `{run.training_id}`", outcome, request_table(run.request), links)
