"""The JSON GitHub answers with, built from the fake's records.

Every object carries the fields GitHub's description marks required (the checker holds the fake to that), and
the API URLs inside point back at the fake, since PyGithub follows them (an edited comment is PATCHed at the
comment's own ``url``).
"""

from __future__ import annotations

import base64
import copy
import json
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fake_github_git import Commit, GitDatabase
from fake_github_state import ACTIONS_BOT, PERMISSION_OF_ROLE, Account, Comment, Issue, Label, Reaction
from openapi_check import github_description

KNOWN_USER_IDS = {ACTIONS_BOT: 41898282, "Codertocat": 21031067, "octocat": 583231}
WEB = "https://github.com"
REACTION_CONTENTS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket")


@dataclass(frozen=True)
class Site:
    api: str  # the fake's base URL, what GITHUB_API_URL points at
    owner: str
    name: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def repo_api(self) -> str:
        return f"{self.api}/repos/{self.full_name}"

    @property
    def repo_web(self) -> str:
        return f"{WEB}/{self.full_name}"


def node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


def user(site: Site, account: Account) -> dict[str, Any]:
    uid = KNOWN_USER_IDS.get(account.login, zlib.crc32(account.login.encode()) % 100_000_000)
    url = f"{site.api}/users/{quote(account.login)}"
    html = f"{WEB}/apps/{account.login.removesuffix('[bot]')}" if account.type == "Bot" else f"{WEB}/{account.login}"
    return {
        "login": account.login, "id": uid, "node_id": node_id(account.type, uid),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4", "gravatar_id": "", "url": url,
        "html_url": html, "followers_url": f"{url}/followers", "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}", "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions", "organizations_url": f"{url}/orgs", "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}", "received_events_url": f"{url}/received_events",
        "type": account.type, "user_view_type": "public", "site_admin": False,
    }


def author_association(site: Site, login: str, role: str) -> str:
    if login == site.owner:
        return "OWNER"
    return "COLLABORATOR" if role != "none" else "NONE"


def label(site: Site, record: Label) -> dict[str, Any]:
    return {"id": record.id, "node_id": node_id("Label", record.id),
            "url": f"{site.repo_api}/labels/{quote(record.name)}", "name": record.name,
            "description": record.description, "color": record.color, "default": False}


def issue(site: Site, record: Issue, *, labels: list[Label], comments: int, association: str) -> dict[str, Any]:
    url = f"{site.repo_api}/issues/{record.number}"
    return {
        "id": record.id, "node_id": node_id("Issue", record.id), "url": url, "repository_url": site.repo_api,
        "labels_url": f"{url}/labels{{/name}}", "comments_url": f"{url}/comments", "events_url": f"{url}/events",
        "html_url": f"{site.repo_web}/issues/{record.number}", "timeline_url": f"{url}/timeline",
        "number": record.number, "state": "open", "title": record.title, "body": record.body,
        "user": user(site, record.author), "labels": [label(site, one) for one in labels], "assignee": None,
        "assignees": [], "milestone": None, "locked": False, "active_lock_reason": None, "comments": comments,
        "closed_at": None, "created_at": record.created_at, "updated_at": record.updated_at,
        "author_association": association, "reactions": reaction_rollup(f"{url}/reactions", []),
    }


def comment(site: Site, record: Comment, *, association: str) -> dict[str, Any]:
    url = f"{site.repo_api}/issues/comments/{record.id}"
    return {
        "id": record.id, "node_id": node_id("IssueComment", record.id), "url": url, "body": record.body,
        "html_url": f"{site.repo_web}/issues/{record.issue_number}#issuecomment-{record.id}",
        "user": user(site, record.user), "created_at": record.created_at, "updated_at": record.updated_at,
        "issue_url": f"{site.repo_api}/issues/{record.issue_number}", "author_association": association,
        "performed_via_github_app": None, "reactions": reaction_rollup(f"{url}/reactions", record.reactions),
    }


def reaction_rollup(url: str, reactions: list[Reaction]) -> dict[str, Any]:
    counts = {content: sum(r.content == content for r in reactions) for content in REACTION_CONTENTS}
    return {"url": url, "total_count": len(reactions), **counts}


def reaction(site: Site, record: Reaction) -> dict[str, Any]:
    return {"id": record.id, "node_id": node_id("Reaction", record.id), "user": user(site, record.user),
            "content": record.content, "created_at": record.created_at}


def collaborator_permission(site: Site, login: str, role: str) -> dict[str, Any]:
    levels = ["read", "triage", "write", "maintain", "admin"]
    rank = levels.index(role) if role in levels else -1
    permissions = {"pull": rank >= 0, "triage": rank >= 1, "push": rank >= 2, "maintain": rank >= 3,
                   "admin": rank >= 4}
    collaborator = {**user(site, Account(login)), "permissions": permissions, "role_name": role}
    return {"permission": PERMISSION_OF_ROLE[role], "role_name": role, "user": collaborator}


def repository(site: Site, default_branch: str) -> dict[str, Any]:
    """GitHub's own example of a repository, retargeted at this repository and the fake's URLs."""
    example = github_description().document["components"]["examples"]["full-repository-default-response"]["value"]
    text = json.dumps(example).replace("https://api.github.com", site.api).replace("octocat/Hello-World",
                                                                                   site.full_name)
    repo: dict[str, Any] = json.loads(text)
    for borrowed in ("organization", "parent", "source", "template_repository"):
        repo.pop(borrowed)  # the example is a fork inside an organization; this repository is neither
    repo.update(name=site.name, full_name=site.full_name, owner=user(site, Account(site.owner)), fork=False,
                default_branch=default_branch, language="Python", description="A fake repository for the tests")
    return repo


def git_ref(site: Site, ref: str, sha: str) -> dict[str, Any]:
    return {"ref": f"refs/{ref}", "node_id": node_id("Ref", zlib.crc32(ref.encode())),
            "url": f"{site.repo_api}/git/refs/{ref}",
            "object": {"type": "commit", "sha": sha, "url": f"{site.repo_api}/git/commits/{sha}"}}


def git_commit(site: Site, record: Commit) -> dict[str, Any]:
    def person(signature: Any) -> dict[str, str]:
        return {"name": signature.name, "email": signature.email, "date": signature.date}

    return {
        "sha": record.sha, "node_id": node_id("Commit", zlib.crc32(record.sha.encode())),
        "url": f"{site.repo_api}/git/commits/{record.sha}", "html_url": f"{site.repo_web}/commit/{record.sha}",
        "author": person(record.author), "committer": person(record.committer), "message": record.message,
        "tree": {"sha": record.tree, "url": f"{site.repo_api}/git/trees/{record.tree}"},
        "parents": [{"sha": p, "url": f"{site.repo_api}/git/commits/{p}", "html_url": f"{site.repo_web}/commit/{p}"}
                    for p in record.parents],
        "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None,
                         "verified_at": None},
    }


def git_tree(site: Site, git: GitDatabase, sha: str, *, recursive: bool) -> dict[str, Any]:
    entries = git.files(sha) if recursive else git.trees[sha]
    tree = []
    for path, entry in sorted(entries.items()):
        kind = "blobs" if entry.type == "blob" else "trees"
        item = {"path": path, "mode": entry.mode, "type": entry.type, "sha": entry.sha,
                "url": f"{site.repo_api}/git/{kind}/{entry.sha}"}
        tree.append({**item, "size": len(git.blobs[entry.sha])} if entry.type == "blob" else item)
    return {"sha": sha, "url": f"{site.repo_api}/git/trees/{sha}", "tree": tree, "truncated": False}


def short_blob(site: Site, sha: str) -> dict[str, Any]:
    return {"url": f"{site.repo_api}/git/blobs/{sha}", "sha": sha}


def blob(site: Site, sha: str, content: bytes) -> dict[str, Any]:
    return {**short_blob(site, sha), "node_id": node_id("Blob", zlib.crc32(sha.encode())), "size": len(content),
            "content": base64_lines(content), "encoding": "base64"}


def content_entry(site: Site, git: GitDatabase, path: str, entry: Any, ref: str) -> dict[str, Any]:
    """One item of ``GET /contents``: a file (with its content) or a directory, as GitHub describes it."""
    is_file = entry.type == "blob"
    url = f"{site.repo_api}/contents/{quote(path)}?ref={quote(ref)}"
    git_url = f"{site.repo_api}/git/{'blobs' if is_file else 'trees'}/{entry.sha}"
    html_url = f"{site.repo_web}/{'blob' if is_file else 'tree'}/{ref}/{path}"
    download = f"https://raw.githubusercontent.com/{site.full_name}/{ref}/{path}" if is_file else None
    item = {"type": "file" if is_file else "dir", "size": len(git.blobs[entry.sha]) if is_file else 0,
            "name": path.rsplit("/", 1)[-1], "path": path, "sha": entry.sha, "url": url, "git_url": git_url,
            "html_url": html_url, "download_url": download,
            "_links": {"self": url, "git": git_url, "html": html_url}}
    if is_file:
        item.update(content=base64_lines(git.blobs[entry.sha]), encoding="base64")
    return item


def rate_limit(limit: int, remaining: int, reset: int) -> dict[str, Any]:
    core = {"limit": limit, "remaining": remaining, "reset": reset, "used": limit - remaining}
    search = {"limit": 30, "remaining": 30, "reset": reset, "used": 0}
    return {"resources": {"core": core, "search": search}, "rate": copy.deepcopy(core)}


def error(message: str, documentation_url: str, status: int, **extra: Any) -> dict[str, Any]:
    return {"message": message, "documentation_url": documentation_url, "status": str(status), **extra}


def base64_lines(content: bytes) -> str:
    """Base64 the way GitHub sends file content: wrapped every 60 characters, a newline after each line."""
    encoded = base64.b64encode(content).decode()
    return "".join(encoded[i:i + 60] + "\n" for i in range(0, len(encoded), 60))
