"""The flow declaration compiled to Amazon States Language: pure functions, small builders, no boto.

Agents become `lambda:invoke` tasks whose result (the Lambda's Payload) is the new run document, Train becomes
`sagemaker:createTrainingJob.sync`, the operator's wait `lambda:invoke.waitForTaskToken`. ARNs and the training
image are `${...}` placeholders that CloudFormation's DefinitionSubstitutions fill in. The compiled definition is
committed; regenerate it after changing the flow with

    python -m mlops.pipeline.asl > infra/cloudformation/state-machine.asl.json
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from mlops.pipeline.flow import FLOW, AwaitOperator, Catch, Choice, End, Flow, Retry, Rule, Task, TrainingJob

# The job's environment: progress lines reach CloudWatch as they are printed, whichever image runs the job (the
# framework image sets it too; MLOPS_TRAINING_IMAGE may name one that does not).
JOB_ENVIRONMENT = {"PYTHONUNBUFFERED": "1"}
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
LAMBDA_CALLBACK = "arn:aws:states:::lambda:invoke.waitForTaskToken"
TRAINING_SYNC = "arn:aws:states:::sagemaker:createTrainingJob.sync"
# The Lambda service's own transient failures (not the agent's): always worth another try.
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
LAMBDA_SERVICE_RETRY = Retry(LAMBDA_SERVICE_ERRORS, max_attempts=6, interval_seconds=2, backoff_rate=2.0)
FAILED_RUN_ERROR = "MlopsRunFailed"
Json = dict[str, Any]


def compile_flow(flow: Flow = FLOW) -> Json:
    return {
        "Comment": "mlops-issueops pipeline, compiled from mlops/pipeline/flow.py by mlops/pipeline/asl.py",
        "StartAt": flow.start,
        "States": {name: compile_state(state) for name, state in flow.states.items()},
    }


def compile_state(state: Task | TrainingJob | Choice | AwaitOperator | End) -> Json:
    if isinstance(state, Task):
        return _task(state)
    if isinstance(state, TrainingJob):
        return _training_job(state)
    if isinstance(state, AwaitOperator):
        return _await_operator(state)
    if isinstance(state, Choice):
        return {"Type": "Choice", "Choices": [_rule(rule) for rule in state.rules], "Default": state.default}
    if state.succeeded:
        return {"Type": "Succeed"}
    return {"Type": "Fail", "Error": FAILED_RUN_ERROR, "Cause": "the run ended failed: its report says why"}


def function_arn(agent: str) -> str:
    """`prepare_data` -> `${PrepareDataFunctionArn}`: one Lambda per agent."""
    return "${" + "".join(part.capitalize() for part in agent.split("_")) + "FunctionArn}"


def substitution_names(definition: Json) -> list[str]:
    """The DefinitionSubstitutions a deployment must provide for `definition`."""
    return sorted(set(re.findall(r"\$\{(\w+)\}", json.dumps(definition))))


def execution_name(repository: str, issue: int, request: Mapping[str, Any]) -> str:
    """The one execution name of a request on an issue: Step Functions refuses a second start with this name
    (with the same input it returns the first), so a redelivered webhook or a double start cannot train twice.
    Allowed characters and at most 80 of them; editing the request gives a new name."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", repository).strip("-")[:50]
    return f"{slug}-{issue}-{digest}"


def path(dotted: str) -> str:
    return f"$.{dotted}"


def _task(task: Task) -> Json:
    return {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": function_arn(task.agent), "Payload.$": "$"},
        "OutputPath": "$.Payload",  # the agent's answer is the whole new run document
        "TimeoutSeconds": task.timeout_seconds,
        **_errors((LAMBDA_SERVICE_RETRY, *task.retry), task.catch),
        "Next": task.next,
    }


def _training_job(state: TrainingJob) -> Json:
    return {
        "Type": "Task",
        "Resource": TRAINING_SYNC,
        "Parameters": training_job_parameters(path(state.job_path)),
        "ResultSelector": {
            "job_name.$": "$.TrainingJobName",
            "started_at.$": "$.TrainingStartTime",
            "ended_at.$": "$.TrainingEndTime",
            "billable_seconds.$": "$.BillableTimeInSeconds",
            "instance_type.$": "$.ResourceConfig.InstanceType",
            "instance_count.$": "$.ResourceConfig.InstanceCount",
        },
        "ResultPath": path(state.result_path),
        "TimeoutSeconds": state.timeout_seconds,
        **_errors(state.retry, state.catch),
        "Next": state.next,
    }


def training_job_parameters(job: str) -> Json:
    """The whole CreateTrainingJob request (mlops/backends/aws/training_job.py's training_job_request builds the
    same): what the run decided from the job description at `job`, in the shapes its computed fields give; the
    deployment's role, image and KMS key as DefinitionSubstitutions. (The source bundle's URI is
    in the job's hyperparameters: States Language cannot add a constant to a map taken from the input.)"""
    return {
        # every try its own name (SageMaker refuses a reused one); a Retry resends the same input
        "TrainingJobName.$": f"States.Format('{{}}-t{{}}', {job}.name, States.MathAdd($$.State.RetryCount, 1))",
        "RoleArn": "${SageMakerRoleArn}",
        "AlgorithmSpecification": {
            "TrainingImage": "${TrainingImage}",
            "TrainingInputMode": "FastFile",
            "MetricDefinitions.$": f"{job}.metric_definitions",
        },
        "HyperParameters.$": f"{job}.encoded_hyperparameters",
        "InputDataConfig.$": f"{job}.input_data_config",
        "OutputDataConfig": {"S3OutputPath.$": f"{job}.output_uri", "KmsKeyId": "${KmsKeyArn}"},
        "ResourceConfig": {
            "InstanceType.$": f"{job}.resources.instance_type",
            "InstanceCount.$": f"{job}.resources.instance_count",
            "VolumeSizeInGB.$": f"{job}.resources.volume_gb",
            "VolumeKmsKeyId": "${KmsKeyArn}",
            "KeepAlivePeriodInSeconds.$": f"{job}.resources.warm_pool_seconds",
        },
        "StoppingCondition.$": f"{job}.stopping_condition",
        "EnableManagedSpotTraining.$": f"{job}.resources.spot",
        "EnableInterContainerTrafficEncryption.$": f"{job}.encrypt_inter_container_traffic",
        "CheckpointConfig": {"S3Uri.$": f"{job}.checkpoint_uri"},
        "Environment": JOB_ENVIRONMENT,
        "Tags.$": f"{job}.tags",
    }


def _await_operator(state: AwaitOperator) -> Json:
    return {
        "Type": "Task",
        "Resource": LAMBDA_CALLBACK,
        "Parameters": {
            "FunctionName": function_arn(state.agent),
            "Payload": {"run.$": "$", "task_token.$": "$$.Task.Token"},
        },
        "ResultPath": path(state.result_path),  # SendTaskSuccess's output: the operator's answer
        "TimeoutSeconds": state.timeout_seconds,
        **_errors((), state.catch),
        "Next": state.next,
    }


def _errors(retries: tuple[Retry, ...], catches: tuple[Catch, ...]) -> Json:
    compiled: Json = {}
    if retries:
        compiled["Retry"] = [_retry(retry) for retry in retries]
    if catches:
        compiled["Catch"] = [_catch(catch) for catch in catches]
    return compiled


def _retry(retry: Retry) -> Json:
    return {
        "ErrorEquals": list(retry.errors),
        "IntervalSeconds": max(1, round(retry.interval_seconds)),
        "MaxAttempts": retry.max_attempts,
        "BackoffRate": retry.backoff_rate,
    }


def _catch(catch: Catch) -> Json:
    return {"ErrorEquals": list(catch.errors), "ResultPath": path(catch.result_path), "Next": catch.next}


def _rule(rule: Rule) -> Json:
    """Present, of the rule's type, and equal: a missing or mistyped value takes the Default, as locally."""
    variable = path(rule.variable)
    kind, comparison = _comparison(rule.equals)
    return {
        "And": [
            {"Variable": variable, "IsPresent": True},
            {"Variable": variable, kind: True},
            {"Variable": variable, comparison: rule.equals},
        ],
        "Next": rule.next,
    }


def _comparison(value: Any) -> tuple[str, str]:
    if isinstance(value, bool):
        return "IsBoolean", "BooleanEquals"
    if isinstance(value, (int, float)):
        return "IsNumeric", "NumericEquals"
    if isinstance(value, str):
        return "IsString", "StringEquals"
    raise TypeError(f"a Choice rule compares with a string, number or boolean, not {value!r}")


def render(flow: Flow = FLOW) -> str:
    return json.dumps(compile_flow(flow), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
