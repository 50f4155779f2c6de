"""The local artifact store: S3-like keys on disk, immutable objects, keys that cannot escape the root."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mlops.backends.local.store import TEMP_PREFIX, LocalArtifactStore
from mlops.errors import RegistryError


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "store")


def make_tree(root: Path) -> Path:
    (root / "nested").mkdir(parents=True)
    (root / "model.joblib").write_bytes(b"weights")
    (root / "nested" / "plot.png").write_bytes(b"png")
    return root


def test_put_bytes_lands_under_the_root_at_the_key_path(store: LocalArtifactStore) -> None:
    # GIVEN an empty store WHEN an object is written
    store.put_bytes("datasets/iris/train/data.csv", b"a,b\n1,2\n")
    # THEN it is a plain file mirroring the S3 layout, readable back by key
    assert (store.root / "datasets/iris/train/data.csv").read_bytes() == b"a,b\n1,2\n"
    assert store.get_bytes("datasets/iris/train/data.csv") == b"a,b\n1,2\n"
    assert store.exists("datasets/iris/train/data.csv")
    assert not store.exists("datasets/iris/test/data.csv")


def test_writing_the_same_bytes_again_is_a_no_op(store: LocalArtifactStore) -> None:
    # GIVEN an object WHEN a retried step writes identical content THEN nothing fails and nothing changes
    store.put_bytes("runs/t1/evaluation.json", b"{}")
    store.put_bytes("runs/t1/evaluation.json", b"{}")
    assert store.get_bytes("runs/t1/evaluation.json") == b"{}"


def test_different_bytes_under_an_existing_key_are_refused(store: LocalArtifactStore) -> None:
    store.put_bytes("models/iris/v1.0.0/model.joblib", b"original")
    with pytest.raises(RegistryError, match="already exists with different content"):
        store.put_bytes("models/iris/v1.0.0/model.joblib", b"tampered")
    assert store.get_bytes("models/iris/v1.0.0/model.joblib") == b"original"


def test_put_file_is_immutable_too(store: LocalArtifactStore, tmp_path: Path) -> None:
    same, other = tmp_path / "same.bin", tmp_path / "other.bin"
    same.write_bytes(b"v1")
    other.write_bytes(b"v2")
    store.put_file("models/m/v1.0.0/model.bin", same)
    store.put_file("models/m/v1.0.0/model.bin", same)  # idempotent
    with pytest.raises(RegistryError, match="immutable"):
        store.put_file("models/m/v1.0.0/model.bin", other)
    assert store.get_bytes("models/m/v1.0.0/model.bin") == b"v1"


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../outside", "models/../../outside", "models\\m", "a//b", "a/", "./a", "a/./b"],
)
def test_keys_that_could_escape_or_are_ambiguous_are_refused_before_touching_disk(
    store: LocalArtifactStore, tmp_path: Path, key: str
) -> None:
    with pytest.raises(RegistryError, match="store key"):
        store.put_bytes(key, b"x")
    assert not store.root.exists()  # nothing was created, not even the root
    assert not (tmp_path / "outside").exists()


def test_reading_a_missing_key_says_which(store: LocalArtifactStore) -> None:
    with pytest.raises(RegistryError, match=r"no object at 'models/m/v9\.9\.9/model\.bin'"):
        store.get_bytes("models/m/v9.9.9/model.bin")


def test_put_tree_copies_recursively_and_returns_sorted_keys(
    store: LocalArtifactStore, tmp_path: Path
) -> None:
    keys = store.put_tree("runs/t1/model", make_tree(tmp_path / "out"))
    assert keys == ["runs/t1/model/model.joblib", "runs/t1/model/nested/plot.png"]
    assert store.get_bytes("runs/t1/model/nested/plot.png") == b"png"


def test_list_is_sorted_and_uses_s3_string_prefixes(store: LocalArtifactStore) -> None:
    for key in ["models/iris/v1.0.1/m", "models/iris/v1.0.0/m", "models/iris-2/v1.0.0/m", "datasets/x/a"]:
        store.put_bytes(key, b"x")
    assert store.list("models/iris/") == ["models/iris/v1.0.0/m", "models/iris/v1.0.1/m"]
    assert store.list("models/iris") == [
        "models/iris-2/v1.0.0/m",
        "models/iris/v1.0.0/m",
        "models/iris/v1.0.1/m",
    ]
    assert store.list("nothing/here") == []
    assert len(store.list("")) == 4


def test_writes_leave_no_temporary_files_behind(store: LocalArtifactStore) -> None:
    store.put_bytes("a/b", b"1")
    store.put_bytes("a/b", b"1")
    with pytest.raises(RegistryError):
        store.put_bytes("a/b", b"2")
    assert [p.name for p in (store.root / "a").iterdir()] == ["b"]
    (store.root / "a" / f"{TEMP_PREFIX}crashed").write_bytes(b"half")  # a writer killed mid-way
    assert store.list("a/") == ["a/b"]


def test_local_path_is_the_directory_holding_the_prefix(store: LocalArtifactStore, tmp_path: Path) -> None:
    store.put_tree("models/m/v1.0.0", make_tree(tmp_path / "out"))
    with store.local_path("models/m/v1.0.0/") as directory:
        assert (directory / "model.joblib").read_bytes() == b"weights"


def test_delete_prefix_removes_only_that_tree(store: LocalArtifactStore) -> None:
    store.put_bytes("models/m/v1.0.0/model.bin", b"old")
    store.put_bytes("models/m/v1.0.1/model.bin", b"new")
    store.delete_prefix("models/m/v1.0.0/")
    assert store.list("models/m/") == ["models/m/v1.0.1/model.bin"]


def test_delete_prefix_refuses_the_whole_store_and_bad_prefixes(store: LocalArtifactStore) -> None:
    store.put_bytes("models/m/v1.0.0/model.bin", b"x")
    for prefix in ["", "/", "../"]:
        with pytest.raises(RegistryError):
            store.delete_prefix(prefix)
    assert store.exists("models/m/v1.0.0/model.bin")


def test_head_gives_size_and_sha256_without_handing_out_a_path(store: LocalArtifactStore) -> None:
    store.put_bytes("datasets/d/train/data.csv", b"a,target\n1,0\n")
    head = store.head("datasets/d/train/data.csv")
    assert (head.key, head.size) == ("datasets/d/train/data.csv", 13)
    assert head.sha256 == hashlib.sha256(b"a,target\n1,0\n").hexdigest()
    with pytest.raises(RegistryError, match=r"no object at 'datasets/d/train/none\.csv'"):
        store.head("datasets/d/train/none.csv")


def test_open_streams_an_object_and_uri_addresses_it(store: LocalArtifactStore) -> None:
    store.put_bytes("runs/t1/output/output.tar.gz", b"x" * 3_000_000)
    with store.open("runs/t1/output/output.tar.gz") as stream:
        assert len(stream.read(1 << 20)) == 1 << 20
    assert store.uri("runs/t1") == (store.root / "runs" / "t1").absolute().as_uri()
