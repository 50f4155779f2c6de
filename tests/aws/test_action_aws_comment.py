"""`python -m mlops.action comment` with MLOPS_BACKEND=aws: a writer's `/mlops retrain` or `/mlops abort` resumes a
paused Step Functions execution with SendTaskSuccess, after the permission check, with the task token read from
the run table.

What is real here: the moto server runs the committed state machine in its interpreter (switched on through
/moto-api/config), from AwaitOperator on (`StartAt` moved there: moto cannot run the `.sync` training job that
comes before it); `lambda:invoke.waitForTaskToken` really pauses until the token is answered, and moto refuses a
spent token as AWS does; ApplyOperatorAnswer runs the project's real agent on what SendTaskSuccess delivered.
What the test plays itself: the Lambdas, in moto's Lambda backend. The AwaitOperator one keeps the token in the
run table keyed by repository and issue, as the AWS AwaitOperator Lambda does (mlops/backends/aws/operator_wait.py);
with `keeps_document` it also keeps the run document there, as the Lambdas do (mlops/backends/aws/run_record.py);
without, as for a run started before they did, the action checks a retrain against the issue's request and
`/mlops status` says the run waits. The others hand the document on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.awslambda_simple.models import LambdaSimpleBackend

from mlops.backends.aws.dynamodb_runs import DynamoRunStore
from mlops.backends.aws.dynamodb_table import Table
from mlops.pipeline import agents
from mlops.pipeline.models import Attempt, GateResult, IssueRef, RunState
from mlops.request import validate_request
from tests.aws.action_on_aws import (
    ACTION_KEY,
    RUN_TABLE,
    ActionResult,
    ActionRunner,
    FakeGitHub,
    IssueSpec,
    MotoServer,
    aws_env,
    create_run_table,
    create_state_machine,
    entered_states,
    moto_server,
    substituted_definition,
    wait_for,
)

NUMBER = 31


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


@pytest.fixture
def keeps_document() -> bool:
    return False


@pytest.fixture
def lambdas(moto: MotoServer, monkeypatch: pytest.MonkeyPatch, keeps_document: bool) -> list[RunState]:
    """The Lambdas, played in moto's Lambda backend; returns the documents ApplyOperatorAnswer produced."""
    applied: list[RunState] = []
    table = Table(moto.client("dynamodb"), RUN_TABLE)

    def invoke(self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response: Any) -> bytes:
        payload = json.loads(body)
        name = function_name.rsplit(":", 1)[-1]
        if name == "AwaitOperator":  # keeps the token keyed by repository and issue, never in a comment
            run = RunState.model_validate(payload["run"])
            store = DynamoRunStore(table)
            if keeps_document:
                store.create(run, "AwaitOperator")
            store.put_token(run.issue.repository or "", run.issue.number or 0, payload["task_token"], run.training_id)
            return body if isinstance(body, bytes) else str(body).encode()
        if name == "ApplyOperatorAnswer":  # the project's own agent, on what SendTaskSuccess delivered
            run = agents.apply_operator_answer(RunState.model_validate(payload), None)  # type: ignore[arg-type]
            applied.append(run)
            return run.model_dump_json().encode()
        return body if isinstance(body, bytes) else str(body).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    return applied


@pytest.fixture
def paused(moto: MotoServer, lambdas: list[RunState], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The committed state machine, paused at AwaitOperator for issue #31's run; returns the execution's ARN."""
    moto.reset()
    # the interpreter calls Lambda through the server it runs in, which it finds by MOTO_PORT
    monkeypatch.setenv("MOTO_PORT", moto.url.rsplit(":", 1)[-1])
    moto.configure({"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})
    create_run_table(moto)
    definition = json.loads(substituted_definition())
    definition["StartAt"] = "AwaitOperator"
    machine = create_state_machine(moto, json.dumps(definition))
    sfn = moto.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine, name="paused-31", input=paused_run().model_dump_json())[
        "executionArn"
    ]
    store = DynamoRunStore(Table(moto.client("dynamodb"), RUN_TABLE))
    assert wait_for(lambda: store.get_token("Codertocat/Hello-World", NUMBER)), "the execution never paused"
    moto.recorder.calls.clear()
    yield arn
    if sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":  # answer the token: moto cannot stop it
        token, _ = store.get_token("Codertocat/Hello-World", NUMBER) or ("", "")
        sfn.send_task_failure(taskToken=token, error="TestTeardown")


def paused_run() -> RunState:
    request = validate_request(
        {
            "learning_type": "supervised",
            "algorithm": "random_forest",
            "dataset_id": "iris",
            "hyperparameters": {"n_estimators": 5, "max_depth": 1},
            "evaluation_threshold": 0.99,
            "model_id": "iris-classifier",
        }
    )
    run = RunState(
        training_id="train-20261202-101010-0badcafe",
        request=request,
        issue=IssueRef(repository="Codertocat/Hello-World", number=NUMBER, url="https://github.com/x", author="x"),
        status="awaiting_operator",
    )
    first = Attempt(number=1, hyperparameters=request.effective_hyperparameters(), algorithm="random_forest")
    run.attempts.append(first)
    run.gate = GateResult(
        metric="accuracy", value=0.7, threshold=0.99, comparison=">=", passed=False, decision="retrain"
    )
    return run


@pytest.fixture
def action(tmp_path: Path) -> Iterator[ActionRunner]:
    with FakeGitHub() as fake:
        yield ActionRunner(tmp_path, fake)
    assert not fake.problems, "requests GitHub's REST API description does not allow:\n" + "\n".join(fake.problems)


def reply_to(action: ActionRunner, result: ActionResult) -> str:
    return str(action.bot_comments(NUMBER, "<!-- mlops:reply")[-1]["body"])


def status_of(moto: MotoServer, arn: str) -> str:
    return str(moto.client("stepfunctions").describe_execution(executionArn=arn)["status"])


def test_a_writer_s_retrain_resumes_the_paused_execution_and_nobody_else_s_does(
    action: ActionRunner, moto: MotoServer, paused: str, lambdas: list[RunState]
) -> None:
    env = aws_env(moto, paused.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0])
    spec = action.open_issue(IssueSpec(number=NUMBER))

    # WHEN someone without write access answers
    action.fake.set_permission("drive-by", "triage")
    refused = action.comment(spec, "/mlops retrain max_depth=3", author="drive-by", **env)

    # THEN they are refused before anything is read or sent on AWS, and the run stays paused
    assert refused.returncode == 0 and refused.outputs["status"] == "ignored", refused
    assert "needs write, maintain or admin permission" in reply_to(action, refused)
    assert moto.recorder.by(ACTION_KEY) == [] and status_of(moto, paused) == "RUNNING"

    # WHEN a writer answers with an override that does not validate
    action.fake.set_permission("lisa", "write")
    bad = action.comment(spec, "/mlops retrain max_depth=0", author="lisa", **env)

    # THEN the problem is answered, nothing is sent, and the run stays paused
    assert bad.returncode == 0 and bad.outputs["status"] == "awaiting_operator", bad
    assert "max_depth" in reply_to(action, bad)
    assert "states:SendTaskSuccess" not in moto.recorder.by(ACTION_KEY) and status_of(moto, paused) == "RUNNING"

    # WHEN the writer answers with a valid retrain, and GitHub delivers that comment twice
    delivery = action.comment_delivery(spec, "/mlops retrain max_depth=3", "lisa")
    answered = action.run("comment", "issue_comment", delivery, **env)
    again = action.run("comment", "issue_comment", delivery, **env)

    # THEN the execution resumes once, with the writer's decision as $.answer, into a new training attempt
    assert answered.returncode == 0 and answered.outputs["status"] == "started", answered
    assert answered.outputs["training-id"] == "train-20261202-101010-0badcafe"
    assert again.returncode == 0 and again.outputs["status"] == "ignored", again
    assert moto.recorder.by(ACTION_KEY).count("states:SendTaskSuccess") == 1, moto.recorder.by(ACTION_KEY)
    assert wait_for(lambda: "BuildTrainingJob" in entered_states(moto, paused))
    (applied,) = lambdas
    assert applied.operator is not None and applied.operator.action == "retrain"
    assert applied.operator.overrides == {"max_depth": 3} and applied.operator.actor == "lisa"
    assert len(applied.attempts) == 2 and applied.attempts[-1].hyperparameters["max_depth"] == 3
    assert entered_states(moto, paused)[:4] == ["AwaitOperator", "ApplyOperatorAnswer", "OperatorChoice",
                                                "BuildTrainingJob"]
    assert "retrains with" in reply_to(action, answered)

    # WHEN another writer answers the same pause later (its token is spent: Step Functions refuses it)
    late = action.comment(spec, "/mlops abort too late", **env)

    # THEN they are told the run no longer waits; the job does not fail, and the execution went on as before
    assert late.returncode == 0 and late.outputs["status"] == "ignored", late
    assert "no longer waiting for an answer" in reply_to(action, late)
    assert len(lambdas) == 1


@pytest.mark.parametrize("keeps_document", [False, True], ids=["token-only", "with-document"])
def test_status_reads_the_run_table_and_abort_ends_the_paused_run(
    action: ActionRunner, moto: MotoServer, paused: str, lambdas: list[RunState], keeps_document: bool
) -> None:
    env = aws_env(moto, paused.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0])
    spec = action.open_issue(IssueSpec(number=NUMBER))
    # the status comment the run's Lambdas keep (its marker names the run)
    action.post_comment(NUMBER, "<!-- mlops:status training_id=train-20261202-101010-0badcafe -->\n### ⏸️ paused")

    status = action.comment(spec, "/mlops status", **env)
    assert status.returncode == 0 and status.outputs["status"] == "awaiting_operator", status
    assert "train-20261202-101010-0badcafe" in reply_to(action, status)
    if keeps_document:  # the run's own status line, from its document
        assert "0.99" in reply_to(action, status) and "0.7000" in reply_to(action, status)  # threshold, accuracy
    else:
        assert "waits for an operator" in reply_to(action, status)

    aborted = action.comment(spec, "/mlops abort enough for today", **env)

    assert aborted.returncode == 0 and aborted.outputs["status"] == "started", aborted
    assert wait_for(lambda: status_of(moto, paused) != "RUNNING")
    assert "PublishFailed" in entered_states(moto, paused)
    assert "BuildTrainingJob" not in entered_states(moto, paused)
    (applied,) = lambdas
    assert applied.operator is not None and applied.operator.action == "abort"
    assert applied.operator.reason == "enough for today"
    made = moto.recorder.by(ACTION_KEY)  # the status query and the abort: table reads, and one answer
    assert made.count("states:SendTaskSuccess") == 1 and set(made) == {"dynamodb:GetItem", "states:SendTaskSuccess"}


@pytest.mark.parametrize("keeps_document", [True], ids=["with-document"])
def test_a_retrain_is_checked_against_the_run_s_request_not_the_issue_s(
    action: ActionRunner, moto: MotoServer, paused: str, lambdas: list[RunState], keeps_document: bool
) -> None:
    env = aws_env(moto, paused.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0])
    # GIVEN an issue whose body no longer holds a valid request, while its paused run's document has one
    spec = action.open_issue(IssueSpec(number=NUMBER, body="(the form was deleted)"))
    action.fake.set_permission("lisa", "write")
    # WHEN a writer retrains with a valid override
    answered = action.comment(spec, "/mlops retrain max_depth=3", author="lisa", **env)
    # THEN the override is checked against the run's request from the run table, and the run resumes
    assert answered.returncode == 0 and answered.outputs["status"] == "started", answered
    assert wait_for(lambda: len(lambdas) == 1)
    assert lambdas[0].attempts[-1].hyperparameters["max_depth"] == 3
