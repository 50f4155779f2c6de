"""Helpers of the AWS adapter tests (fixtures live in conftest.py, which no module imports by name)."""

from __future__ import annotations

from mlops.pipeline.models import IssueRef, RunState
from mlops.request import validate_request


def make_run(training_id: str = "train-20250110-123456-abcd", issue: int | None = 7) -> RunState:
    request = validate_request({"learning_type": "supervised", "algorithm": "svm", "dataset_id": "iris",
                                "evaluation_threshold": 0.9, "model_id": "iris-svm"})
    return RunState(training_id=training_id, request=request, issue=IssueRef(repository="acme/ml", number=issue))
