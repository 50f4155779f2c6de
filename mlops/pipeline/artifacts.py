"""Training outputs in the shapes SageMaker writes: `<prefix>/output/model.tar.gz` (the model directory) and
`<prefix>/output/output.tar.gz` (evaluation.json, plots), read through the artifact store by key."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from mlops.errors import TrainingError
from mlops.ports import ArtifactStore

MODEL_ARCHIVE = "output/model.tar.gz"
OUTPUT_ARCHIVE = "output/output.tar.gz"


def pack(directory: Path, archive: Path) -> Path:
    """A gzipped tar of everything under `directory`, members named relative to it (as SageMaker packs)."""
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:  # level 1: packing is on every run's path
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            tar.add(path, arcname=path.relative_to(directory).as_posix())
    return archive


def read_members(store: ArtifactStore, key: str, wanted: str = "") -> dict[str, bytes]:
    """The files of the archive at `key` whose names start with `wanted`, by name."""
    with _opened(store, key) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith(wanted)]
        return {m.name: _read(tar, m) for m in members}


def read_member(store: ArtifactStore, key: str, name: str) -> bytes:
    found = read_members(store, key, name).get(name)
    if found is None:
        raise TrainingError(f"training output {key} has no {name}")
    return found


def unpack(store: ArtifactStore, key: str, into: Path) -> None:
    for name, data in read_members(store, key).items():
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _opened(store: ArtifactStore, key: str) -> tarfile.TarFile:
    return tarfile.open(fileobj=io.BytesIO(store.get_bytes(key)), mode="r:gz")


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    if handle is None or ".." in Path(member.name).parts or member.name.startswith("/"):
        raise TrainingError(f"training output member '{member.name}' is not a plain relative file")
    return handle.read()


def stage_training_output(store: ArtifactStore, output_key: str, into: Path) -> None:
    """A training output as a registered version holds it: the model's files, evaluation.json and plots/."""
    unpack(store, f"{output_key}/{MODEL_ARCHIVE}", into)
    for name, data in read_members(store, f"{output_key}/{OUTPUT_ARCHIVE}").items():
        if name == "evaluation.json" or name.startswith("plots/"):
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            (into / name).write_bytes(data)
