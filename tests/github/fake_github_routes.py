"""What the fake GitHub does for each operation of GitHub's description, keyed by its ``operationId``.

A route gets the repository state and the checked request, changes the state as GitHub would, and answers as
GitHub does: the status, the JSON and, for lists, the ``link`` header of GitHub's pagination.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import fake_github_shapes as shapes
from fake_github_git import MODE_TYPES, TreeEntry
from fake_github_shapes import Site
from fake_github_state import (
    DEFAULT_LABEL_COLOR,
    Account,
    Comment,
    Issue,
    Reaction,
    RepositoryState,
    Variable,
    now_iso,
    signature_now,
)


@dataclass
class Call:
    params: dict[str, str]  # path parameters, decoded
    query: dict[str, str]
    body: Any  # the parsed JSON body, or None
    url: str  # the request's URL without its query
    docs_url: str  # the operation's page in GitHub's docs, as GitHub's errors cite it
    caller: Account  # whom the token belongs to


@dataclass
class Reply:
    status: int
    body: Any = None  # a JSON value; None sends no body
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[RepositoryState, Site, Call], Reply]


def not_found(call: Call, message: str = "Not Found") -> Reply:
    return Reply(404, shapes.error(message, call.docs_url, 404))


def unprocessable(call: Call, message: str, **extra: Any) -> Reply:
    return Reply(422, shapes.error(message, call.docs_url, 422, **extra))


def page(call: Call, items: list[Any]) -> Reply:
    """One page of a list, with GitHub's ``link`` header pointing at the others."""
    per_page = min(int(call.query.get("per_page", 30)), 100)
    number = max(int(call.query.get("page", 1)), 1)
    last = max(1, -(-len(items) // per_page))
    kept = {k: v for k, v in call.query.items() if k not in {"page", "per_page"}}

    def link(to: int, rel: str) -> str:
        return f'<{call.url}?{urlencode({**kept, "per_page": per_page, "page": to})}>; rel="{rel}"'

    links = [link(number + 1, "next"), link(last, "last")] if number < last else []
    links += [link(1, "first"), link(number - 1, "prev")] if number > 1 else []
    chunk = items[(number - 1) * per_page:number * per_page]
    return Reply(200, chunk, {"link": ", ".join(links)} if links else {})


# -- issues, comments, reactions ---------------------------------------------------------------------------
def _issue(repo: RepositoryState, call: Call) -> Issue | None:
    return repo.issues.get(int(call.params["issue_number"]))


def _comment(repo: RepositoryState, call: Call) -> Comment | None:
    return repo.comments.get(int(call.params["comment_id"]))


def issue_json(repo: RepositoryState, site: Site, issue: Issue) -> dict[str, Any]:
    return shapes.issue(site, issue, labels=[repo.label(name) for name in issue.labels],
                        comments=sum(c.issue_number == issue.number for c in repo.comments.values()),
                        association=shapes.author_association(site, issue.author.login, repo.role(issue.author.login)))


def comment_json(repo: RepositoryState, site: Site, comment: Comment) -> dict[str, Any]:
    association = shapes.author_association(site, comment.user.login, repo.role(comment.user.login))
    return shapes.comment(site, comment, association=association)


def get_issue(repo: RepositoryState, site: Site, call: Call) -> Reply:
    issue = _issue(repo, call)
    return Reply(200, issue_json(repo, site, issue)) if issue else not_found(call)


def list_comments(repo: RepositoryState, site: Site, call: Call) -> Reply:
    issue = _issue(repo, call)
    if issue is None:
        return not_found(call)
    since = call.query.get("since", "")
    found = [c for c in repo.comments.values() if c.issue_number == issue.number and c.updated_at >= since]
    return page(call, [comment_json(repo, site, c) for c in sorted(found, key=lambda c: c.id)])


def create_comment(repo: RepositoryState, site: Site, call: Call) -> Reply:
    issue = _issue(repo, call)
    if issue is None:
        return not_found(call)
    stamp = now_iso()
    comment = Comment(repo.new_id(), issue.number, call.body["body"], call.caller, stamp, stamp)
    repo.comments[comment.id] = comment
    issue.updated_at = stamp
    return Reply(201, comment_json(repo, site, comment), {"location": f"{site.repo_api}/issues/comments/{comment.id}"})


def get_comment(repo: RepositoryState, site: Site, call: Call) -> Reply:
    comment = _comment(repo, call)
    return Reply(200, comment_json(repo, site, comment)) if comment else not_found(call)


def update_comment(repo: RepositoryState, site: Site, call: Call) -> Reply:
    comment = _comment(repo, call)
    if comment is None:
        return not_found(call)
    comment.body, comment.updated_at = call.body["body"], now_iso()
    return Reply(200, comment_json(repo, site, comment))


def create_reaction(repo: RepositoryState, site: Site, call: Call) -> Reply:
    """201 for a new reaction; 200 with the existing one when this user already reacted so (as GitHub does)."""
    comment = _comment(repo, call)
    if comment is None:
        return not_found(call)
    content = call.body["content"]
    for existing in comment.reactions:
        if existing.content == content and existing.user.login == call.caller.login:
            return Reply(200, shapes.reaction(site, existing))
    reaction = Reaction(repo.new_id(), content, call.caller, now_iso())
    comment.reactions.append(reaction)
    return Reply(201, shapes.reaction(site, reaction))


# -- labels ------------------------------------------------------------------------------------------------
def _issue_labels(repo: RepositoryState, site: Site, issue: Issue) -> Reply:
    return Reply(200, [shapes.label(site, repo.label(name)) for name in issue.labels])


def _label_names(body: Any) -> list[str]:
    """The label names of an add/set body, whichever of GitHub's accepted forms it takes."""
    items = body.get("labels", []) if isinstance(body, dict) else [body] if isinstance(body, str) else body or []
    return [item["name"] if isinstance(item, dict) else item for item in items]


def list_issue_labels(repo: RepositoryState, site: Site, call: Call) -> Reply:
    issue = _issue(repo, call)
    return page(call, _issue_labels(repo, site, issue).body) if issue else not_found(call)


def add_labels(repo: RepositoryState, site: Site, call: Call) -> Reply:
    issue = _issue(repo, call)
    if issue is None:
        return not_found(call)
    for name in _label_names(call.body):
        known = repo.label(name).name
        if known.lower() not in (have.lower() for have in issue.labels):
            issue.labels.append(known)
    return _issue_labels(repo, site, issue)


def set_labels(repo: RepositoryState, site: Site, call: Call) -> Reply:
    issue = _issue(repo, call)
    if issue is None:
        return not_found(call)
    issue.labels = list(dict.fromkeys(repo.label(name).name for name in _label_names(call.body)))
    return _issue_labels(repo, site, issue)


def remove_label(repo: RepositoryState, site: Site, call: Call) -> Reply:
    issue = _issue(repo, call)
    if issue is None:
        return not_found(call)
    name = call.params["name"].lower()
    if name not in (have.lower() for have in issue.labels):
        return not_found(call, "Label does not exist")
    issue.labels = [have for have in issue.labels if have.lower() != name]
    return _issue_labels(repo, site, issue)


def list_repo_labels(repo: RepositoryState, site: Site, call: Call) -> Reply:
    return page(call, [shapes.label(site, one) for one in sorted(repo.labels.values(), key=lambda one: one.id)])


def get_label(repo: RepositoryState, site: Site, call: Call) -> Reply:
    found = repo.labels.get(call.params["name"].lower())
    return Reply(200, shapes.label(site, found)) if found else not_found(call)


def create_label(repo: RepositoryState, site: Site, call: Call) -> Reply:
    name = call.body["name"]
    if name.lower() in repo.labels:
        return unprocessable(call, "Validation Failed",
                             errors=[{"resource": "Label", "code": "already_exists", "field": "name"}])
    created = repo.label(name, call.body.get("color", "").lstrip("#") or DEFAULT_LABEL_COLOR,
                         call.body.get("description"))
    return Reply(201, shapes.label(site, created))


# -- repository, users, permissions, dispatches ------------------------------------------------------------
def get_repository(repo: RepositoryState, site: Site, call: Call) -> Reply:
    return Reply(200, shapes.repository(site, repo.default_branch))


def get_permission(repo: RepositoryState, site: Site, call: Call) -> Reply:
    login = call.params["username"]
    return Reply(200, shapes.collaborator_permission(site, login, repo.role(login)))


def get_authenticated_user(repo: RepositoryState, site: Site, call: Call) -> Reply:
    """An Actions token is an installation token: it has no user behind it."""
    return Reply(403, shapes.error("Resource not accessible by integration", call.docs_url, 403))


def rate_limit(repo: RepositoryState, site: Site, call: Call) -> Reply:
    budget = repo.rate
    return Reply(200, shapes.rate_limit(budget.limit, budget.remaining, budget.reset))


def repository_dispatch(repo: RepositoryState, site: Site, call: Call) -> Reply:
    repo.dispatches.append(dict(call.body))
    return Reply(204)


def workflow_dispatch(repo: RepositoryState, site: Site, call: Call) -> Reply:
    repo.dispatches.append({"workflow_id": call.params["workflow_id"], **call.body})
    return Reply(204)


# -- Actions variables -------------------------------------------------------------------------------------
def _variable_json(variable: Variable) -> dict[str, Any]:
    return {"name": variable.name, "value": variable.value, "created_at": variable.created_at,
            "updated_at": variable.updated_at}


def get_variable(repo: RepositoryState, site: Site, call: Call) -> Reply:
    variable = repo.variables.get(call.params["name"].upper())
    return Reply(200, _variable_json(variable)) if variable else not_found(call)


def create_variable(repo: RepositoryState, site: Site, call: Call) -> Reply:
    """GitHub upper-cases the name and refuses one that exists (409): updating is PATCH's job."""
    name = call.body["name"].upper()
    if name in repo.variables:
        return Reply(409, shapes.error("Already exists - Variable already exists", call.docs_url, 409))
    stamp = now_iso()
    repo.variables[name] = Variable(name, call.body["value"], stamp, stamp)
    return Reply(201, {})


def update_variable(repo: RepositoryState, site: Site, call: Call) -> Reply:
    variable = repo.variables.get(call.params["name"].upper())
    if variable is None:
        return not_found(call)
    variable.value = call.body.get("value", variable.value)
    variable.updated_at = now_iso()
    return Reply(204)


# -- the Git database --------------------------------------------------------------------------------------
def create_blob(repo: RepositoryState, site: Site, call: Call) -> Reply:
    text, encoding = call.body["content"], call.body.get("encoding", "utf-8")
    try:
        content = base64.b64decode(text, validate=False) if encoding == "base64" else text.encode("utf-8")
    except binascii.Error:
        return unprocessable(call, "Invalid base64 content")
    return Reply(201, shapes.short_blob(site, repo.git.put_blob(content)))


def get_blob(repo: RepositoryState, site: Site, call: Call) -> Reply:
    sha = call.params["file_sha"]
    content = repo.git.blobs.get(sha)
    return Reply(200, shapes.blob(site, sha, content)) if content is not None else not_found(call)


def create_tree(repo: RepositoryState, site: Site, call: Call) -> Reply:
    base = call.body.get("base_tree")
    if base is not None and base not in repo.git.trees:
        return unprocessable(call, "Invalid tree info: base_tree is not a tree in this repository")
    changes: dict[str, TreeEntry | None] = {}
    for item in call.body["tree"]:
        entry_or_problem = _tree_entry(repo, item)
        if isinstance(entry_or_problem, str):
            return unprocessable(call, entry_or_problem)
        changes[item["path"]] = entry_or_problem
    sha = repo.git.tree_with(base, changes)
    return Reply(201, shapes.git_tree(site, repo.git, sha, recursive=False))


def _tree_entry(repo: RepositoryState, item: dict[str, Any]) -> TreeEntry | str | None:
    """The entry a tree item asks for, ``None`` to delete the path, or why GitHub would refuse it."""
    if "content" in item and item.get("sha") is not None:
        return f"tree.sha and tree.content both given for {item.get('path')!r}: give one"
    if not item.get("path") or item.get("mode") not in MODE_TYPES:
        return f"Invalid tree info: each entry needs a path and a mode, got {item!r}"
    if "content" in item:
        return TreeEntry(item["mode"], "blob", repo.git.put_blob(item["content"].encode("utf-8")))
    if "sha" in item and item["sha"] is None:
        return None
    kind = MODE_TYPES[item["mode"]]
    store = repo.git.blobs if kind == "blob" else repo.git.trees
    if item.get("sha") not in store:
        return f"tree.sha {item.get('sha')} is not a valid {kind}"
    return TreeEntry(item["mode"], kind, item["sha"])


def get_tree(repo: RepositoryState, site: Site, call: Call) -> Reply:
    sha = call.params["tree_sha"]
    commit = repo.git.commits.get(sha)  # GitHub also accepts a commit's sha here
    sha = commit.tree if commit else sha
    if sha not in repo.git.trees:
        return not_found(call)
    recursive = call.query.get("recursive", "") not in {"", "0", "false"}
    return Reply(200, shapes.git_tree(site, repo.git, sha, recursive=recursive))


def create_commit(repo: RepositoryState, site: Site, call: Call) -> Reply:
    body = call.body
    if body["tree"] not in repo.git.trees:
        return unprocessable(call, "Tree SHA does not exist")
    missing = [p for p in body.get("parents", []) if p not in repo.git.commits]
    if missing:
        return unprocessable(call, f"Parent SHA does not exist or is not a commit object: {missing[0]}")
    author = _signature(body.get("author"), call.caller)
    committer = _signature(body.get("committer"), call.caller) if body.get("committer") else author
    sha = repo.git.put_commit(body["tree"], list(body.get("parents", [])), body["message"], author, committer)
    return Reply(201, shapes.git_commit(site, repo.git.commits[sha]))


def _signature(given: dict[str, Any] | None, caller: Account) -> Any:
    if given:
        return signature_now(given["name"], given["email"], given.get("date"))
    return signature_now(caller.login, f"41898282+{caller.login}@users.noreply.github.com")


def get_commit(repo: RepositoryState, site: Site, call: Call) -> Reply:
    commit = repo.git.commits.get(call.params["commit_sha"])
    return Reply(200, shapes.git_commit(site, commit)) if commit else not_found(call)


def get_ref(repo: RepositoryState, site: Site, call: Call) -> Reply:
    ref = call.params["ref"]
    sha = repo.git.refs.get(ref)
    return Reply(200, shapes.git_ref(site, ref, sha)) if sha else not_found(call)


def update_ref(repo: RepositoryState, site: Site, call: Call) -> Reply:
    """Move a ref; without ``force`` only forward, as GitHub refuses anything that would drop commits."""
    ref, new = call.params["ref"].removeprefix("refs/"), call.body["sha"]
    current = repo.git.refs.get(ref)
    if current is None:
        return unprocessable(call, "Reference does not exist")
    if new not in repo.git.commits:
        return unprocessable(call, "Object does not exist")
    if not call.body.get("force") and not repo.git.is_ancestor(current, new):
        return unprocessable(call, "Update is not a fast forward")
    repo.git.refs[ref] = new
    return Reply(200, shapes.git_ref(site, ref, new))


def get_content(repo: RepositoryState, site: Site, call: Call) -> Reply:
    ref = call.query.get("ref") or repo.default_branch
    commit = _commit_of(repo, ref)
    path = call.params["path"].strip("/")
    entry = repo.git.entry_at(repo.git.commits[commit].tree, path) if commit else None
    if entry is None:
        return not_found(call)
    if entry.type != "tree":
        return Reply(200, shapes.content_entry(site, repo.git, path, entry, ref))
    listing = [shapes.content_entry(site, repo.git, f"{path}/{name}".lstrip("/"), child, ref)
               for name, child in sorted(repo.git.trees[entry.sha].items())]
    return Reply(200, [{k: v for k, v in item.items() if k not in {"content", "encoding"}} for item in listing])


def _commit_of(repo: RepositoryState, ref: str) -> str | None:
    """A branch, a tag-less full ref or a commit sha, resolved as GitHub resolves ``?ref=``."""
    for candidate in (f"heads/{ref}", ref.removeprefix("refs/")):
        if candidate in repo.git.refs:
            return repo.git.refs[candidate]
    return ref if ref in repo.git.commits else None


ROUTES: dict[str, Route] = {
    "repos/get": get_repository,
    "users/get-authenticated": get_authenticated_user,
    "rate-limit/get": rate_limit,
    "repos/create-dispatch-event": repository_dispatch,
    "actions/create-workflow-dispatch": workflow_dispatch,
    "repos/get-collaborator-permission-level": get_permission,
    "repos/get-content": get_content,
    "issues/get": get_issue,
    "issues/list-comments": list_comments,
    "issues/create-comment": create_comment,
    "issues/get-comment": get_comment,
    "issues/update-comment": update_comment,
    "reactions/create-for-issue-comment": create_reaction,
    "issues/list-labels-on-issue": list_issue_labels,
    "issues/add-labels": add_labels,
    "issues/set-labels": set_labels,
    "issues/remove-label": remove_label,
    "issues/list-labels-for-repo": list_repo_labels,
    "issues/get-label": get_label,
    "issues/create-label": create_label,
    "git/create-blob": create_blob,
    "git/get-blob": get_blob,
    "git/create-tree": create_tree,
    "git/get-tree": get_tree,
    "git/create-commit": create_commit,
    "git/get-commit": get_commit,
    "git/get-ref": get_ref,
    "git/update-ref": update_ref,
    "actions/get-repo-variable": get_variable,
    "actions/create-repo-variable": create_variable,
    "actions/update-repo-variable": update_variable,
}
