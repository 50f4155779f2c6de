"""`start`: an issue labelled mlops:train is opened, labelled or edited (GitHub's own example deliveries)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from action_harness import ActionRunner, IssueSpec, checkout_history, form_body, history_commits

from mlops.history import HistoryLog

INVALID = form_body(hyperparameters="n_estimators: 5\nmax_depth: 0", threshold="high")


def test_an_invalid_request_keeps_one_problem_comment_until_an_edit_fixes_it_then_its_run_starts(
    action: ActionRunner, tmp_path: Path
) -> None:
    # GIVEN an issue whose request has two problems
    spec = action.open_issue(IssueSpec(body=INVALID))

    # WHEN it is opened
    opened = action.issue(spec, "opened")

    # THEN nothing starts: exit 1, one ::error:: per problem, ONE comment listing them, the invalid label
    assert opened.returncode == 1, opened
    assert opened.outputs["status"] == "invalid" and opened.outputs["training-id"] == ""
    assert len(opened.errors) == 2, opened
    assert any("max_depth" in e for e in opened.errors) and any("evaluation_threshold" in e for e in opened.errors)
    (problems,) = action.bot_comments(spec.number)
    assert "max_depth" in problems["body"] and "evaluation_threshold" in problems["body"]
    assert sorted(action.fake.labels(spec.number)) == ["mlops:invalid", "mlops:train"]
    assert history_commits(action.fake) == []
    assert "invalid, nothing started" in opened.summary

    # WHEN an edit fixes one problem only
    spec.body = form_body(hyperparameters="n_estimators: 5\nmax_depth: 0")
    edited = action.issue(spec, "edited")

    # THEN the same comment now lists the one problem left (edited in place, never a second comment)
    assert edited.returncode == 1 and len(edited.errors) == 1, edited
    (still,) = action.bot_comments(spec.number)
    assert still["id"] == problems["id"]
    assert "evaluation_threshold" not in still["body"] and "max_depth" in still["body"]

    # WHEN an edit fixes the request
    spec.body = form_body()
    fixed = action.issue(spec, "edited")

    # THEN the run starts and goes to its end: succeeded, recorded in one commit, reported in its status comment
    assert fixed.returncode == 0, fixed
    training_id = fixed.outputs["training-id"]
    assert fixed.outputs["status"] == "succeeded"
    assert fixed.outputs["model-id"] == "iris-classifier" and fixed.outputs["model-version"] == "v1.0.0"
    assert sorted(action.fake.labels(spec.number)) == ["mlops:succeeded", "mlops:train"]
    assert "valid now" in action.bot_comments(spec.number, "<!-- mlops:validation")[0]["body"]

    (commit,) = history_commits(action.fake)
    assert sorted(commit["paths"]) == [
        f"training_history/{training_id}.json",
        f"training_history/{training_id}.md",
        f"training_history/{training_id}/confusion_matrix.png",
        f"training_history/{training_id}/roc.png",
    ]
    repository_history = checkout_history(action.fake, tmp_path / "checkout")
    assert HistoryLog(repository_history).verify() == []
    head = HistoryLog(repository_history).head()
    assert head is not None

    status = action.status_comment(spec.number)
    assert f"training_id={training_id}" in status and ": succeeded" in status
    assert "https://github.com/Codertocat/Hello-World/actions/runs/4242" in status
    assert f"blob/{commit['sha']}/training_history/{training_id}.md" in status
    assert f"raw/{commit['sha']}/training_history/{training_id}/roc.png" in status  # plots load in the comment
    assert head["sha256"] in status  # the chain's head, witnessed outside the repository
    assert "# Training Report" in status  # the §7.2 report itself

    assert "| algorithm | random_forest |" in fixed.summary and "[status comment](" in fixed.summary


def test_an_empty_body_is_an_invalid_request_with_a_way_to_fix_it(action: ActionRunner) -> None:
    # GIVEN GitHub's example delivery of an issue opened with no body at all (`body: null`)
    spec = action.open_issue(IssueSpec(body=None))

    # WHEN it is delivered
    result = action.issue(spec, "opened", variant="opened.with-empty-body")

    # THEN the author is told what to write, and nothing starts
    assert result.returncode == 1 and result.outputs["status"] == "invalid", result
    (comment,) = action.bot_comments(spec.number)
    assert "form" in comment["body"] and "yaml" in comment["body"]


def test_one_issue_gets_one_run_whatever_the_deliveries(action: ActionRunner) -> None:
    # GIVEN a valid request submitted through the form: GitHub delivers `opened` and `labeled` at once
    spec = action.open_issue(IssueSpec())

    # WHEN both are handled at the same moment by two jobs sharing one MLOPS_HOME (one self-hosted runner)
    both = [
        action.start("start", "issues", spec.delivery("opened", "opened.with-organization")),
        action.start("start", "issues", spec.delivery("labeled")),
    ]
    results = [started.wait() for started in both]

    # THEN exactly one of them runs the request; the other sees the run and does nothing
    statuses = sorted(r.outputs["status"] for r in results)
    assert statuses == ["ignored", "succeeded"], results
    assert {r.outputs["training-id"] for r in results} == {results[0].outputs["training-id"]}
    assert all(r.returncode == 0 for r in results), results

    # WHEN GitHub redelivers the `opened` event later
    redelivered = action.issue(spec, "opened")

    # THEN nothing happens again: no second status comment, no second history commit
    assert redelivered.returncode == 0 and redelivered.outputs["status"] == "ignored", redelivered
    assert len(action.bot_comments(spec.number, "<!-- mlops:status ")) == 1
    assert len(history_commits(action.fake)) == 1

    # WHEN the author edits the request after the run started, and that edit is delivered twice
    spec.body = form_body(hyperparameters="n_estimators: 50\nmax_depth: 3")
    first, second = action.issue(spec, "edited"), action.issue(spec, "edited")

    # THEN nothing starts, and the issue is told so once for the edit, not once per delivery
    assert first.outputs["status"] == second.outputs["status"] == "ignored", (first, second)
    (notice,) = action.bot_comments(spec.number, "<!-- mlops:edit-ignored")
    assert "change nothing" in notice["body"] and results[0].outputs["training-id"] in notice["body"]
    assert len(history_commits(action.fake)) == 1


def test_a_request_by_someone_without_write_access_waits_for_a_writers_approval(
    action: ActionRunner, tmp_path: Path
) -> None:
    # GIVEN a request opened by a user who cannot write to the repository
    spec = action.open_issue(IssueSpec(author="mona-outsider"))
    action.fake.set_permission("mona-outsider", "read")
    action.fake.set_permission("lisa-maintainer", "maintain")  # GitHub's `permission` says "write" for this role

    # WHEN it is opened
    opened = action.issue(spec)

    # THEN it waits: exit 0, the status comment says who may start it and how, nothing is trained
    assert opened.returncode == 0 and opened.outputs["status"] == "awaiting_approval", opened
    status = action.status_comment(spec.number)
    assert "awaiting approval" in status and "/mlops approve" in status and "mona" in status
    assert history_commits(action.fake) == []

    # WHEN the author approves their own request
    refused = action.comment(spec, "/mlops approve", author="mona-outsider")

    # THEN they are refused politely and nothing changes
    assert refused.returncode == 0 and refused.outputs["status"] == "ignored", refused
    reply = action.fake.comments(spec.number)[-1]["body"]
    assert "needs write, maintain or admin permission" in reply
    assert "awaiting approval" in action.status_comment(spec.number)

    # WHEN a maintainer approves it, after the author changed the body on GitHub (the approval reads it again)
    action.fake.add_issue(
        spec.number,
        title=spec.title,
        body=form_body(hyperparameters="n_estimators: 4\nmax_depth: 3"),
        author=spec.author,
        labels=spec.labels,
    )
    approved = action.comment(spec, "/mlops approve", author="lisa-maintainer")

    # THEN the run starts from the body as it reads now, and goes to its end
    assert approved.returncode == 0 and approved.outputs["status"] == "succeeded", approved
    assert approved.outputs["training-id"] == opened.outputs["training-id"]
    record = json.loads(action.fake.file(f"training_history/{approved.outputs['training-id']}.json") or b"{}")
    assert record["request"]["hyperparameters"] == {"n_estimators": 4, "max_depth": 3}
    assert record["issue"]["author"] == "mona-outsider"
    status = action.status_comment(spec.number)
    assert ": succeeded" in status
    assert sorted(action.fake.labels(spec.number)) == ["mlops:succeeded", "mlops:train"]


def test_running_the_job_again_after_it_died_mid_training_continues_the_same_run(
    action: ActionRunner, tmp_path: Path
) -> None:
    # GIVEN a start job killed while its run trains (a slow training command, so the kill lands mid-training)
    slow = tmp_path / "slow_training.py"
    slow.write_text(
        "import runpy, sys, time\ntime.sleep(4)\nsys.argv = ['mlops.training']\n"
        "runpy.run_module('mlops.training', run_name='__main__')\n"
    )
    command = {"MLOPS_TRAIN_COMMAND": f"{sys.executable} {slow}"}
    spec = action.open_issue(IssueSpec())
    delivery = spec.delivery("opened")
    job = action.start("start", "issues", delivery, **command)
    wait_for(lambda: any(": training" in c["body"] for c in action.bot_comments(spec.number)))
    job.process.kill()
    job.process.communicate(timeout=60)

    # WHEN the job is run again (GitHub re-runs it with the same event)
    again = action.run("start", "issues", delivery, **command)

    # THEN the same run continues from its last finished step and goes to its end, reported and recorded once
    assert again.returncode == 0 and again.outputs["status"] == "succeeded", again
    assert len(action.bot_comments(spec.number, "<!-- mlops:status ")) == 1
    assert f"training_id={again.outputs['training-id']}" in action.status_comment(spec.number)
    assert len(history_commits(action.fake)) == 1


def wait_for(condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
