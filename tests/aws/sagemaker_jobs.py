"""moto's SageMaker made to really train, and moto's Step Functions taught `createTrainingJob.sync`.

moto creates a training job as `Completed` at once, and its interpreter has no `.sync` poller for SageMaker
(written against moto 5.2; see /work/shared/notes/moto-step-functions.md). Here a created job runs the REAL
script-mode entry point on the job's channels (file URIs of the local artifact store) and its outputs are packed
where SageMaker puts them (`<S3OutputPath>/<job name>/output/model.tar.gz` and `output.tar.gz`); a poller modelled
on moto's own Glue `.sync` resolver then describes the job until it has ended, failing the state with
`States.TaskFailed` and the job's description as the cause, as AWS does.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from mlops.backends.local.store import LocalArtifactStore
from mlops.pipeline.artifacts import MODEL_ARCHIVE, OUTPUT_ARCHIVE, pack


class TrainingJobs:
    """The jobs moto was asked to create, run for real; `crash` makes every job fail instead, `reject` gives every
    training job a hyperparameter its entry point refuses (a misspelt one)."""

    def __init__(self, store: LocalArtifactStore) -> None:
        self.store = store
        self.names: list[str] = []
        self.crash = self.reject = False

    def run(self, job: Any) -> None:
        """Run one moto FakeTrainingJob to its end, setting its status as SageMaker would."""
        self.names.append(job.training_job_name)
        started = datetime.now(timezone.utc)
        crashed = ("Failed", "AlgorithmError: simulated crash: out of memory")
        status, reason = crashed if self.crash else self._train(job)
        ended = datetime.now(timezone.utc)
        job.training_start_time, job.training_end_time = started.isoformat(), ended.isoformat()
        job.billable_time_in_seconds = max(1, math.ceil((ended - started).total_seconds()))  # SageMaker bills whole s
        job.training_job_status = job.secondary_status = status
        if reason:
            job.failure_reason = reason

    def _train(self, job: Any) -> tuple[str, str | None]:
        with tempfile.TemporaryDirectory(prefix="sagemaker-job-") as tmp:
            model_dir, output_dir = Path(tmp, "model"), Path(tmp, "output")
            model_dir.mkdir(), output_dir.mkdir()
            finished = subprocess.run(
                [sys.executable, "-m", "mlops.training"],
                env={**os.environ, **_environment(job, model_dir, output_dir, self.reject)},
                capture_output=True,
                text=True,
                timeout=600,
            )
            if finished.returncode != 0:
                return "Failed", f"AlgorithmError: exit {finished.returncode}: {finished.stderr[-300:]}"
            prefix = f"{self._key(job.output_data_config['S3OutputPath'])}/{job.training_job_name}"
            for directory, key in ((model_dir, MODEL_ARCHIVE), (output_dir, OUTPUT_ARCHIVE)):
                self.store.put_file(f"{prefix}/{key}", pack(directory, Path(tmp, Path(key).name)))
        return "Completed", None

    def _key(self, uri: str) -> str:
        return _path(uri).relative_to(self.store.root.absolute()).as_posix()


def _environment(job: Any, model_dir: Path, output_dir: Path, reject: bool = False) -> dict[str, str]:
    """SageMaker's script-mode contract: decoded hyperparameters (the container keeps its own `sagemaker_*` keys
    out of SM_HPS), a directory per channel."""
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job.input_data_config or []}
    hps = {name: json.loads(value) for name, value in job.hyper_parameters.items() if not name.startswith("sagemaker_")}
    if reject and "mlops_algorithm" in hps:
        hps["n_estimator"] = 5  # not random_forest's n_estimators
    environment = {
        "SM_MODEL_DIR": str(model_dir),
        "SM_OUTPUT_DATA_DIR": str(output_dir),
        "SM_HPS": json.dumps(hps),
        "SM_CHANNELS": json.dumps(sorted(channels)),
    }
    return environment | {f"SM_CHANNEL_{name.upper()}": str(_path(uri)) for name, uri in channels.items()}


def _path(uri: str) -> Path:
    parsed = urlparse(uri)
    assert parsed.scheme == "file", f"the test engine's store hands out file URIs, not {uri}"
    return Path(unquote(parsed.path))


def serve_training_jobs(monkeypatch: pytest.MonkeyPatch, jobs: TrainingJobs) -> None:
    """Patch moto (for this test only) so that `createTrainingJob.sync` creates, runs and awaits a real job."""
    from moto.sagemaker import models as sagemaker
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_unsupported as unsupported,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition

    created = sagemaker.FakeTrainingJob.__init__

    def create_and_run(self: Any, *args: Any, **kwargs: Any) -> None:
        created(self, *args, **kwargs)
        jobs.run(self)

    monkeypatch.setattr(sagemaker.FakeTrainingJob, "__init__", create_and_run)
    patterns = {ResourceCondition.WaitForTaskToken, ResourceCondition.Sync}
    monkeypatch.setattr(unsupported, "_SUPPORTED_INTEGRATION_PATTERNS", patterns)
    original = unsupported.StateTaskServiceUnsupported._build_sync_resolver
    monkeypatch.setattr(unsupported.StateTaskServiceUnsupported, "_build_sync_resolver", _sync_resolver(original))


def _sync_resolver(original: Any) -> Any:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    def build(self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: Any, state_credentials: Any):
        if (self.resource.service_name, self.resource.api_action) != ("sagemaker", "createTrainingJob"):
            return original(self, env, resource_runtime_part, normalised_parameters, state_credentials)
        env.stack.pop()  # CreateTrainingJob's own answer: the state's result is the job's description
        name = normalised_parameters["TrainingJobName"]
        _forget_the_previous_try(env)
        client = boto_client_for(
            region=resource_runtime_part.region, service="sagemaker", state_credentials=state_credentials
        )

        def failed(description: dict[str, Any]) -> FailureEventException:
            details = TaskFailedEventDetails(
                resource=self._get_sfn_resource(),
                resourceType=self._get_sfn_resource_type(),
                error=StatesErrorNameType.StatesTaskFailed.to_name(),
                cause=to_json_str(description),
            )
            return FailureEventException(
                FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(taskFailedEventDetails=details),
                )
            )

        def resolve() -> dict[str, Any] | None:
            description = client.describe_training_job(TrainingJobName=name)
            description.pop("ResponseMetadata", None)
            description = json.loads(to_json_str(description))
            if description["TrainingJobStatus"] in ("InProgress", "Stopping"):
                return None
            if description["TrainingJobStatus"] == "Completed":
                return description
            raise failed(description)

        return resolve

    return build


def _forget_the_previous_try(env: Any) -> None:
    """moto keeps one callback endpoint per state and leaves it signalled after a try ends, so a retried try
    would end at once as timed out (States.Timeout); clear it, as a fresh try on AWS starts clean."""
    token = env.states.context_object.context_object_data.get("Task", {}).get("Token")
    if token:
        endpoint = env.callback_pool_manager.get(token)
        endpoint._notify_event.clear()
        endpoint._outcome = None
