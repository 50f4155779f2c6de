"""The S3 artifact store on moto: SSE-KMS and create-only writes, VersionIds, metadata without downloads."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from mlops.backends.aws.clients import AwsClients
from mlops.backends.aws.s3_store import S3ArtifactStore
from mlops.errors import RegistryError, UsageError

BUCKET = "mlops-artifacts"


@pytest.fixture
def store(aws: AwsClients, tmp_path: Path) -> S3ArtifactStore:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    key_id = aws.client("kms").create_key()["KeyMetadata"]["KeyId"]
    return S3ArtifactStore(s3, BUCKET, key_id, tmp_path / "scratch", max_local_bytes=1000)


def raw_head(store: S3ArtifactStore, key: str) -> dict[str, Any]:
    return dict(store.s3.head_object(Bucket=BUCKET, Key=key))


def test_every_write_is_encrypted_with_the_configured_kms_key_and_versioned(store: S3ArtifactStore) -> None:
    # WHEN an object is written
    info = store.write_bytes("runs/t1/output/evaluation.json", b'{"accuracy": 0.9}')
    # THEN S3 holds it under SSE-KMS with our key, and the answer names the version S3 created
    head = raw_head(store, "runs/t1/output/evaluation.json")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith(store.kms_key_id)
    assert info.version_id == head["VersionId"] and info.version_id
    assert info.sha256 == hashlib.sha256(b'{"accuracy": 0.9}').hexdigest()
    assert store.get_bytes("runs/t1/output/evaluation.json") == b'{"accuracy": 0.9}'


def test_rewriting_the_same_bytes_is_a_no_op_and_different_bytes_are_refused(store: S3ArtifactStore) -> None:
    first = store.write_bytes("models/iris/v1.0.0/model_metadata.json", b"{}")
    # WHEN a retried step writes identical content THEN it gets the existing version back, no new one
    again = store.write_bytes("models/iris/v1.0.0/model_metadata.json", b"{}")
    assert again.version_id == first.version_id
    # WHEN different content comes for the same key THEN it is refused and the object is unchanged
    with pytest.raises(RegistryError, match="already exists with different content"):
        store.put_bytes("models/iris/v1.0.0/model_metadata.json", b'{"x": 1}')
    assert store.get_bytes("models/iris/v1.0.0/model_metadata.json") == b"{}"


def test_a_tree_is_uploaded_file_by_file_and_described_without_downloading(
    store: S3ArtifactStore, tmp_path: Path
) -> None:
    source = tmp_path / "model"
    (source / "plots").mkdir(parents=True)
    (source / "model.skops").write_bytes(b"weights")
    (source / "plots" / "roc.png").write_bytes(b"png!")
    # WHEN the tree is put under a prefix
    keys = store.put_tree("models/iris/v1.0.0/", source)
    # THEN each file is an object, and describe gives sizes, ETags and versions from one listing
    assert keys == ["models/iris/v1.0.0/model.skops", "models/iris/v1.0.0/plots/roc.png"]
    described = store.describe("models/iris/v1.0.0/")
    assert [(info.key, info.size) for info in described] == [(keys[0], 7), (keys[1], 4)]
    assert all(info.version_id and info.etag for info in described)
    assert store.head(keys[0]).sha256 == hashlib.sha256(b"weights").hexdigest()


def test_describe_sees_data_uploaded_by_others_without_reading_it(store: S3ArtifactStore) -> None:
    # GIVEN a dataset a user uploaded with the AWS CLI (no sha256 metadata of ours)
    store.s3.put_object(Bucket=BUCKET, Key="datasets/big/train/part-0.csv", Body=b"a,b\n" * 100)
    # WHEN it is described THEN size and version come from S3's metadata; no sha256 is invented
    (info,) = store.describe("datasets/big/")
    assert (info.size, info.sha256) == (400, None)
    assert store.head(info.key).sha256 is None


def test_list_is_a_string_prefix_and_exists_reads_no_body(store: S3ArtifactStore) -> None:
    store.put_bytes("models/iris/v1.0.0/a", b"1")
    store.put_bytes("models/iris-2/v1.0.0/a", b"2")
    assert store.list("models/iris") == ["models/iris-2/v1.0.0/a", "models/iris/v1.0.0/a"]
    assert store.list("models/iris/") == ["models/iris/v1.0.0/a"]
    assert store.exists("models/iris/v1.0.0/a") and not store.exists("models/iris/v9.0.0/a")


def test_a_missing_object_says_which_key(store: S3ArtifactStore) -> None:
    with pytest.raises(RegistryError, match=r"no object at 'runs/none/evaluation\.json'"):
        store.get_bytes("runs/none/evaluation.json")


def test_delete_prefix_takes_the_folder_only_and_never_the_whole_store(store: S3ArtifactStore) -> None:
    store.put_bytes("runs/t1/model/a", b"1")
    store.put_bytes("runs/t10/model/a", b"2")
    # WHEN the folder runs/t1 is deleted THEN runs/t10 (same string prefix) stays
    store.delete_prefix("runs/t1")
    assert store.list("runs/") == ["runs/t10/model/a"]
    with pytest.raises(RegistryError, match="whole store"):
        store.delete_prefix("")


def test_local_path_downloads_a_small_model_and_cleans_up(store: S3ArtifactStore) -> None:
    store.put_bytes("models/iris/v1.0.0/model.skops", b"weights")
    store.put_bytes("models/iris/v1.0.0/plots/roc.png", b"png")
    with store.local_path("models/iris/v1.0.0/") as folder:
        assert (folder / "model.skops").read_bytes() == b"weights"
        assert (folder / "plots" / "roc.png").read_bytes() == b"png"
    assert not folder.exists()


def test_local_path_refuses_data_too_big_to_download(store: S3ArtifactStore) -> None:
    store.put_bytes("datasets/big/train/data.csv", b"x" * 1001)
    with pytest.raises(RegistryError, match="1001 bytes, more than the 1000"), store.local_path("datasets/big"):
        pass


def test_bad_keys_and_missing_settings_are_refused_before_any_call(store: S3ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"contains '\.' or '\.\.' segments"):
        store.put_bytes("models/../secrets", b"x")
    with pytest.raises(UsageError, match="MLOPS_BUCKET"):
        S3ArtifactStore(store.s3, None, "key", tmp_path)
    # a store without a KMS key only reads (the read-only CLI commands): every write is refused before the call
    reader = S3ArtifactStore(store.s3, BUCKET, None, tmp_path)
    with pytest.raises(UsageError, match="MLOPS_KMS_KEY_ID: not set"):
        reader.put_bytes("models/iris/v1.0.0/model.skops", b"x")
    assert not store.exists("models/iris/v1.0.0/model.skops")
