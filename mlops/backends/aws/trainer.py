"""The Trainer port on AWS: nothing trains in this process. The state machine's Train state runs each try as a
SageMaker training job (createTrainingJob.sync), so a Lambda that was asked to train is wired wrong."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from mlops.errors import UsageError
from mlops.pipeline.models import TrainingJob

if TYPE_CHECKING:
    from mlops.ports import Trainer

WHY = "MLOPS_BACKEND=aws: {what} runs as a SageMaker training job started by the state machine, not in this process"


class StateMachineTrainer:
    def train(self, job: TrainingJob, name: str, timeout: float) -> NoReturn:
        raise UsageError(WHY.format(what=f"training ({name})") + "; start runs with the action (backend: aws)")

    def verify(self, artifact_key: str) -> NoReturn:
        raise UsageError(WHY.format(what=f"verification of {artifact_key}"))

    def close(self) -> None:
        """Nothing is kept between steps."""


if TYPE_CHECKING:  # mypy proves the trainer fits the port

    def _fits_the_port(trainer: StateMachineTrainer) -> Trainer:
        return trainer
