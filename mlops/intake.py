"""From what a user wrote (an issue body or a request file) to a validated TrainingRequest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlops.errors import InvalidRequest
from mlops.issue_forms import extract_request
from mlops.request import TrainingRequest, validate_request
from mlops.safe_yaml import decode_body, load_mapping
from mlops.suggest import did_you_mean

MAX_BODY = 64 * 1024


def read_body(path: Path) -> str:
    """The file's text, refusing oversized or non-UTF-8 input before anything parses it."""
    with path.open("rb") as handle:
        raw = handle.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise InvalidRequest(f"body: the request is larger than {MAX_BODY // 1024} KiB; shorten it")
    return decode_body(raw)


def request_from_body(body: str, *, title: str | None = None, template: Any = None) -> TrainingRequest:
    """Validate an issue body in any accepted shape; the title (or the §7.1 `title:` key) names the model."""
    raw = extract_request(body, template)
    return validate_request(raw, title=title or _spec_title(body))


def _spec_title(body: str) -> str | None:
    """The `title:` sibling of `body:` in the requirements' §7.1 request shape, when the file is that shape."""
    try:
        document = load_mapping(body)
    except InvalidRequest:
        return None
    title = document.get("title")
    return title if isinstance(title, str) and isinstance(document.get("body"), dict) else None


def request_from_file(path: Path, *, title: str | None = None, template: Any = None) -> TrainingRequest:
    return request_from_body(read_body(path), title=title, template=template)


def check_local_dataset(request: TrainingRequest, dataset_root: Path) -> TrainingRequest:
    """Check the dataset exists here and settle the task from its description, so a request that does not fit
    its data (a typo in the id, rmse on iris) is refused before a run starts rather than failing inside it."""
    if request.dataset_id is None:
        return request
    from mlops import data

    available = data.list_datasets(dataset_root)
    if request.dataset_id not in available:
        hint = did_you_mean(request.dataset_id, available, list_choices=False)
        raise InvalidRequest(
            f"dataset_id: no dataset '{request.dataset_id}' here{hint}; "
            f"available: {', '.join(available)} (add your own under {dataset_root}/datasets/<id>/train|test/)"
        )
    task = request.task or _described_task(request.dataset_id, dataset_root, data.BUNDLED)
    return request.with_task(task) if task and not request.task else request


def _described_task(dataset_id: str, dataset_root: Path, bundled: dict[str, tuple[str, str]]) -> str | None:
    described = dataset_root / "datasets" / dataset_id / "dataset.json"
    if described.is_file():
        return json.loads(described.read_text()).get("task")
    return bundled[dataset_id][1] if dataset_id in bundled else None
