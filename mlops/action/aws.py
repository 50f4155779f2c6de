"""The AWS engine as the action reaches it (MLOPS_BACKEND=aws): one client factory, and only the parts a mode
uses. `start` needs the state machine only; `comment` also reads the run table; `rollback` and `record` use the
registry and the bucket. Each part names the setting it needs when that setting is missing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from mlops.errors import UsageError
from mlops.settings import AwsSettings, Settings

if TYPE_CHECKING:
    from mlops.backends.aws.clients import AwsClients
    from mlops.backends.aws.dynamodb_runs import DynamoRunStore
    from mlops.backends.aws.stepfunctions import Executions
    from mlops.ports import History
    from mlops.registry import ModelRegistry

T = TypeVar("T")


@dataclass
class AwsParts:
    settings: AwsSettings

    @cached_property
    def clients(self) -> AwsClients:
        from mlops.backends.aws.clients import AwsClients

        return AwsClients(self.settings)

    def executions(self) -> Executions:
        """The pipeline's state machine (MLOPS_STATE_MACHINE_ARN), for starting and looking at executions."""
        from mlops.backends.aws.stepfunctions import Executions

        arn = self.require(self.settings.state_machine_arn, "MLOPS_STATE_MACHINE_ARN", "the pipeline's state machine")
        if ":stateMachine:" not in arn:
            raise UsageError(f"MLOPS_STATE_MACHINE_ARN: '{arn[:200]}' is not a state machine ARN (arn:aws:states:...)")
        return Executions(self.clients.client("stepfunctions"), arn)

    def tasks(self) -> Executions:
        """Step Functions for answering a paused run's task token (which names its execution by itself)."""
        from mlops.backends.aws.stepfunctions import Executions

        return Executions(self.clients.client("stepfunctions"), self.settings.state_machine_arn or "")

    def runs(self) -> DynamoRunStore:
        """The run table (MLOPS_RUN_TABLE): the paused runs' task tokens and the run documents."""
        from mlops.backends.aws.dynamodb_runs import DynamoRunStore
        from mlops.backends.aws.dynamodb_table import Table

        name = self.require(self.settings.run_table, "MLOPS_RUN_TABLE", "the DynamoDB run table")
        return DynamoRunStore(Table(self.clients.client("dynamodb"), name))

    @staticmethod
    def require(value: str | None, variable: str, what: str) -> str:
        if not value:
            raise UsageError(
                f"{variable}: not set; with backend aws the action needs {what} (the pipeline stack's output; "
                "docs/github-action.md lists the inputs)"
            )
        return value


class Prefetched(Generic[T]):
    """Something slow to make (boto3's import and a client: a fifth of a second), made in a thread from now on, so
    that it is ready when the job has done its GitHub calls; `get` returns it or raises what making it raised."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mlops-prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._make()
        except BaseException as exc:  # handed to `get`: raised where the value is wanted
            self._error = exc

    def get(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return cast(T, self._value)


def console_url(region: str | None, execution_arn: str) -> str:
    """The execution's page in the AWS console (for the job summary and the logs)."""
    region = region or "us-east-1"
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"


def registry_and_history(parts: AwsParts, settings: Settings) -> tuple[ModelRegistry, History]:
    """The registry over SageMaker (records in model package metadata, rollbacks in the run table) and the history
    in `history/` of MLOPS_BUCKET with its audit copy in MLOPS_AUDIT_BUCKET: what a rollback changes."""
    from mlops.backends.aws import wiring
    from mlops.backends.aws.history import S3History
    from mlops.backends.aws.sagemaker_registry import SageMakerRegistryBackend
    from mlops.registry import ModelRegistry

    wiring.require(settings.aws, ("region", "bucket", "run_table", "kms_key_id", "audit_bucket"))
    store = wiring.artifact_store(settings, parts.clients)
    table = wiring.run_table(settings, parts.clients)
    backend = SageMakerRegistryBackend(parts.clients.client("sagemaker"), table, str(settings.aws.bucket),
                                       settings.aws.model_package_group_prefix)
    history = S3History(store, wiring.audit_copy(settings.aws, parts.clients), settings.history_dir)
    return ModelRegistry(backend, store, keep=settings.keep_versions), history
