"""The two engines behind one interface, for the scenario table: the local runner, and the compiled state machine
in moto's Step Functions interpreter with its `lambda:invoke` calls served in-process by mlops.handlers and its
training jobs run for real (tests/aws/sagemaker_jobs.py). Both use the same local ports in one MLOPS_HOME."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from mlops import handlers
from mlops.pipeline.asl import render
from mlops.pipeline.flow import FLOW, Flow
from mlops.pipeline.models import OperatorDecision, RunState, new_training_id
from mlops.pipeline.runner import LocalRunner, error_name
from mlops.request import validate_request
from mlops.services import Services, build_services
from mlops.settings import AwsSettings, Settings
from tests.aws.conftest import REGION, create, substitute, wait
from tests.aws.sagemaker_jobs import TrainingJobs, serve_training_jobs
from tests.pipeline.conftest import wrapper_script

# A hyperparameter the entry point refuses, slipped past the request's check (the training job rejects its input).
MISSPELT_HYPERPARAMETER = (
    "import json\nhps = json.loads(os.environ['SM_HPS'])\nhps['n_estimator'] = 5\n"
    "os.environ['SM_HPS'] = json.dumps(hps)"
)
TRAINING_SOURCE = "s3://mlops-code/training/sourcedir.tar.gz"  # MLOPS_TRAINING_SOURCE of the Lambdas


@dataclass
class Walk:
    """What a run did: the states it entered, in order, and its run document now."""

    states: list[str] = field(default_factory=list)
    run: RunState | None = None
    handle: str = ""  # the engine's reference to the run (a training id, an execution ARN)


class LocalEngine:
    name = "local"

    def __init__(self, settings: Settings, flow: Flow = FLOW) -> None:
        self.services: Services = build_services(settings)
        self.settings, self.delays = settings, list[float]()
        self._walk = Walk()
        ports, runs = self.services.ports, self.services.runs
        self.runner = LocalRunner(ports, runs, flow=flow, sleep=self.delays.append, on_step=self._entered)

    def _entered(self, state: str, run: RunState) -> None:
        self._walk.states.append(state)

    def start(self, **request: Any) -> Walk:
        self._walk = Walk()
        run = RunState(training_id=new_training_id(), request=validate_request(request))
        self._walk.run, self._walk.handle = self.runner.start(run), run.training_id
        return self._walk

    def answer(self, walk: Walk, decision: OperatorDecision) -> Walk:
        self._walk = walk
        walk.run = self.runner.resume(walk.handle, decision)
        return walk

    def crash_training(self, tmp_path: Any) -> None:
        crash = "print('simulated crash: out of memory'); sys.exit(137)"
        self._train_with(wrapper_script(tmp_path / "crash.py", crash))

    def reject_input(self, tmp_path: Any) -> None:
        self._train_with(wrapper_script(tmp_path / "misspelt.py", MISSPELT_HYPERPARAMETER))

    def _train_with(self, command: str) -> None:
        self.services.close()
        wrapped = LocalEngine(dataclasses.replace(self.settings, train_command=command), self.runner.flow)
        self.services, self.runner = wrapped.services, wrapped.runner
        self.runner.sleep, self.runner.on_step = self.delays.append, self._entered

    def close(self) -> None:
        self.services.close()


class MotoEngine:
    name = "moto"

    def __init__(self, settings: Settings, sfn: Any, monkeypatch: pytest.MonkeyPatch, flow: Flow = FLOW) -> None:
        settings = dataclasses.replace(settings, aws=AwsSettings(region=REGION, training_source=TRAINING_SOURCE))
        self.services: Services = build_services(settings)
        self.settings, self.sfn, self.delays = settings, sfn, list[float]()
        self.jobs = TrainingJobs(self.services.ports.store)
        monkeypatch.setattr(handlers, "ports", lambda: self.services.ports)  # one container, warm
        _route_lambda_to_handlers(monkeypatch)
        serve_training_jobs(monkeypatch, self.jobs)
        _record_retry_sleeps(monkeypatch, self.delays)
        self.machine = create(sfn, substitute(render(flow)), name=f"mlops-{new_training_id()[-8:]}")

    def start(self, **request: Any) -> Walk:
        run = RunState(training_id=new_training_id(), request=validate_request(request))
        arn = self.sfn.start_execution(stateMachineArn=self.machine, name=run.training_id,
                                       input=run.model_dump_json())["executionArn"]
        return self._settled(Walk(handle=arn))

    def answer(self, walk: Walk, decision: OperatorDecision) -> Walk:
        """What the GitHub callback does: SendTaskSuccess with the waiting task's token."""
        self.sfn.send_task_success(taskToken=self._token(walk.handle), output=decision.model_dump_json())
        return self._settled(walk)

    def crash_training(self, tmp_path: Any) -> None:
        self.jobs.crash = True

    def reject_input(self, tmp_path: Any) -> None:
        self.jobs.reject = True

    def close(self) -> None:
        self.services.close()

    def _settled(self, walk: Walk) -> Walk:
        """Until the execution ends or waits for an operator (or its wait times out)."""
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            described = wait(self.sfn, walk.handle, timeout=0.2)
            if described["status"] != "RUNNING" or self._waiting(walk.handle):
                break
        events = self._events(walk.handle)
        walk.states = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
        walk.run = RunState.model_validate(json.loads(_last_document(events)))
        return walk

    def requests(self, walk: Walk) -> list[dict[str, Any]]:
        """What the execution's training-job states sent to CreateTrainingJob, in order."""
        scheduled = [e["taskScheduledEventDetails"] for e in self._events(walk.handle) if e["type"] == "TaskScheduled"]
        return [json.loads(s["parameters"]) for s in scheduled if "createTrainingJob" in s["resource"]]

    def _waiting(self, arn: str) -> bool:
        events = self._events(arn)
        return bool(events) and events[-1]["type"] == "TaskSubmitted" and _is_wait(events[-1])

    def _token(self, arn: str) -> str:
        scheduled = [e for e in self._events(arn) if e["type"] == "TaskScheduled" and _is_wait(e)]
        return str(json.loads(scheduled[-1]["taskScheduledEventDetails"]["parameters"])["Payload"]["task_token"])

    def _events(self, arn: str) -> list[dict[str, Any]]:
        return list(self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"])


def _is_wait(event: dict[str, Any]) -> bool:
    details = event.get("taskScheduledEventDetails") or event.get("taskSubmittedEventDetails") or {}
    return str(details.get("resource", "")).endswith("waitForTaskToken")


def _last_document(events: list[dict[str, Any]]) -> str:
    """The run document as it stands: the execution's output, else the input of the last state entered."""
    for event in reversed(events):
        if "executionSucceededEventDetails" in event:
            return str(event["executionSucceededEventDetails"]["output"])
        if "stateEnteredEventDetails" in event:
            return str(event["stateEnteredEventDetails"]["input"])
    raise AssertionError("the execution has no document yet")


def _route_lambda_to_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's Lambda (no Docker) echoes its payload; here `function:<Agent>` runs `mlops.handlers.<agent>`, and
    an exception is a function error named by its `errorType`, as Lambda reports it."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> bytes:
        handler = getattr(handlers, _snake(function_name.rsplit(":", 1)[-1]))
        try:
            return json.dumps(handler(json.loads(body), None)).encode()
        except Exception as exc:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": error_name(exc), "errorMessage": str(exc)}).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def _record_retry_sleeps(monkeypatch: pytest.MonkeyPatch, delays: list[float]) -> None:
    """The interpreter really sleeps a Retry's back-off: record what it asks for instead."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=delays.append))
