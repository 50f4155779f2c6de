"""The fake GitHub's Git database: blobs, trees, commits and refs, hashed exactly as git hashes them.

Real hashes make the fake's object ids behave like GitHub's: the same content is the same blob, the same tree is
the same tree sha, and a commit id depends on its parents, so a rebuilt commit gets a new id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

FILE_MODE = "100644"
TREE_MODE = "040000"
MODE_TYPES = {"100644": "blob", "100755": "blob", "120000": "blob", "040000": "tree", "160000": "commit"}


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    type: str
    sha: str


@dataclass(frozen=True)
class Signature:
    name: str
    email: str
    date: str  # ISO 8601, as GitHub shows it
    epoch: int


@dataclass(frozen=True)
class Commit:
    sha: str
    tree: str
    parents: tuple[str, ...]
    message: str
    author: Signature
    committer: Signature


@dataclass
class GitDatabase:
    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, dict[str, TreeEntry]] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # "heads/main" -> commit sha

    def __post_init__(self) -> None:
        self.empty_tree = self.put_tree({})

    # -- writing -------------------------------------------------------------------------------------------
    def put_blob(self, content: bytes) -> str:
        sha = _hash("blob", content)
        self.blobs[sha] = content
        return sha

    def put_tree(self, entries: dict[str, TreeEntry]) -> str:
        body = b"".join(f"{e.mode.lstrip('0')} {name}".encode() + b"\0" + bytes.fromhex(e.sha)
                        for name, e in sorted(entries.items(), key=_git_order))
        sha = _hash("tree", body)
        self.trees[sha] = dict(entries)
        return sha

    def put_commit(self, tree: str, parents: list[str], message: str, author: Signature,
                   committer: Signature) -> str:
        lines = [f"tree {tree}", *(f"parent {p}" for p in parents),
                 f"author {_signed(author)}", f"committer {_signed(committer)}", "", message]
        sha = _hash("commit", "\n".join(lines).encode())
        self.commits[sha] = Commit(sha, tree, tuple(parents), message, author, committer)
        return sha

    def tree_with(self, base: str | None, changes: dict[str, TreeEntry | None]) -> str:
        """A new tree: ``base`` with each path set to its entry (``None`` deletes it), nested trees rebuilt."""
        entries = dict(self.trees[base]) if base else {}
        by_first: dict[str, dict[str, TreeEntry | None]] = {}
        for path, entry in changes.items():
            first, _, rest = path.partition("/")
            if rest:
                by_first.setdefault(first, {})[rest] = entry
            elif entry is None:
                entries.pop(first, None)
            else:
                entries[first] = entry
        for name, nested in by_first.items():
            current = entries.get(name)
            sub = self.tree_with(current.sha if current and current.type == "tree" else None, nested)
            if self.trees[sub]:
                entries[name] = TreeEntry(TREE_MODE, "tree", sub)
            else:
                entries.pop(name, None)  # git keeps no empty directories
        return self.put_tree(entries)

    # -- reading -------------------------------------------------------------------------------------------
    def files(self, tree: str, prefix: str = "") -> dict[str, TreeEntry]:
        """Every entry under ``tree``, recursively, by full path (directories included, as GitHub lists them)."""
        found: dict[str, TreeEntry] = {}
        for name, entry in sorted(self.trees[tree].items()):
            found[prefix + name] = entry
            if entry.type == "tree":
                found.update(self.files(entry.sha, f"{prefix}{name}/"))
        return found

    def entry_at(self, tree: str, path: str) -> TreeEntry | None:
        entry = TreeEntry(TREE_MODE, "tree", tree)
        for part in filter(None, path.split("/")):
            if entry.type != "tree" or part not in self.trees[entry.sha]:
                return None
            entry = self.trees[entry.sha][part]
        return entry

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        pending, seen = [descendant], set()
        while pending:
            sha = pending.pop()
            if sha == ancestor:
                return True
            if sha not in seen:
                seen.add(sha)
                pending.extend(self.commits[sha].parents)
        return False

    def changed_paths(self, commit: Commit) -> list[str]:
        """The file paths this commit adds, changes or removes compared with its first parent."""
        before = self._blobs_of(self.commits[commit.parents[0]].tree) if commit.parents else {}
        after = self._blobs_of(commit.tree)
        return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))

    def _blobs_of(self, tree: str) -> dict[str, str]:
        return {path: entry.sha for path, entry in self.files(tree).items() if entry.type != "tree"}


def _hash(kind: str, body: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(body)}".encode() + b"\0" + body).hexdigest()


def _git_order(item: tuple[str, TreeEntry]) -> str:
    """git sorts tree entries by name, a directory as if its name ended in a slash."""
    name, entry = item
    return name + "/" if entry.type == "tree" else name


def _signed(signature: Signature) -> str:
    return f"{signature.name} <{signature.email}> {signature.epoch} +0000"
