"""A loopback fake of GitHub's REST API: real HTTP, real state, every request checked against GitHub's description.

    with FakeGitHub() as fake:            # or the ``fake_github`` fixture (tests/github/conftest.py)
        fake.add_issue(1, title="Train", body="...", author="Codertocat", labels=["mlops:train"])
        env["GITHUB_API_URL"] = fake.url  # any bearer token will do
        ...                               # run the code under test
        assert fake.labels(1) == [...] and fake.problems == []

Every request is matched to an operation of GitHub's OpenAPI description (tests/fixtures/third_party/github-rest-api/)
and its path, query and JSON body are validated; so is every JSON answer the fake gives. Whatever breaks the
description goes to ``problems`` (the fixture fails the test on any): a request GitHub's description does not
allow is answered 404 (no such route) or 422 (bad parameters or body), as GitHub would, and is not executed.

Behaviour the tests can rely on:
- Any ``Authorization: token|Bearer <anything>`` is accepted; none answers 401. The token is the Actions token:
  it acts as ``github-actions[bot]`` (type ``Bot``) and ``GET /user`` answers 403 "Resource not accessible by
  integration".
- ``GET .../collaborators/{user}/permission`` for a user never given ``set_permission`` answers 200 with
  ``permission`` and ``role_name`` ``"none"`` (what GitHub answers for a private repository; GitHub's
  description allows no 404 for an existing user). Maintain reads as ``write`` and triage as ``read``, as GitHub
  answers; ``role_name`` keeps the real role. The repository owner is admin.
- The repository starts with one commit (``README.md``) on the default branch. Object ids are git's own hashes.
- ``PATCH .../git/refs/{ref}`` without ``force`` answers 422 "Update is not a fast forward" unless the new commit
  descends from the current head.
- Lists are paginated as GitHub paginates them (30 a page by default, ``per_page`` up to 100, ``link`` header).
- ``GET .../git/refs/{ref}`` is not in GitHub's description (only ``GET .../git/ref/{ref}`` is): it is a problem.
- ``requests`` records ``(method, path, status)`` with the path percent-decoded and without its query.
"""

from __future__ import annotations

import http
import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import fake_github_shapes as shapes
from fake_github_routes import ROUTES, Call, Reply, comment_json, issue_json
from fake_github_shapes import Site
from fake_github_state import ACTIONS_BOT, PERMISSION_OF_ROLE, Account, Issue, RepositoryState, Variable, now_iso
from openapi_check import Match, github_description

DOCS = "https://docs.github.com/rest"
RATE_LIMIT_DOCS = f"{DOCS}/overview/rate-limits-for-the-rest-api"
EDGE_STATUSES = {502, 504}  # answered by GitHub's front end, with an HTML page instead of JSON


@dataclass
class Fault:
    """A canned failure for the next ``count`` requests whose path contains ``path_contains``."""

    count: int
    status: int
    path_contains: str = ""
    rate_limit: str = ""  # "", "primary" or "secondary"
    reset_after: float = 1.0


@dataclass
class Hook:
    method: str
    path_contains: str
    run: Callable[[], object]


@dataclass
class Outgoing:
    status: int
    headers: dict[str, str]
    body: bytes


class FakeGitHub:
    def __init__(self, repository: str = "Codertocat/Hello-World", default_branch: str = "main") -> None:
        owner, name = repository.split("/")
        self.repository = repository
        self.url = ""
        self.requests: list[tuple[str, str, int]] = []
        self.problems: list[str] = []
        self._repo = RepositoryState(owner, name, default_branch)
        self._site = Site("", owner, name)
        self._lock = threading.RLock()
        self._faults: list[Fault] = []
        self._hooks: list[Hook] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> FakeGitHub:
        handler = type("FakeGitHubHandler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._site = Site(self.url, self._site.owner, self._site.name)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-github", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- seeding -------------------------------------------------------------------------------------------
    def add_issue(self, number: int, *, title: str, body: str | None, author: str,
                  labels: Iterable[str] = ()) -> dict[str, Any]:
        with self._lock:
            stamp = now_iso()
            names = [self._repo.label(name).name for name in labels]
            issue = Issue(self._repo.new_id(), number, title, body, Account(author), names, stamp, stamp)
            self._repo.issues[number] = issue
            return issue_json(self._repo, self._site, issue)

    def set_permission(self, username: str, permission: str) -> None:
        if permission not in PERMISSION_OF_ROLE:
            raise ValueError(f"permission {permission!r}: use one of {', '.join(PERMISSION_OF_ROLE)}")
        with self._lock:
            self._repo.roles[username] = permission

    def add_file(self, path: str, content: bytes, branch: str = "main") -> str:
        """Commit one file on ``branch`` (as someone pushing would), returning the new commit's sha."""
        with self._lock:
            return self._repo.commit_files(branch, {path: content}, f"Add {path}")

    # -- inspection ----------------------------------------------------------------------------------------
    @property
    def dispatches(self) -> list[dict[str, Any]]:
        """Bodies of repository_dispatch events, and of workflow_dispatch ones with their ``workflow_id``."""
        return self._repo.dispatches

    @property
    def variables(self) -> dict[str, str]:
        """The repository's Actions variables, name -> value."""
        with self._lock:
            return {name: variable.value for name, variable in self._repo.variables.items()}

    def set_variable(self, name: str, value: str) -> None:
        """Seed a variable (as someone setting it in the repository's settings would)."""
        with self._lock:
            stamp = now_iso()
            self._repo.variables[name.upper()] = Variable(name.upper(), value, stamp, stamp)

    def comments(self, number: int) -> list[dict[str, Any]]:
        with self._lock:
            found = sorted((c for c in self._repo.comments.values() if c.issue_number == number), key=lambda c: c.id)
            return [comment_json(self._repo, self._site, c) for c in found]

    def labels(self, number: int) -> list[str]:
        with self._lock:
            return list(self._repo.issues[number].labels)

    def repo_labels(self) -> list[str]:
        with self._lock:
            return [label.name for label in self._repo.labels.values()]

    def reactions(self, comment_id: int) -> list[str]:
        with self._lock:
            return [reaction.content for reaction in self._repo.comments[comment_id].reactions]

    def file(self, path: str, branch: str = "main") -> bytes | None:
        with self._lock:
            git = self._repo.git
            head = git.refs.get(f"heads/{branch}")
            entry = git.entry_at(git.commits[head].tree, path) if head else None
            return git.blobs.get(entry.sha) if entry and entry.type == "blob" else None

    def commits(self, branch: str = "main") -> list[dict[str, Any]]:
        """The branch's history, newest first, along first parents."""
        with self._lock:
            git, history = self._repo.git, []
            sha: str | None = git.refs.get(f"heads/{branch}")
            while sha:
                commit = git.commits[sha]
                history.append({"sha": sha, "message": commit.message, "parents": list(commit.parents),
                                "paths": git.changed_paths(commit)})
                sha = commit.parents[0] if commit.parents else None
            return history

    # -- faults --------------------------------------------------------------------------------------------
    def fail_next(self, count: int = 1, status: int = 502, path_contains: str = "") -> None:
        """Answer the next ``count`` matching requests with ``status`` (502/504 with the edge's HTML page)."""
        with self._lock:
            self._faults.append(Fault(count, status, path_contains))

    def rate_limit_next(self, count: int = 1, reset_after: float = 1.0, secondary: bool = False) -> None:
        """Refuse the next ``count`` requests for a rate limit: primary (403, ``x-ratelimit-remaining: 0``,
        reset ``reset_after`` seconds from now) or secondary (403 with ``retry-after``)."""
        with self._lock:
            kind = "secondary" if secondary else "primary"
            self._faults.append(Fault(count, 403, rate_limit=kind, reset_after=reset_after))

    def before(self, method: str, path_contains: str, hook: Callable[[], object]) -> None:
        """Run ``hook`` once, just before the first ``method`` request whose path contains ``path_contains``."""
        with self._lock:
            self._hooks.append(Hook(method.upper(), path_contains, hook))

    # -- serving -------------------------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Outgoing:
        split = urlsplit(target)
        shown = unquote(split.path)
        self._run_hooks(method, shown)
        with self._lock:
            self._repo.rate.used += 1
            reply = self._reply(method, split.path, parse_qs(split.query, keep_blank_values=True), headers, body)
            self.requests.append((method, shown, reply.status))
            return self._encode(reply)

    def _reply(self, method: str, raw_path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: bytes) -> Reply:
        fault = self._take_fault(unquote(raw_path))
        if fault is not None:
            return _rate_limited(fault) if fault.rate_limit else _outage(fault.status)
        if not headers.get("authorization", "").lower().startswith(("token ", "bearer ")):
            return Reply(401, shapes.error("Requires authentication", DOCS, 401))
        return self._checked(method, raw_path, query, headers.get("content-type", ""), body)

    def _checked(self, method: str, raw_path: str, query: dict[str, list[str]], content_type: str,
                 body: bytes) -> Reply:
        """The request checked against GitHub's description, executed if it passes, and the answer checked."""
        match = github_description().match(method, raw_path)
        if isinstance(match, str):
            self.problems.append(match)
            return Reply(404, shapes.error("Not Found", DOCS, 404))
        problems = github_description().check_request(match, query, body, content_type)
        if problems:
            self.problems.extend(problems)
            return Reply(422, shapes.error("Invalid request.\n\n" + "\n".join(problems), DOCS, 422))
        try:
            reply = self._route(match, query, body)
        except Exception as error:  # a bug of the fake's: say so instead of dropping the connection
            self.problems.append(f"{method} {raw_path}: the fake GitHub failed: {error!r}")
            return _outage(500)
        self.problems.extend(github_description().check_response(match.operation, reply.status, reply.body))
        return reply

    def _route(self, match: Match, query: dict[str, list[str]], body: bytes) -> Reply:
        params = match.path_params
        call = Call(params, {k: v[-1] for k, v in query.items()}, json.loads(body) if body.strip() else None,
                    self.url + _fill(match.operation.template, params),
                    match.operation.spec.get("externalDocs", {}).get("url", DOCS), Account(ACTIONS_BOT, "Bot"))
        if "owner" in params and f"{params['owner']}/{params['repo']}".lower() != self.repository.lower():
            return Reply(404, shapes.error("Not Found", call.docs_url, 404))
        return ROUTES[match.operation.operation_id](self._repo, self._site, call)

    def _run_hooks(self, method: str, path: str) -> None:
        with self._lock:
            due = next((h for h in self._hooks if h.method == method and h.path_contains in path), None)
            if due is not None:
                self._hooks.remove(due)
        if due is not None:
            due.run()

    def _take_fault(self, path: str) -> Fault | None:
        fault = next((f for f in self._faults if f.path_contains in path), None)
        if fault is not None:
            fault.count -= 1
            if fault.count <= 0:
                self._faults.remove(fault)
        return fault

    def _encode(self, reply: Reply) -> Outgoing:
        budget = self._repo.rate
        headers = {
            "content-type": "application/json; charset=utf-8",
            "x-github-media-type": "github.v3; format=json",
            "x-github-api-version-selected": "2022-11-28",
            "x-github-request-id": uuid.uuid4().hex[:20].upper(),
            "x-ratelimit-limit": str(budget.limit), "x-ratelimit-remaining": str(budget.remaining),
            "x-ratelimit-reset": str(budget.reset), "x-ratelimit-used": str(budget.used),
            "x-ratelimit-resource": "core",
            **reply.headers,
        }
        if isinstance(reply.body, str):
            return Outgoing(reply.status, headers, reply.body.encode())
        body = b"" if reply.body is None else json.dumps(reply.body).encode()
        return Outgoing(reply.status, headers, body)


def _rate_limited(fault: Fault) -> Reply:
    """GitHub's refusals for a primary rate limit (wait until the reset) and a secondary one (retry after)."""
    if fault.rate_limit == "primary":
        reset = math.ceil(time.time() + fault.reset_after)
        message = "API rate limit exceeded for installation ID 1234567."
        return Reply(403, shapes.error(message, RATE_LIMIT_DOCS, 403),
                     {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)})
    message = ("You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you "
               f"reach out to GitHub Support for help, please include the request ID {uuid.uuid4().hex[:8].upper()}.")
    return Reply(403, shapes.error(message, f"{RATE_LIMIT_DOCS}#about-secondary-rate-limits", 403),
                 {"retry-after": str(math.ceil(fault.reset_after))})


def _outage(status: int) -> Reply:
    phrase = http.HTTPStatus(status).phrase
    if status in EDGE_STATUSES:
        page = (f"<html><body><h1>{status} {phrase}</h1>\n"
                "The server returned an invalid or incomplete response.\n</body></html>\n")
        return Reply(status, page, {"content-type": "text/html"})
    return Reply(status, {"message": phrase, "documentation_url": DOCS})


def _fill(template: str, params: dict[str, str]) -> str:
    for name, value in params.items():
        template = template.replace("{" + name + "}", value)
    return template


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGitHub
    server_version = "GitHub.com"
    sys_version = ""

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        out = self.fake.handle(self.command, self.path, headers, body)
        self.send_response(out.status)
        for key, value in out.headers.items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(out.body)))
        self.end_headers()
        self.wfile.write(out.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: ``fake.requests`` keeps the log."""
