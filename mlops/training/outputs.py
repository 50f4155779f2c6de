"""The JSON files a training run leaves behind: model_info.json and evaluation.json."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

from mlops.training.job import Job, Outcome

MODEL_INFO = "model_info.json"
EVALUATION = "evaluation.json"
REJECTED = "rejected.json"  # instead of the other outputs, when the job rejected its input
# Libraries whose versions decide whether a saved model loads and predicts the same elsewhere:
# distribution name -> module.
RECORDED_LIBRARIES = {
    "mlops-issueops": "mlops",
    "numpy": "numpy",
    "scipy": "scipy",
    "scikit-learn": "sklearn",
    "skops": "skops",
    "gymnasium": "gymnasium",
}


def library_versions() -> dict[str, str]:
    """The versions of those libraries this training actually ran with: the ones it imported."""
    versions = {"python": platform.python_version()}
    for name, module in RECORDED_LIBRARIES.items():
        version = getattr(sys.modules.get(module), "__version__", None)
        if isinstance(version, str):
            versions[name] = version
    return versions


def model_info(job: Job, outcome: Outcome) -> dict[str, Any]:
    return {
        "algorithm": job.spec.name,
        "task": job.task,
        "learning_type": job.spec.learning_type,
        "params": job.params,
        "features": outcome.features,
        "target": job.target,
        "environment": job.environment,
        "metric": job.metric,
        "seed": job.seed,
        "library_versions": library_versions(),
    }


def evaluation(job: Job, outcome: Outcome, duration_seconds: float) -> dict[str, Any]:
    return {
        "task": job.task,
        "primary_metric": job.metric,
        "metrics": outcome.metrics,
        "n_train": outcome.n_train,
        "n_test": outcome.n_test,
        "duration_seconds": round(duration_seconds, 3),
        "holdout": outcome.holdout,
        **outcome.details,
    }


def write_json(path: Path, document: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))
