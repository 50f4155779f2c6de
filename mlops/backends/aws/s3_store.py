"""The ArtifactStore port on S3: the same keys and the same immutability as the local store.

Every write is SSE-KMS with the configured key, create-only (`If-None-Match: *`, so two writers racing on a
key cannot replace each other), carries its SHA-256 (as S3's own checksum, which S3 verifies, and as the
`sha256` user metadata, which `head` returns), and answers with the object's VersionId. Writing the same bytes
again is a no-op; different bytes under an existing key are refused, as locally.

Nothing here downloads a dataset to look at it: `head` and `describe` answer from S3's metadata (size, ETag,
VersionId). The one download is `local_path`, for small things only (a model to verify): it refuses a prefix
larger than `max_local_bytes`; big data reaches SageMaker jobs by its S3 prefix, never through this process.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from mlops.backends.aws.clients import aws_call
from mlops.backends.local.store import validate_key, validate_prefix
from mlops.errors import AwsConflict, AwsNotFound, RegistryError, UsageError

if TYPE_CHECKING:
    from mlops.ports import ArtifactStore

MAX_SINGLE_PUT = 5 * 1024**3  # S3's limit for one PutObject
DEFAULT_MAX_LOCAL_BYTES = 512 * 1024**2
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys


@dataclass(frozen=True)
class ObjectInfo:
    """What S3 knows about one object, without reading it."""

    key: str
    size: int
    etag: str  # without quotes; under SSE-KMS it is NOT the MD5 of the content
    version_id: str | None  # None only on a bucket without versioning
    sha256: str | None = None  # hex, when the object was written by this store (head only)


class S3ArtifactStore:
    def __init__(
        self, s3: Any, bucket: str | None, kms_key_id: str | None, scratch: Path,
        max_local_bytes: int = DEFAULT_MAX_LOCAL_BYTES,
    ) -> None:
        if not bucket:
            raise UsageError("MLOPS_BUCKET: not set; the S3 artifact store needs its bucket")
        self.s3, self.bucket, self.kms_key_id = s3, bucket, kms_key_id  # no key: a store that only reads
        self.root = Path(scratch)  # the port's local root: a scratch directory (see mlops.ports.ArtifactStore)
        self.max_local_bytes = max_local_bytes

    # --- writing ---------------------------------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes) -> None:
        self.write_bytes(key, data)

    def put_file(self, key: str, source: Path) -> None:
        self.write_file(key, source)

    def write_bytes(self, key: str, data: bytes) -> ObjectInfo:
        """put_bytes, answering with what was stored (its VersionId above all)."""
        return self._put(validate_key(key), data, len(data), hashlib.sha256(data).digest())

    def write_file(self, key: str, source: Path) -> ObjectInfo:
        """put_file, answering with what was stored; one PutObject streamed from the file (at most 5 GiB)."""
        size = Path(source).stat().st_size
        if size > MAX_SINGLE_PUT:
            raise RegistryError(
                f"store: {source} is {size} bytes, over S3's 5 GiB single upload; upload large data with "
                "`aws s3 cp` and name its prefix"
            )
        digest = _file_sha256(Path(source))
        with open(source, "rb") as body:
            return self._put(validate_key(key), body, size, digest)

    def put_tree(self, prefix: str, source_dir: Path) -> list[str]:
        """Upload every file under `source_dir` to `prefix/<relative path>`; return the keys written, sorted."""
        base = validate_prefix(prefix).rstrip("/")
        files = sorted(path for path in Path(source_dir).rglob("*") if path.is_file())
        keys = [f"{base}/{path.relative_to(source_dir).as_posix()}".lstrip("/") for path in files]
        for key, path in zip(keys, files, strict=True):
            self.write_file(key, path)
        return keys

    def _put(self, key: str, body: bytes | BinaryIO, size: int, digest: bytes) -> ObjectInfo:
        if not self.kms_key_id:
            raise UsageError("MLOPS_KMS_KEY_ID: not set; every write to the artifact bucket is SSE-KMS with that key")
        try:
            with aws_call(f"store: writing s3://{self.bucket}/{key}"):
                answer = self.s3.put_object(
                    Bucket=self.bucket, Key=key, Body=body, ContentLength=size, IfNoneMatch="*",
                    ChecksumSHA256=base64.b64encode(digest).decode(), Metadata={"sha256": digest.hex()},
                    ServerSideEncryption="aws:kms", SSEKMSKeyId=self.kms_key_id, BucketKeyEnabled=True,
                )
        except AwsConflict:
            return self._same_or_refuse(key, digest.hex())
        return ObjectInfo(key, size, _etag(answer), answer.get("VersionId"), digest.hex())

    def _same_or_refuse(self, key: str, sha256: str) -> ObjectInfo:
        existing = self.head(key)
        if existing.sha256 != sha256:
            raise RegistryError(f"store: '{key}' already exists with different content; objects are immutable")
        return existing  # a retried step wrote the same bytes: nothing to do

    # --- reading ---------------------------------------------------------------------------------------

    def get_bytes(self, key: str) -> bytes:
        try:
            with aws_call(f"store: reading s3://{self.bucket}/{key}"):
                return bytes(self.s3.get_object(Bucket=self.bucket, Key=validate_key(key))["Body"].read())
        except AwsNotFound:
            raise RegistryError(f"store: no object at '{key}'") from None

    def head(self, key: str) -> ObjectInfo:
        """The object's size, ETag, VersionId and SHA-256 (when this store wrote it), without reading it."""
        with aws_call(f"store: looking at s3://{self.bucket}/{key}"):
            answer = self.s3.head_object(Bucket=self.bucket, Key=validate_key(key))
        sha256 = answer.get("Metadata", {}).get("sha256")
        return ObjectInfo(key, int(answer["ContentLength"]), _etag(answer), answer.get("VersionId"), sha256)

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        """The object's body as a stream (GetObject): read in pieces, never held whole."""
        try:
            with aws_call(f"store: reading s3://{self.bucket}/{key}"):
                body = self.s3.get_object(Bucket=self.bucket, Key=validate_key(key))["Body"]
        except AwsNotFound:
            raise RegistryError(f"store: no object at '{key}'") from None
        try:
            yield body
        finally:
            body.close()

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{validate_prefix(key)}"

    def exists(self, key: str) -> bool:
        try:
            self.head(key)
        except AwsNotFound:
            return False
        return True

    def list(self, prefix: str) -> list[str]:
        """Sorted keys starting with `prefix`, a string prefix as on S3 ('models/ir' finds 'models/iris/')."""
        return [item["Key"] for item in self._pages("list_objects_v2", "Contents", validate_prefix(prefix))]

    def describe(self, prefix: str) -> builtins.list[ObjectInfo]:
        """The current version of every object under `prefix`, sorted by key: one listing, no download."""
        versions = self._pages("list_object_versions", "Versions", validate_prefix(prefix))
        latest = (item for item in versions if item.get("IsLatest"))
        return sorted((_listed(item) for item in latest), key=lambda info: info.key)

    def _pages(self, operation: str, field: str, prefix: str) -> builtins.list[dict[str, Any]]:
        with aws_call(f"store: listing s3://{self.bucket}/{prefix}"):
            pages = self.s3.get_paginator(operation).paginate(Bucket=self.bucket, Prefix=prefix)
            return sorted((item for page in pages for item in page.get(field, [])), key=lambda item: item["Key"])

    # --- deleting and downloading ----------------------------------------------------------------------

    def delete_prefix(self, prefix: str) -> None:
        """Delete everything under the folder `prefix` (retention only). With versioning on, S3 keeps the bytes
        as noncurrent versions until the bucket's lifecycle rule expires them."""
        folder = validate_prefix(prefix).strip("/")
        if not folder:
            raise RegistryError("store: refusing to delete the whole store (empty prefix)")
        keys = self.list(folder + "/")  # the folder: 'runs/t1' must not take 'runs/t10/' with it
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
            with aws_call(f"store: deleting s3://{self.bucket}/{folder}/"):
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    @contextmanager
    def local_path(self, prefix: str) -> Iterator[Path]:
        """The objects under `prefix` downloaded to a scratch directory, removed afterwards (small data only)."""
        folder = validate_prefix(prefix).rstrip("/") + "/"
        objects = self.describe(folder)
        self._refuse_large(folder, sum(info.size for info in objects))
        self.root.mkdir(parents=True, exist_ok=True)
        target = Path(tempfile.mkdtemp(prefix="mlops-download-", dir=self.root))
        try:
            for info in objects:
                self._download(info.key, target / info.key[len(folder) :])
            yield target
        finally:
            shutil.rmtree(target, ignore_errors=True)

    def _refuse_large(self, prefix: str, size: int) -> None:
        if size > self.max_local_bytes:
            raise RegistryError(
                f"store: {prefix} holds {size} bytes, more than the {self.max_local_bytes} this process downloads; "
                "large data is read by SageMaker jobs from S3, not here"
            )

    def _download(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with aws_call(f"store: downloading s3://{self.bucket}/{key}"):
            self.s3.download_file(self.bucket, key, str(path))


def _etag(answer: dict[str, Any]) -> str:
    return str(answer.get("ETag", "")).strip('"')


def _listed(item: dict[str, Any]) -> ObjectInfo:
    version = item.get("VersionId")
    return ObjectInfo(item["Key"], int(item["Size"]), _etag(item), None if version == "null" else version)


def _file_sha256(path: Path) -> bytes:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.digest()


if TYPE_CHECKING:  # mypy proves the store fits the port

    def _fits_the_port(store: S3ArtifactStore) -> ArtifactStore:
        return store
