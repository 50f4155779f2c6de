"""The local ArtifactStore: plain files under one root, laid out exactly like the S3 bucket.

Objects are immutable. A write goes to a temporary file in the target directory and is then linked into place,
which fails if the key already exists, so two writers racing on one key cannot silently replace each other.
Writing the same bytes again is a no-op (a retried step must succeed); different bytes are refused.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from mlops.errors import RegistryError
from mlops.ports import StoredObject

TEMP_PREFIX = ".mlops-tmp-"  # half-written objects; never listed


def validate_key(key: str) -> str:
    """Refuse keys that could escape the root or mean different things on S3 and on disk."""
    problem = _key_problem(key)
    if problem:
        raise RegistryError(f"store key '{key}' {problem}")
    return key


def _key_problem(key: str) -> str | None:
    if not key:
        return "is empty"
    if "\\" in key or "\0" in key:
        return "contains a backslash or NUL; use '/' between segments"
    if key.startswith("/"):
        return "is absolute; keys are relative to the store root"
    segments = key.split("/")
    if "" in segments:
        return "has an empty segment ('//' or a trailing '/')"
    if ".." in segments or "." in segments:
        return "contains '.' or '..' segments"
    return None


def validate_prefix(prefix: str) -> str:
    """A prefix is a key that may end with '/', or '' for the whole store."""
    if prefix:
        validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


class LocalArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put_bytes(self, key: str, data: bytes) -> None:
        target = self._path(key)
        if target.is_file():
            self._refuse_if_different(key, target.read_bytes() == data)
            return
        self._publish(key, target, lambda handle: handle.write(data))

    def put_file(self, key: str, source: Path) -> None:
        target = self._path(key)
        if target.is_file():
            self._refuse_if_different(key, filecmp.cmp(source, target, shallow=False))
            return
        with open(source, "rb") as reader:
            self._publish(key, target, lambda handle: shutil.copyfileobj(reader, handle))

    def put_tree(self, prefix: str, source_dir: Path) -> list[str]:
        """Copy every file under `source_dir` to `prefix/<relative path>`; return the keys written, sorted."""
        base = validate_prefix(prefix).rstrip("/")
        keys = []
        for source in sorted(p for p in Path(source_dir).rglob("*") if p.is_file()):
            relative = source.relative_to(source_dir).as_posix()
            key = f"{base}/{relative}" if base else relative
            self.put_file(key, source)
            keys.append(key)
        return keys

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise RegistryError(f"store: no object at '{key}'")
        return path.read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def head(self, key: str) -> StoredObject:
        """Size and SHA-256 of an object (S3 keeps both as metadata; here they are computed, streamed)."""
        digest, size = hashlib.sha256(), 0
        with self.open(key) as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        path = self._path(key)
        if not path.is_file():
            raise RegistryError(f"store: no object at '{key}'")
        with path.open("rb") as stream:
            yield stream

    def list(self, prefix: str) -> list[str]:
        """Sorted keys starting with `prefix`, a string prefix as on S3 ('models/ir' finds 'models/iris/')."""
        validate_prefix(prefix)
        start = self.root / prefix.rpartition("/")[0]
        if not start.is_dir():
            return []
        keys = (path.relative_to(self.root).as_posix() for path in start.rglob("*") if _is_object(path))
        return sorted(key for key in keys if key.startswith(prefix))

    def delete_prefix(self, prefix: str) -> None:
        """Remove the directory `prefix` and all it holds (used by retention only)."""
        if not validate_prefix(prefix).strip("/"):
            raise RegistryError("store: refusing to delete the whole store (empty prefix)")
        shutil.rmtree(self.root / prefix, ignore_errors=True)

    def uri(self, key: str) -> str:
        """How a job addresses `key` (an S3 URI on AWS): here, a file URI."""
        return (self.root / validate_prefix(key)).absolute().as_uri()

    @contextmanager
    def local_path(self, prefix: str) -> Iterator[Path]:
        """The directory itself: locally there is nothing to download."""
        yield self.root / validate_prefix(prefix)

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    @staticmethod
    def _refuse_if_different(key: str, same_content: bool) -> None:
        if not same_content:
            raise RegistryError(
                f"store: '{key}' already exists with different content; objects are immutable"
            )

    def _publish(self, key: str, target: Path, write: Callable[[BinaryIO], object]) -> None:
        """Write through a temp file in the target directory, then move it into place without overwriting."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            self._link_into_place(key, temp, target)
        finally:
            temp.unlink(missing_ok=True)

    def _link_into_place(self, key: str, temp: Path, target: Path) -> None:
        # os.link refuses an existing target atomically; os.replace would let a racing writer clobber it.
        try:
            os.link(temp, target)
        except FileExistsError:
            self._refuse_if_different(key, filecmp.cmp(temp, target, shallow=False))
        except OSError:  # a file system without hard links: fall back to an atomic (overwriting) rename
            os.replace(temp, target)


def _is_object(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(TEMP_PREFIX)
