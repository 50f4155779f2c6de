"""GIVEN a request of each learning type, WHEN the local engine runs it, THEN it trains for real, passes its gate,
registers v1.0.0 with its artifacts, and writes a report and its JSON twin into the history."""

from __future__ import annotations

import json
from typing import Any

import pytest

REQUESTS: list[tuple[str, dict[str, Any]]] = [
    (
        "classification",
        {
            "learning_type": "supervised",
            "algorithm": "random_forest",
            "dataset_id": "iris",
            "hyperparameters": {"n_estimators": 30},
            "evaluation_threshold": 0.85,
        },
    ),
    (
        "regression",
        {
            "learning_type": "supervised",
            "algorithm": "ridge",
            "dataset_id": "diabetes",
            "evaluation_threshold": 0.3,
        },
    ),
    (
        "clustering",
        {
            "learning_type": "unsupervised",
            "algorithm": "kmeans",
            "dataset_id": "wine",
            "evaluation_threshold": 0.2,
        },
    ),
    (
        "dimensionality_reduction",
        {
            "learning_type": "unsupervised",
            "algorithm": "pca",
            "dataset_id": "digits",
            "hyperparameters": {"n_components": 16},
            "evaluation_threshold": 0.6,
        },
    ),
    (
        "q_learning",
        {
            "learning_type": "reinforcement",
            "algorithm": "q_learning",
            "environment": "FrozenLake-v1",
            "evaluation_metric": "success_rate",
            "evaluation_threshold": 0.3,
        },
    ),
    (
        "policy_gradient",
        {
            "learning_type": "reinforcement",
            "algorithm": "policy_gradient",
            "environment": "CartPole-v1",
            "hyperparameters": {"episodes": 300},
            "evaluation_threshold": 60,
        },
    ),
]


@pytest.mark.parametrize(("kind", "request_fields"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_every_learning_type_passes_first_time(engine, kind: str, request_fields: dict[str, Any]) -> None:
    run = engine.run(**request_fields)

    assert run.status == "succeeded", run.events
    assert run.gate is not None and run.gate.passed
    assert run.registered is not None and run.registered.version == "v1.0.0"
    model_id = run.request.model_id
    assert engine.registry.current(model_id) == "v1.0.0"
    artifacts = engine.services.ports.store.list(f"models/{model_id}/v1.0.0/")
    assert any(key.endswith("model_metadata.json") for key in artifacts)
    assert any(key.endswith("evaluation.json") for key in artifacts)
    assert any(key.endswith(".png") for key in artifacts), "plots belong next to the model"
    report = (engine.settings.history_dir / f"{run.training_id}.md").read_text()
    assert "## 評価結果" in report and "✅" in report
    twin = json.loads((engine.settings.history_dir / f"{run.training_id}.json").read_text())
    assert twin["training_id"] == run.training_id
    assert engine.history.verify() == []
