"""The issue labels the action uses. An issue carries at most one of the status labels at a time."""

from __future__ import annotations

from mlops.github.client import GitHubClient

TRIGGER = "mlops:train"
INVALID = "mlops:invalid"
RUNNING = "mlops:running"
AWAITING_OPERATOR = "mlops:awaiting-operator"
SUCCEEDED = "mlops:succeeded"
FAILED = "mlops:failed"

# name -> (colour, description): what a repository gets when the action first needs the label.
STATUS_LABELS = {
    INVALID: ("d73a4a", "MLOps: the training request has problems; the bot's comment lists them"),
    RUNNING: ("1d76db", "MLOps: a training run is in progress"),
    AWAITING_OPERATOR: ("fbca04", "MLOps: the model missed its threshold; answer /mlops retrain or /mlops abort"),
    SUCCEEDED: ("0e8a16", "MLOps: the run registered and verified a new model version"),
    FAILED: ("b60205", "MLOps: the run failed or was aborted; see the status comment"),
}


def set_status_label(gh: GitHubClient, number: int, label: str | None) -> None:
    """Leave issue `number` with the status label `label` and no other one (`None`: with none of them)."""
    present = set(gh.labels(number))
    for other in sorted((present & STATUS_LABELS.keys()) - {label}):
        gh.remove_label(number, other)
    if label is not None and label not in present:
        gh.ensure_label(label, *STATUS_LABELS[label])
        gh.add_label(number, label)
