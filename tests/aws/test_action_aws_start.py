"""`python -m mlops.action start` with MLOPS_BACKEND=aws: the request is validated in the job, then its one Step
Functions execution is started on a moto server (the committed state machine definition), whatever the
deliveries, with no AWS call but StartExecution and DescribeExecution. GitHub is the loopback fake, replaying
GitHub's own example deliveries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops.pipeline.asl import execution_name
from mlops.pipeline.models import RunState
from tests.aws.action_on_aws import (
    ACTION_KEY,
    ActionRunner,
    FakeGitHub,
    IssueSpec,
    MotoServer,
    aws_env,
    create_state_machine,
    execution_input,
    executions,
    form_body,
    moto_server,
    substituted_definition,
)

ALLOWED = {"states:StartExecution", "states:DescribeExecution"}


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


@pytest.fixture
def machine(moto: MotoServer) -> str:
    moto.reset()
    return create_state_machine(moto, substituted_definition())


@pytest.fixture
def action(tmp_path: Path) -> Iterator[ActionRunner]:
    with FakeGitHub() as fake:
        yield ActionRunner(tmp_path, fake)
    assert not fake.problems, "requests GitHub's REST API description does not allow:\n" + "\n".join(fake.problems)


def test_one_request_delivered_four_times_starts_one_execution_with_one_arn(
    action: ActionRunner, moto: MotoServer, machine: str
) -> None:
    env = aws_env(moto, machine)
    spec = action.open_issue(IssueSpec(number=21))

    # WHEN GitHub delivers the form's `opened` and `labeled` at the same moment (two jobs), then redelivers both
    racing = [action.start("start", "issues", spec.delivery(kind), **env) for kind in ("opened", "labeled")]
    first, second = (job.wait() for job in racing)
    again = [action.issue(spec, kind, **env) for kind in ("opened", "labeled")]

    # THEN one execution exists, named by the request, and every job answers with its ARN
    (execution,) = executions(moto, machine)
    results = [first, second, *again]
    assert all(result.returncode == 0 for result in results), results
    assert {result.outputs["execution-arn"] for result in results} == {execution["executionArn"]}
    assert sorted(result.outputs["status"] for result in results).count("started") == 1, results
    assert {result.outputs["status"] for result in results} == {"started", "ignored"}
    assert len({result.outputs["training-id"] for result in results}) == 1

    # THE execution's name is the request's, and its input the run document the pipeline starts from
    document = execution_input(moto, execution["executionArn"])
    run = RunState.model_validate(document)
    assert execution["name"] == execution_name(action.fake.repository, 21, run.request.model_dump(mode="json"))
    assert run.training_id == first.outputs["training-id"]
    assert run.issue.repository == action.fake.repository and run.issue.number == 21
    assert run.request.algorithm == "random_forest" and run.request.dataset_id == "iris"

    # THE issue: labelled running, one status comment naming the run
    assert sorted(action.fake.labels(21)) == ["mlops:running", "mlops:train"]
    status = action.status_comment(21)
    assert f"training_id={run.training_id}" in status and "validated" in status
    assert "started" in next(r for r in results if r.outputs["status"] == "started").summary

    # AND the jobs called nothing on AWS but StartExecution and DescribeExecution
    made = moto.recorder.by(ACTION_KEY)
    assert made.count("states:StartExecution") == 4 and set(made) <= ALLOWED, made


def test_an_invalid_request_fails_the_job_and_calls_nothing_on_aws(
    action: ActionRunner, moto: MotoServer, machine: str
) -> None:
    spec = action.open_issue(IssueSpec(number=22, body=form_body(hyperparameters="max_depth: 0", threshold="high")))

    result = action.issue(spec, "opened", **aws_env(moto, machine))

    assert result.returncode == 1 and result.outputs["status"] == "invalid", result
    assert result.outputs["execution-arn"] == ""
    assert len(result.errors) == 2, result
    (problems,) = action.bot_comments(22)
    assert "max_depth" in problems["body"] and "evaluation_threshold" in problems["body"]
    assert sorted(action.fake.labels(22)) == ["mlops:invalid", "mlops:train"]
    assert executions(moto, machine) == [] and moto.recorder.by(ACTION_KEY) == []


def test_an_edit_after_the_start_starts_nothing_and_says_so_once(
    action: ActionRunner, moto: MotoServer, machine: str
) -> None:
    env = aws_env(moto, machine)
    spec = action.open_issue(IssueSpec(number=23))
    started = action.issue(spec, "opened", **env)
    assert started.outputs["status"] == "started", started

    # WHEN the request is edited after its execution started, and the edit is delivered twice
    spec.body = form_body(hyperparameters="n_estimators: 50\nmax_depth: 3")
    action.fake.add_issue(23, title=spec.title, body=spec.body, author=spec.author, labels=spec.labels)
    edits = [action.issue(spec, "edited", **env) for _ in range(2)]

    # THEN no second execution; the jobs say the run started from the request as it was, in one comment
    assert [e.outputs["status"] for e in edits] == ["ignored", "ignored"], edits
    assert all(e.outputs["training-id"] == started.outputs["training-id"] for e in edits)
    assert len(executions(moto, machine)) == 1
    (notice,) = action.bot_comments(23, "<!-- mlops:edit-ignored")
    assert "edits after the start change nothing" in notice["body"]
    assert set(moto.recorder.by(ACTION_KEY)) <= ALLOWED


def test_a_request_by_someone_without_write_access_waits_for_approval_and_starts_nothing(
    action: ActionRunner, moto: MotoServer, machine: str
) -> None:
    action.fake.set_permission("drive-by", "read")
    spec = action.open_issue(IssueSpec(number=24, author="drive-by"))

    result = action.issue(spec, "opened", **aws_env(moto, machine))

    assert result.returncode == 0 and result.outputs["status"] == "awaiting_approval", result
    assert "waits for approval" in action.status_comment(24) and "/mlops approve" in action.status_comment(24)
    assert executions(moto, machine) == [] and moto.recorder.by(ACTION_KEY) == []


def test_without_the_state_machine_setting_the_job_says_which_input_is_missing(
    action: ActionRunner, moto: MotoServer, machine: str
) -> None:
    spec = action.open_issue(IssueSpec(number=25))

    result = action.issue(spec, "opened", **aws_env(moto, machine, MLOPS_STATE_MACHINE_ARN=""))

    assert result.returncode == 1, result
    assert any("MLOPS_STATE_MACHINE_ARN: not set" in error for error in result.errors), result
    assert executions(moto, machine) == []


def test_starting_on_aws_imports_no_ml_package(action: ActionRunner, moto: MotoServer, machine: str) -> None:
    """The -aws jobs install the package without its train extra: starting must not need it (nor the SageMaker
    SDK, which the AWS engine never uses)."""
    from test_imports import IMPORTTIME, heavy_imports

    spec = action.open_issue(IssueSpec(number=26))

    result = action.run("start", "issues", spec.delivery("opened"), python=IMPORTTIME, **aws_env(moto, machine))

    assert result.returncode == 0 and result.outputs["status"] == "started", result
    assert "boto3" in result.stderr  # the log does list what was imported
    assert heavy_imports(result.stderr) == []


def test_a_writer_s_approval_starts_the_waiting_request_once(
    action: ActionRunner, moto: MotoServer, machine: str
) -> None:
    env = aws_env(moto, machine)
    action.fake.set_permission("drive-by", "read")
    spec = action.open_issue(IssueSpec(number=27, author="drive-by"))
    waiting = action.issue(spec, "opened", **env)
    assert waiting.outputs["status"] == "awaiting_approval", waiting

    # WHEN the author approves their own request, then a writer approves it (and GitHub delivers that twice)
    refused = action.comment(spec, "/mlops approve", author="drive-by", **env)
    approval = action.comment_delivery(spec, "/mlops approve", "Codertocat")
    approved = action.run("comment", "issue_comment", approval, **env)
    again = action.run("comment", "issue_comment", approval, **env)

    # THEN only the writer's approval starts it, once, as the run the waiting status comment named
    assert refused.outputs["status"] == "ignored", refused
    assert approved.returncode == 0 and approved.outputs["status"] == "started", approved
    assert approved.outputs["training-id"] == waiting.outputs["training-id"]
    assert again.outputs["status"] == "ignored", again
    (execution,) = executions(moto, machine)
    assert approved.outputs["execution-arn"] == execution["executionArn"]
    assert sorted(action.fake.labels(27)) == ["mlops:running", "mlops:train"]
    assert "validated" in action.status_comment(27)
    assert set(moto.recorder.by(ACTION_KEY)) <= ALLOWED
