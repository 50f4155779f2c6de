"""The action's parts on their own: webhook payloads, the status comment's size limit, Actions I/O, the claim."""

from __future__ import annotations

import io
import multiprocessing
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from action_harness import PAYLOADS, REPO, parse_outputs

from mlops.action.context import ActionContext
from mlops.action.event import (
    IssueCommentEvent,
    IssuesEvent,
    RepositoryDispatchEvent,
    WorkflowDispatchEvent,
    load_event,
)
from mlops.action.status import MAX_COMMENT, StatusView, render_status
from mlops.backends.local.issue_runs import IssueRun, IssueRuns
from mlops.errors import UsageError
from mlops.github.actions_io import ActionsIO
from mlops.pipeline.models import Event, RunState, utcnow
from mlops.request import validate_request

MODELS = {
    "issues": IssuesEvent,
    "issue_comment": IssueCommentEvent,
    "repository_dispatch": RepositoryDispatchEvent,
    "workflow_dispatch": WorkflowDispatchEvent,
}


@pytest.mark.parametrize("path", sorted(PAYLOADS.glob("*/*.json")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_example_delivery_of_github_reads_as_its_event(path: Path) -> None:
    event = load_event(path, path.parent.name, path.parent.name, MODELS[path.parent.name])
    if isinstance(event, IssuesEvent | IssueCommentEvent):
        assert event.issue.number == 1 and event.issue.user.login == "Codertocat"
    if isinstance(event, RepositoryDispatchEvent):
        assert event.action == "on-demand-test" and event.client_payload == {"unit": False, "integration": True}
    if isinstance(event, WorkflowDispatchEvent):
        assert event.inputs == {"name": "Mona the Octocat"}


def test_a_delivery_for_another_mode_is_refused_with_what_fits(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="'issue_comment' does not fit this mode; it handles 'issues'"):
        load_event(PAYLOADS / "issue_comment" / "created.payload.json", "issue_comment", "issues", IssuesEvent)
    broken = tmp_path / "event.json"
    broken.write_text('{"action": "opened"}')
    with pytest.raises(UsageError, match=r"does not hold an 'issues' delivery \(issue: Field required\)"):
        load_event(broken, "issues", "issues", IssuesEvent)


def long_run() -> RunState:
    request = validate_request(
        {
            "learning_type": "supervised",
            "algorithm": "random_forest",
            "dataset_id": "iris",
            "evaluation_threshold": 0.9,
            "model_id": "iris-classifier",
            "task": "classification",
        }
    )
    run = RunState(training_id="train-20250101-000000-0000abcd", request=request, status="failed")
    run.events = [Event(at=utcnow(), state="Train", message="x" * 400) for _ in range(400)]
    return run


def test_the_final_status_comment_fits_githubs_limit_and_links_the_whole_report() -> None:
    run = long_run()
    report = "# Report\n" + "\n".join(f"- line {i} " + "y" * 200 for i in range(1000))  # about 210,000 characters
    url = "https://github.com/o/r/blob/abc/training_history/train-20250101-000000-0000abcd.md"
    view = StatusView(run.training_id, "failed", run.request, run=run, report=report, report_url=url)

    body = render_status(view)

    assert len(report) > MAX_COMMENT and len(body) <= MAX_COMMENT
    assert body.endswith("</details>\n") and f"the whole report: {url}" in body
    assert "- line 0 " in body  # the report's beginning is kept, cut at a line's end
    kept = body.split("<summary>Report</summary>\n\n", 1)[1]
    assert all(line.startswith(("- line", "# Report", "", "…", "</details>")) for line in kept.splitlines())


def test_a_short_report_is_shown_whole() -> None:
    run = long_run()
    view = StatusView(run.training_id, "failed", run.request, run=run, report="# Report\nall of it\n")
    assert "# Report\nall of it\n" in render_status(view) and "cut to fit" not in render_status(view)


def test_outputs_survive_any_value_and_annotations_stay_one_line(tmp_path: Path) -> None:
    output, summary, log = tmp_path / "output", tmp_path / "summary.md", io.StringIO()
    actions = ActionsIO(output, summary, log)

    actions.set_output("status", "succeeded")
    actions.set_output("tricky", "two\nlines with ghadelimiter_ and = and <<")
    actions.set_output("empty", None)
    actions.add_summary("## One")
    actions.add_summary("## Two")
    actions.error("dataset_id: 100% wrong\nsecond line", title="invalid: request, really")
    actions.mask("s3cr3t")

    assert parse_outputs(output.read_text()) == {
        "status": "succeeded",
        "tricky": "two\nlines with ghadelimiter_ and = and <<",
        "empty": "",
    }
    assert summary.read_text() == "## One\n\n## Two\n\n"
    assert log.getvalue().splitlines() == [
        "::error title=invalid%3A request%2C really::dataset_id: 100%25 wrong%0Asecond line",
        "::add-mask::s3cr3t",
    ]


def _claim(db: str, training_id: str, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    runs = IssueRuns(Path(db))
    claim, won = runs.claim(IssueRun("o/r", 7, training_id, "digest", "started"))
    results.put((training_id, claim.training_id, won))


def test_one_claim_per_issue_holds_across_processes(tmp_path: Path) -> None:
    """Eight deliveries of one issue, each its own process on one MLOPS_HOME: exactly one wins."""
    results: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    processes = [
        multiprocessing.Process(target=_claim, args=(str(tmp_path / "mlops.db"), f"train-{i}", results))
        for i in range(8)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    answers = [results.get(timeout=10) for _ in processes]

    winners = [mine for mine, held, won in answers if won]
    assert len(winners) == 1
    assert {held for _, held, _ in answers} == set(winners)  # every loser sees the winner's run


def test_missing_environment_is_named_variable_by_variable() -> None:
    with pytest.raises(UsageError) as caught:
        ActionContext.from_env({"GITHUB_EVENT_NAME": "issues", "GITHUB_REPOSITORY": "o/r"})
    assert [p.split(":")[0] for p in caught.value.problems] == ["GITHUB_EVENT_PATH", "GITHUB_TOKEN"]
    with pytest.raises(UsageError, match="'just-a-name' is not owner/name"):
        ActionContext.from_env(
            {
                "GITHUB_EVENT_NAME": "e",
                "GITHUB_EVENT_PATH": "p",
                "GITHUB_REPOSITORY": "just-a-name",
                "GITHUB_TOKEN": "t",
            }
        )


ACTION_ENV = {"GITHUB_EVENT_NAME": "issues", "GITHUB_EVENT_PATH": "p", "GITHUB_REPOSITORY": "o/r", "GITHUB_TOKEN": "t"}
BAD_GITHUB_SETTINGS = [
    ("MLOPS_GITHUB_RETRIES", "inf", "MLOPS_GITHUB_RETRIES: 'inf' is not a number"),
    ("MLOPS_GITHUB_RETRIES", ".nan", "MLOPS_GITHUB_RETRIES: must be a finite number (got '.nan')"),
    ("MLOPS_GITHUB_RETRIES", "1_000", "MLOPS_GITHUB_RETRIES: '1_000' is not a number; write it without underscores"),
    ("MLOPS_GITHUB_RETRIES", "2.5", "MLOPS_GITHUB_RETRIES: '2.5' is not a whole number; write one such as 5"),
    ("MLOPS_GITHUB_RETRIES", "21", "MLOPS_GITHUB_RETRIES: must be at most 20 (got '21')"),
    ("MLOPS_GITHUB_RETRIES", "-1", "MLOPS_GITHUB_RETRIES: must not be negative (got '-1')"),
    ("MLOPS_GITHUB_BACKOFF", "nan", "MLOPS_GITHUB_BACKOFF: 'nan' is not a number"),
    (
        "MLOPS_GITHUB_BACKOFF",
        "1e400",
        "MLOPS_GITHUB_BACKOFF: '1e400' is too large for a number (the largest is about 1.8e308)",
    ),
    ("MLOPS_GITHUB_BACKOFF", "61", "MLOPS_GITHUB_BACKOFF: must be at most 60 seconds (got '61')"),
    ("MLOPS_GITHUB_MAX_RATE_WAIT", ".inf", "MLOPS_GITHUB_MAX_RATE_WAIT: must be a finite number (got '.inf')"),
    ("MLOPS_GITHUB_MAX_RATE_WAIT", "1e9", "MLOPS_GITHUB_MAX_RATE_WAIT: must be at most 3600 seconds (got '1e9')"),
]


@pytest.mark.parametrize(("variable", "value", "problem"), BAD_GITHUB_SETTINGS)
def test_a_bad_github_setting_is_refused_by_the_one_scalar_reader(variable: str, value: str, problem: str) -> None:
    with pytest.raises(UsageError) as refused:
        ActionContext.from_env({**ACTION_ENV, variable: value})
    assert str(refused.value) == problem


def test_github_settings_are_read_like_every_other_number() -> None:
    env = {"MLOPS_GITHUB_RETRIES": "0x3", "MLOPS_GITHUB_BACKOFF": "5e-1", "MLOPS_GITHUB_MAX_RATE_WAIT": "0"}
    connection = ActionContext.from_env({**ACTION_ENV, **env}).connection
    assert (connection.retries, connection.backoff, connection.max_rate_wait) == (3, 0.5, 0.0)


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["deploy"], {}, "usage: python -m mlops.action {start|comment|record|rollback}"),
        (["start"], {}, "GITHUB_EVENT_PATH: not set"),
        (["start"], {"MLOPS_BACKEND": "sagemaker"}, "MLOPS_BACKEND: 'sagemaker' is not a backend; use local"),
        (["start"], {"MLOPS_GITHUB_RETRIES": "inf"}, "MLOPS_GITHUB_RETRIES: 'inf' is not a number"),
        (["comment"], {"MLOPS_GITHUB_BACKOFF": "1e400"}, "MLOPS_GITHUB_BACKOFF: '1e400' is too large for a number"),
    ],
)
def test_the_action_fails_with_annotations_never_a_traceback(
    args: list[str], env: dict[str, str], expected: str
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLOPS_"))}
    if env:
        environment.update(
            GITHUB_EVENT_NAME="issues",
            GITHUB_EVENT_PATH="/nonexistent",
            GITHUB_REPOSITORY="o/r",
            GITHUB_TOKEN="t",
            **env,
        )
    done = subprocess.run(
        [sys.executable, "-m", "mlops.action", *args], env=environment, cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert any(line.startswith("::error title=mlops::") and expected in line for line in done.stdout.splitlines()), done


def test_an_unreachable_api_is_one_problem_naming_the_url() -> None:
    from mlops.errors import GitHubError
    from mlops.github.client import Connection, GitHubClient

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    client = GitHubClient(Connection(token="t", api_url=url, repository="o/r", retries=0))

    with pytest.raises(GitHubError) as caught:
        client.labels(1)

    (problem,) = caught.value.problems
    assert problem.startswith("GitHub API: reading the labels of issue #1: cannot reach " + url), problem
