"""The flow compiled to States Language: the committed definition is current, a sound graph, and maps each
state as AWS needs it (Train as a .sync training job with its own name per try, the operator's wait as a task
token with a timeout, caught errors written at $.error)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from mlops.pipeline.asl import compile_flow, execution_name, render, substitution_names

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "infra" / "cloudformation" / "state-machine.asl.json"
REGENERATE = "python -m mlops.pipeline.asl > infra/cloudformation/state-machine.asl.json"
STATES: dict[str, Any] = compile_flow()["States"]


def test_the_committed_definition_is_what_the_flow_compiles_to() -> None:
    assert COMMITTED.read_text() == render(), f"the committed state machine is stale; regenerate it: {REGENERATE}"


def _targets(state: dict[str, Any]) -> list[str]:
    targets = [state["Next"]] if "Next" in state else []
    targets += [catch["Next"] for catch in state.get("Catch", [])]
    targets += [choice["Next"] for choice in state.get("Choices", [])]
    return targets + ([state["Default"]] if "Default" in state else [])


def test_every_target_exists_and_every_state_is_reachable() -> None:
    definition = json.loads(COMMITTED.read_text())
    states = definition["States"]
    for name, state in states.items():
        assert all(target in states for target in _targets(state)), name
        assert state["Type"] in ("Succeed", "Fail", "Choice") or "Next" in state, f"{name} neither ends nor goes on"
    seen, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_targets(states[name]))
    assert seen == set(states)


def test_train_is_a_sync_training_job_retried_on_task_failure_with_a_new_name_per_try() -> None:
    train = STATES["Train"]
    assert train["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    assert train["Retry"] == [
        {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2.0}
    ]
    assert "$$.State.RetryCount" in train["Parameters"]["TrainingJobName.$"]
    assert train["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "HandleFailure"}]
    assert train["ResultPath"] == "$.training"


def test_agents_are_lambda_tasks_whose_payload_is_the_new_document_retried_on_lambda_service_errors() -> None:
    tasks = {name: s for name, s in STATES.items() if s.get("Resource") == "arn:aws:states:::lambda:invoke"}
    agents = {"PrepareData", "BuildTrainingJob", "Evaluate", "Register", "RecordVerification", "PublishFailed"}
    assert agents <= set(tasks)
    for name, task in tasks.items():
        assert task["Parameters"] == {"FunctionName": task["Parameters"]["FunctionName"], "Payload.$": "$"}, name
        assert task["OutputPath"] == "$.Payload", name
        assert "Lambda.ServiceException" in task["Retry"][0]["ErrorEquals"], name
    assert tasks["PublishSucceeded"]["Parameters"]["FunctionName"] == "${PublishFunctionArn}"


def test_the_operator_wait_passes_its_task_token_and_times_out_into_a_report() -> None:
    wait = STATES["AwaitOperator"]
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert wait["Parameters"]["Payload"] == {"run.$": "$", "task_token.$": "$$.Task.Token"}
    assert wait["TimeoutSeconds"] == 7 * 24 * 3600 and wait["ResultPath"] == "$.answer"
    assert wait["Catch"][0] == {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "OperatorTimedOut"}
    assert STATES["OperatorTimedOut"]["Next"] == "PublishFailed"
    assert "Retry" not in wait  # "ask again" is a loop through the flow, never a Retry of the token


def test_every_catch_writes_the_error_into_the_document() -> None:
    catches = [c for state in STATES.values() for c in state.get("Catch", [])]
    assert catches and all(c["ResultPath"] == "$.error" for c in catches)


def test_choices_check_presence_and_type_before_comparing() -> None:
    (rule,) = STATES["VerifyChoice"]["Choices"]
    assert rule["And"] == [
        {"Variable": "$.verify.ok", "IsPresent": True},
        {"Variable": "$.verify.ok", "IsBoolean": True},
        {"Variable": "$.verify.ok", "BooleanEquals": True},
    ]


def test_deployment_substitutes_functions_role_and_image() -> None:
    names = substitution_names(compile_flow())
    assert {"PrepareDataFunctionArn", "AwaitOperatorFunctionArn", "TrainingImage", "SageMakerRoleArn"} <= set(names)
    deployment = {"TrainingImage", "SageMakerRoleArn", "KmsKeyArn"}
    assert all(name.endswith("FunctionArn") for name in names if name not in deployment)


def test_verification_is_a_sync_job_whose_failure_rolls_back_and_a_lambda_reads_its_result() -> None:
    verify = STATES["Verify"]
    assert verify["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    assert verify["Parameters"]["HyperParameters.$"] == "$.verification_job.encoded_hyperparameters"
    assert verify["ResultPath"] == "$.verification" and verify["Next"] == "RecordVerification"
    assert verify["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Rollback"}]
    assert STATES["RecordVerification"]["Parameters"]["FunctionName"] == "${VerifyFunctionArn}"


def test_execution_names_are_one_per_repository_issue_and_request() -> None:
    request = {"algorithm": "random_forest", "dataset_id": "iris"}
    name = execution_name("acme/models", 42, request)
    assert name == execution_name("acme/models", 42, dict(reversed(request.items())))
    assert name != execution_name("acme/models", 43, request)
    assert name != execution_name("acme/models", 42, {**request, "dataset_id": "wine"})
    long = execution_name("a" * 200 + "/b", 10**9, request)
    assert len(long) <= 80 and all(c.isalnum() or c in "-_" for c in long)


def test_the_compiler_imports_no_aws_sdk() -> None:
    code = "import sys, mlops.pipeline.asl; print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
