"""From what a user wrote (an issue body or a request file) to a validated TrainingRequest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops import data
from mlops.errors import InvalidRequest
from mlops.issue_forms import extract_request
from mlops.request import Datasets, TrainingRequest, validate_request
from mlops.safe_yaml import MAX_BYTES, decode_body, load_mapping
from mlops.scalars import shown
from mlops.suggest import did_you_mean


class LocalDatasets:
    """The datasets a request can name on this machine: the bundled ones and those under the store's root."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.available = data.list_datasets(self.root)

    def problem(self, dataset_id: str) -> str | None:
        if dataset_id in self.available:
            return None
        hint = did_you_mean(dataset_id, self.available, list_choices=False)
        return (
            f"no dataset {shown(dataset_id)} here{hint}; available: {', '.join(self.available)} "
            f"(add your own under {self.root}/datasets/<id>/train|test/)"
        )

    def task(self, dataset_id: str) -> str | None:
        return data.described_task(self.root, dataset_id)


def read_body(path: Path) -> str:
    """The file's text, refusing oversized or non-UTF-8 input before anything parses it."""
    with path.open("rb") as handle:
        raw = handle.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise InvalidRequest(f"body: the request is larger than {MAX_BYTES // 1024} KiB; shorten it")
    return decode_body(raw)


def request_from_body(
    body: str, *, title: str | None = None, template: Any = None, datasets: Datasets | None = None
) -> TrainingRequest:
    """Validate an issue body in any accepted shape; the title (or the §7.1 `title:` key) names the model.
    With `datasets`, an unknown dataset is reported with every other problem."""
    raw = extract_request(body, template)
    return validate_request(raw, title=title or _spec_title(body), datasets=datasets)


def _spec_title(body: str) -> str | None:
    """The `title:` sibling of `body:` in the requirements' §7.1 request shape, when the file is that shape."""
    try:
        document = load_mapping(body)
    except InvalidRequest:
        return None
    title = document.get("title")
    return title if isinstance(title, str) and isinstance(document.get("body"), dict) else None


def request_from_file(
    path: Path, *, title: str | None = None, template: Any = None, dataset_root: Path | None = None
) -> TrainingRequest:
    """The request in a file. With `dataset_root` (the artifact store), its dataset must exist there and settles
    the task, so a request that does not fit its data (a typo in the id, rmse on iris) is refused, with every
    other problem, before a run starts rather than failing inside it."""
    datasets = LocalDatasets(dataset_root) if dataset_root is not None else None
    return request_from_body(read_body(path), title=title, template=template, datasets=datasets)

