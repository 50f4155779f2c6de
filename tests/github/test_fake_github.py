"""The fake GitHub behaves as GitHub does for PyGithub 2.10, and its checker really holds requests to GitHub's
description: everything here goes over real HTTP to the loopback server."""

from __future__ import annotations

import base64
import itertools
import threading
import time
from typing import Any

import pytest
import requests
from fake_github import FakeGitHub
from github import Auth, Github, GithubException, GithubRetry, InputGitTreeElement
from openapi_check import github_description

REPO = "Codertocat/Hello-World"
TOKEN = {"Authorization": "token t"}


def client(fake: FakeGitHub) -> Github:
    """PyGithub as the action uses it: bounded retries; its default pauses between requests switched off."""
    retry = GithubRetry(total=3, backoff_factor=0.01, max_rate_limit_wait=5)
    return Github(auth=Auth.Token("t"), base_url=fake.url, retry=retry, seconds_between_requests=0,
                  seconds_between_writes=0)


def raw(fake: FakeGitHub, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, fake.url + path, timeout=5, **kwargs)


# -- issues, comments, reactions, labels, permissions ------------------------------------------------------
def test_an_issue_conversation_through_pygithub(fake_github: FakeGitHub) -> None:
    # GIVEN an issue filed through the form, by its author
    fake_github.add_issue(1, title="Train iris", body="### Algorithm\n\nrandom_forest", author="Codertocat",
                          labels=["mlops:train"])
    repo = client(fake_github).get_repo(REPO)
    # WHEN the action comments, edits its comment, reacts, relabels and creates a label
    issue = repo.get_issue(1)
    comment = issue.create_comment("Validated <!-- mlops:status training_id=t1 -->")
    comment.edit("Training <!-- mlops:status training_id=t1 -->")
    first, again = comment.create_reaction("eyes"), comment.create_reaction("eyes")
    issue.add_to_labels("mlops:running")
    issue.remove_from_labels("mlops:train")
    label = repo.create_label("mlops:failed", "d73a4a", "The run failed")
    # THEN GitHub's state shows each change, as the bot made it, and nothing broke the description
    assert (issue.title, issue.user.login, [one.name for one in issue.labels]) == ("Train iris", "Codertocat",
                                                                                   ["mlops:train"])
    [stored] = fake_github.comments(1)
    assert stored["body"] == "Training <!-- mlops:status training_id=t1 -->"
    assert (stored["user"]["login"], stored["user"]["type"]) == ("github-actions[bot]", "Bot")
    assert stored["html_url"] == f"https://github.com/{REPO}/issues/1#issuecomment-{comment.id}"
    assert first.id == again.id and fake_github.reactions(comment.id) == ["eyes"]
    assert fake_github.labels(1) == ["mlops:running"]
    assert (label.name, label.color, label.description) == ("mlops:failed", "d73a4a", "The run failed")
    assert set(fake_github.repo_labels()) == {"mlops:train", "mlops:running", "mlops:failed"}


def test_comment_ids_and_times_grow_and_lists_are_paginated(fake_github: FakeGitHub) -> None:
    # GIVEN 35 comments on one issue (more than GitHub's page of 30)
    fake_github.add_issue(2, title="t", body=None, author="Codertocat")
    issue = client(fake_github).get_repo(REPO).get_issue(2)
    created = [issue.create_comment(f"comment {n}") for n in range(35)]
    # WHEN PyGithub lists them
    listed = list(issue.get_comments())
    first_page = raw(fake_github, "GET", f"/repos/{REPO}/issues/2/comments", headers=TOKEN)
    # THEN it follows GitHub's link header to the second page and gets every one, oldest first
    assert [c.body for c in listed] == [f"comment {n}" for n in range(35)]
    assert [c.id for c in created] == sorted(c.id for c in created)
    assert all(a.created_at <= b.created_at for a, b in itertools.pairwise(created))
    assert len(first_page.json()) == 30 and 'rel="next"' in first_page.headers["link"]


def test_a_duplicate_label_is_refused_as_github_refuses_it(fake_github: FakeGitHub) -> None:
    # GIVEN a repository label
    repo = client(fake_github).get_repo(REPO)
    repo.create_label("mlops:invalid", "e4e669", "The request needs fixing")
    # WHEN it is created again
    with pytest.raises(GithubException) as refused:
        repo.create_label("mlops:invalid", "e4e669", "again")
    # THEN GitHub's 422 with the already_exists error comes back, and the label can be read
    assert refused.value.status == 422
    assert refused.value.data["errors"] == [{"resource": "Label", "code": "already_exists", "field": "name"}]
    assert repo.get_label("mlops:invalid").description == "The request needs fixing"


@pytest.mark.parametrize(("role", "permission"), [("admin", "admin"), ("maintain", "write"), ("write", "write"),
                                                  ("triage", "read"), ("read", "read"), (None, "none")])
def test_collaborator_permission_reads_as_github_answers_it(fake_github: FakeGitHub, role: str | None,
                                                            permission: str) -> None:
    # GIVEN a user with a role on the repository (or none at all)
    if role:
        fake_github.set_permission("octocat", role)
    repo = client(fake_github).get_repo(REPO)
    # WHEN the action asks for the user's permission
    # THEN maintain reads as write and triage as read, as on GitHub, while the role name stays exact
    assert repo.get_collaborator_permission("octocat") == permission
    assert repo.get_collaborator_role_name("octocat") == (role or "none")


def test_an_unknown_issue_is_github_not_found(fake_github: FakeGitHub) -> None:
    # GIVEN a repository without issue 404
    # WHEN someone reads it
    answer = raw(fake_github, "GET", f"/repos/{REPO}/issues/404", headers=TOKEN)
    # THEN GitHub's 404 body comes back, citing the operation's documentation
    assert answer.status_code == 404
    assert answer.json()["message"] == "Not Found"
    assert answer.json()["documentation_url"] == "https://docs.github.com/rest/issues/issues#get-an-issue"


def test_the_actions_token_has_no_user_and_no_token_is_refused(fake_github: FakeGitHub) -> None:
    # GIVEN the Actions token (an installation token), and a caller without any token
    # WHEN each asks who it is
    as_installation = raw(fake_github, "GET", "/user", headers=TOKEN)
    anonymous = raw(fake_github, "GET", f"/repos/{REPO}")
    # THEN GitHub's answers: 403 for the integration, 401 without credentials
    assert (as_installation.status_code, as_installation.json()["message"]) == (
        403, "Resource not accessible by integration")
    assert (anonymous.status_code, anonymous.json()["message"]) == (401, "Requires authentication")


def test_every_answer_carries_the_headers_pygithub_reads(fake_github: FakeGitHub) -> None:
    # GIVEN any request
    answer = raw(fake_github, "GET", f"/repos/{REPO}", headers=TOKEN)
    budget = client(fake_github).get_rate_limit().resources.core
    # THEN JSON with its charset and the primary rate-limit counters, which GET /rate_limit agrees with
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert int(answer.headers["x-ratelimit-limit"]) == 5000 and int(answer.headers["x-ratelimit-remaining"]) > 0
    assert int(answer.headers["x-ratelimit-reset"]) > time.time()
    assert budget.remaining == int(answer.headers["x-ratelimit-remaining"]) - 1


def test_dispatches_are_recorded(fake_github: FakeGitHub) -> None:
    # WHEN a repository_dispatch and a workflow_dispatch are sent
    client(fake_github).get_repo(REPO).create_repository_dispatch("mlops-run-finished", {"training_id": "t1"})
    sent = raw(fake_github, "POST", f"/repos/{REPO}/actions/workflows/mlops-rollback.yml/dispatches",
               headers=TOKEN, json={"ref": "main", "inputs": {"model_id": "iris"}})
    # THEN both bodies are kept, the workflow's with its id
    assert sent.status_code == 204
    assert fake_github.dispatches == [
        {"event_type": "mlops-run-finished", "client_payload": {"training_id": "t1"}},
        {"workflow_id": "mlops-rollback.yml", "ref": "main", "inputs": {"model_id": "iris"}},
    ]


# -- the Git database --------------------------------------------------------------------------------------
def _commit_files(fake: FakeGitHub, files: dict[str, str], message: str) -> tuple[Any, Any]:
    """What a history record does: blobs, a tree on the head's tree, a commit on the head; returns (ref, commit)."""
    repo = client(fake).get_repo(REPO)
    ref = repo.get_git_ref("heads/main")
    head = repo.get_git_commit(ref.object.sha)
    elements = [InputGitTreeElement(path, "100644", "blob", sha=repo.create_git_blob(text, "utf-8").sha)
                for path, text in files.items()]
    tree = repo.create_git_tree(elements, base_tree=head.tree)
    return ref, repo.create_git_commit(message, tree, [head])


def test_one_commit_through_the_git_data_api(fake_github: FakeGitHub) -> None:
    # GIVEN a repository with its initial commit
    repo = client(fake_github).get_repo(REPO)
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    ref = repo.get_git_ref("heads/main")
    head = repo.get_git_commit(ref.object.sha)
    # WHEN a text file (as tree content) and a binary one (a base64 blob) are committed and the ref moved
    plot = repo.create_git_blob(png, "base64")
    tree = repo.create_git_tree([
        InputGitTreeElement("training_history/t1.md", "100644", "blob", content="# t1\n"),
        InputGitTreeElement("training_history/t1/plot.png", "100644", "blob", sha=plot.sha),
    ], base_tree=head.tree)
    commit = repo.create_git_commit("Record t1", tree, [head])
    ref.edit(commit.sha)
    # THEN the branch holds both files beside the old ones, in one commit on top of the old head
    assert fake_github.file("training_history/t1.md") == b"# t1\n"
    assert fake_github.file("training_history/t1/plot.png") == b"\x89PNG\r\n\x1a\n"
    assert fake_github.file("README.md") is not None
    newest, initial = fake_github.commits()
    assert newest == {"sha": commit.sha, "message": "Record t1", "parents": [initial["sha"]],
                      "paths": ["training_history/t1.md", "training_history/t1/plot.png"]}
    listing, record = repo.get_contents("training_history"), repo.get_contents("training_history/t1.md", ref="main")
    assert isinstance(listing, list) and not isinstance(record, list)
    assert sorted((c.path, c.type) for c in listing) == [("training_history/t1", "dir"),
                                                         ("training_history/t1.md", "file")]
    assert record.decoded_content == b"# t1\n"


def test_a_ref_update_that_is_not_a_fast_forward_is_refused(fake_github: FakeGitHub) -> None:
    # GIVEN a commit built on the head, and someone else's commit landing just before the ref update
    ref, commit = _commit_files(fake_github, {"training_history/a.md": "a"}, "Record a")
    fake_github.before("PATCH", "/git/refs/heads/main", lambda: fake_github.add_file("other.md", b"concurrent"))
    # WHEN the ref is moved without force
    with pytest.raises(GithubException) as refused:
        ref.edit(commit.sha)
    # THEN GitHub's 422 "Update is not a fast forward"; the other commit stays; rebuilt on the new head it lands
    assert (refused.value.status, refused.value.data["message"]) == (422, "Update is not a fast forward")
    assert fake_github.file("other.md") == b"concurrent" and fake_github.file("training_history/a.md") is None
    ref, commit = _commit_files(fake_github, {"training_history/a.md": "a"}, "Record a")
    ref.edit(commit.sha)
    assert [c["message"] for c in fake_github.commits()] == ["Record a", "Add other.md", "Initial commit"]


def test_two_writers_racing_on_one_branch_lose_nothing(fake_github: FakeGitHub) -> None:
    # GIVEN two writers each committing its own file, retrying on 422 as the record step does
    def record(name: str) -> None:
        for _ in range(20):
            ref, commit = _commit_files(fake_github, {f"training_history/{name}.md": name}, f"Record {name}")
            try:
                ref.edit(commit.sha)
                return
            except GithubException as refused:
                assert refused.status == 422
    # WHEN they run at once
    writers = [threading.Thread(target=record, args=(name,)) for name in ("a", "b")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=30)
    # THEN both files are on the branch, each in exactly one commit
    assert fake_github.file("training_history/a.md") == b"a" and fake_github.file("training_history/b.md") == b"b"
    assert sorted(c["message"] for c in fake_github.commits()[:2]) == ["Record a", "Record b"]


# -- faults ------------------------------------------------------------------------------------------------
def test_a_502_from_the_edge_is_retried_by_github_retry(fake_github: FakeGitHub) -> None:
    # GIVEN GitHub's edge failing the next two requests with its HTML 502 page
    fake_github.add_issue(1, title="t", body="b", author="Codertocat")
    repo = client(fake_github).get_repo(REPO)
    fake_github.fail_next(2, status=502, path_contains="/issues/1")
    # WHEN PyGithub reads the issue and comments on it
    issue = repo.get_issue(1)
    issue.create_comment("after the outage")
    # THEN GithubRetry retried through the 502s and both calls succeeded
    assert [status for method, path, status in fake_github.requests if path.endswith("/issues/1")] == [502, 502, 200]
    assert [c["body"] for c in fake_github.comments(1)] == ["after the outage"]


def test_a_502_page_is_html(fake_github: FakeGitHub) -> None:
    fake_github.fail_next(1, status=502)
    answer = raw(fake_github, "GET", f"/repos/{REPO}", headers=TOKEN)
    assert answer.status_code == 502 and answer.headers["content-type"] == "text/html"
    assert "502 Bad Gateway" in answer.text


@pytest.mark.parametrize("secondary", [False, True])
def test_a_rate_limit_is_waited_out(fake_github: FakeGitHub, secondary: bool) -> None:
    # GIVEN GitHub refusing the next request for a rate limit that lifts within about a second
    repo = client(fake_github).get_repo(REPO)
    fake_github.rate_limit_next(1, reset_after=0.5, secondary=secondary)
    # WHEN PyGithub reads the issue list's label
    started = time.monotonic()
    labels = repo.get_labels().totalCount
    waited = time.monotonic() - started
    # THEN it waited as the headers said (a primary reset plus GithubRetry's second; a retry-after) and succeeded
    assert labels == 0
    assert [status for _, path, status in fake_github.requests if path.endswith("/labels")] == [403, 200]
    assert 0.5 <= waited < 3


def test_the_rate_limit_answers_are_githubs(fake_github: FakeGitHub) -> None:
    fake_github.rate_limit_next(1, reset_after=30)
    fake_github.rate_limit_next(1, reset_after=30, secondary=True)
    primary = raw(fake_github, "GET", f"/repos/{REPO}", headers=TOKEN)
    secondary = raw(fake_github, "GET", f"/repos/{REPO}", headers=TOKEN)
    assert primary.status_code == secondary.status_code == 403
    assert primary.headers["x-ratelimit-remaining"] == "0"
    assert 29 <= int(primary.headers["x-ratelimit-reset"]) - time.time() <= 31
    assert primary.json()["message"].startswith("API rate limit exceeded")
    assert secondary.headers["retry-after"] == "30"
    assert secondary.json()["message"].startswith("You have exceeded a secondary rate limit")


# -- the checker can fail ----------------------------------------------------------------------------------
def test_requests_that_break_the_description_are_recorded_and_refused() -> None:
    # GIVEN a fake GitHub outside the fixture (which would fail this test for the problems it provokes)
    with FakeGitHub() as fake:
        fake.add_issue(1, title="t", body="b", author="Codertocat")
        # WHEN requests break GitHub's description in different ways
        no_body = raw(fake, "POST", f"/repos/{REPO}/issues/1/comments", headers=TOKEN, json={"text": "hi"})
        bad_type = raw(fake, "POST", f"/repos/{REPO}/labels", headers=TOKEN, json={"name": "x", "color": 123})
        bad_path = raw(fake, "GET", f"/repos/{REPO}/issues/one", headers=TOKEN)
        undocumented = raw(fake, "GET", f"/repos/{REPO}/git/refs/heads/main", headers=TOKEN)
        unknown = raw(fake, "GET", f"/repos/{REPO}/pulls", headers=TOKEN)
        bad_query = raw(fake, "GET", f"/repos/{REPO}/issues/1/comments?sinse=2024-01-01", headers=TOKEN)
    # THEN each is refused as GitHub would, nothing changed, and each is a problem saying what is wrong
    statuses = [r.status_code for r in (no_body, bad_type, bad_path, undocumented, unknown, bad_query)]
    assert statuses == [422, 422, 422, 404, 404, 422]
    assert fake.comments(1) == [] and fake.repo_labels() == []
    expected = ["'body' is a required property", "field 'text' is not in the description",
                "request body['color']: 123 is not of type 'string'", "'one' is not of type 'integer'",
                "no GET on /repos/{owner}/{repo}/git/refs/{ref}", "/pulls: no such path",
                "query parameter 'sinse' is not in the description"]
    for fragment in expected:
        assert sum(fragment in problem for problem in fake.problems) == 1, (fragment, fake.problems)
    assert len(fake.problems) == len(expected)


def test_answers_that_break_the_description_are_caught() -> None:
    # GIVEN GitHub's description of "get an issue"
    description = github_description()
    match = description.match("GET", f"/repos/{REPO}/issues/1")
    assert not isinstance(match, str)
    # WHEN the fake would answer with a half-built issue, or a status GitHub never gives there
    half_built = description.check_response(match.operation, 200, {"id": 1, "number": 1, "title": "t"})
    wrong_status = description.check_response(match.operation, 201, {})
    # THEN the missing required fields and the undocumented status are problems
    assert any("'node_id' is a required property" in problem for problem in half_built)
    assert wrong_status == ["GET /repos/{owner}/{repo}/issues/{issue_number} -> 201: "
                            "status 201 is not documented for this operation"]


# -- Actions variables -------------------------------------------------------------------------------------
def test_repository_variables_are_created_read_and_updated_as_github_does(fake_github: FakeGitHub) -> None:
    repo = client(fake_github).get_repo(REPO)
    repo.create_variable("mlops_bucket", "one")  # GitHub keeps names upper case
    assert repo.get_variable("MLOPS_BUCKET").value == "one"
    assert repo.get_variable("MLOPS_BUCKET").edit("two") is True
    assert fake_github.variables == {"MLOPS_BUCKET": "two"}
    with pytest.raises(GithubException) as duplicate:
        repo.create_variable("MLOPS_BUCKET", "three")
    assert duplicate.value.status == 409
    with pytest.raises(GithubException) as missing:
        repo.get_variable("NOPE").value  # noqa: B018 - reading it fetches the variable
    assert missing.value.status == 404
