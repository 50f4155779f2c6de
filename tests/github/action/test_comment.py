"""`comment`: `/mlops` commands on an issue (GitHub's own example `issue_comment` deliveries)."""

from __future__ import annotations

import json

import pytest
from action_harness import ActionRunner, IssueSpec, form_body, history_commits

# A decision tree of depth 1 cannot reach 90 % on iris: the run pauses for an operator.
WEAK = form_body(algorithm="decision_tree", hyperparameters="max_depth: 1", threshold="0.9", max_retry="2")


@pytest.fixture
def paused(action: ActionRunner) -> IssueSpec:
    """An issue whose run missed its threshold and waits for an operator."""
    spec = action.open_issue(IssueSpec(number=12, body=WEAK))
    started = action.issue(spec)
    assert started.returncode == 0 and started.outputs["status"] == "awaiting_operator", started
    return spec


def reactions(action: ActionRunner, spec: IssueSpec) -> list[str]:
    """The reactions on the last comment a person (not the action) wrote on the issue."""
    people = [c for c in action.fake.comments(spec.number) if "<!-- mlops:" not in c["body"]]
    return sorted(action.fake.reactions(people[-1]["id"]))


def last_reply(action: ActionRunner, spec: IssueSpec) -> str:
    return str(action.bot_comments(spec.number, "<!-- mlops:reply")[-1]["body"])


def test_a_paused_run_is_answered_only_by_writers_and_bad_overrides_leave_it_paused(
    action: ActionRunner, paused: IssueSpec
) -> None:
    # GIVEN a paused run: its status comment shows the metrics and the exact commands to answer with
    status = action.status_comment(paused.number)
    assert "awaiting the operator" in status and "| Accuracy (gate) |" in status
    assert "/mlops retrain max_depth=1" in status and "/mlops abort <reason>" in status
    assert sorted(action.fake.labels(paused.number)) == ["mlops:awaiting-operator", "mlops:train"]
    assert history_commits(action.fake) == []  # nothing is committed at a pause

    # WHEN someone without write access asks for a retrain
    action.fake.set_permission("drive-by", "triage")
    refused = action.comment(paused, "/mlops retrain max_depth=3", author="drive-by")

    # THEN they get a polite refusal, and nothing changes
    assert refused.returncode == 0 and refused.outputs["status"] == "ignored", refused
    assert "needs write, maintain or admin permission" in last_reply(action, paused)
    assert reactions(action, paused) == ["-1", "eyes"]
    assert action.status_comment(paused.number) == status

    # WHEN a writer asks for a retrain with an override that does not validate
    action.fake.set_permission("lisa", "write")
    bad = action.comment(paused, "/mlops retrain max_depth=0 n_estimator=3", author="lisa")

    # THEN every problem is answered and the run stays paused
    assert bad.returncode == 0 and bad.outputs["status"] == "awaiting_operator", bad
    reply = last_reply(action, paused)
    assert "max_depth" in reply and "n_estimator" in reply
    assert action.status_comment(paused.number) == status

    # WHEN anyone asks for the status (through a GitHub App delivery)
    asked = action.comment(paused, "/mlops status", author="drive-by", variant="created.with-installation")

    # THEN the reply says where the run is and how to continue it
    assert asked.outputs["status"] == "awaiting_operator", asked
    assert "Awaiting an operator" in last_reply(action, paused) and "[status comment](" in last_reply(action, paused)

    # WHEN the writer retrains with a deeper tree
    retrained = action.comment(paused, "Trying deeper trees.\n/mlops retrain max_depth=3", author="lisa")

    # THEN the run resumes in this job, passes, and is recorded and reported
    assert retrained.returncode == 0 and retrained.outputs["status"] == "succeeded", retrained
    assert retrained.outputs["model-version"] == "v1.0.0"
    assert reactions(action, paused) == ["eyes", "rocket"]
    status = action.status_comment(paused.number)
    assert ": succeeded" in status and "max_depth=3" in status
    assert sorted(action.fake.labels(paused.number)) == ["mlops:succeeded", "mlops:train"]
    assert len(history_commits(action.fake)) == 1


def test_abort_ends_a_paused_run_as_failed_and_records_it(action: ActionRunner, paused: IssueSpec) -> None:
    # WHEN the owner aborts the paused run
    aborted = action.comment(paused, "/mlops abort the labels need cleaning first")

    # THEN the run ends as failed (exit 1), with the reason, recorded in one commit
    assert aborted.returncode == 1 and aborted.outputs["status"] == "failed", aborted
    assert reactions(action, paused) == ["+1", "eyes"]
    status = action.status_comment(paused.number)
    assert ": failed" in status and "the labels need cleaning first" in status
    assert sorted(action.fake.labels(paused.number)) == ["mlops:failed", "mlops:train"]
    (commit,) = history_commits(action.fake)
    assert f"training_history/{aborted.outputs['training-id']}.md" in commit["paths"]

    # WHEN the same comment is delivered again
    again = action.run("comment", "issue_comment", _redelivery(action, paused))

    # THEN it changes nothing
    assert again.returncode == 0 and again.outputs["status"] == "ignored", again
    assert len(history_commits(action.fake)) == 1


def _redelivery(action: ActionRunner, spec: IssueSpec) -> dict[str, object]:
    """The last delivered comment event, as GitHub would deliver it again."""
    jobs = sorted((action.root / "jobs").glob("*-comment"))
    payload: dict[str, object] = json.loads((jobs[-1] / "event.json").read_text(encoding="utf-8"))
    return payload


def test_an_unknown_command_is_answered_with_the_commands(action: ActionRunner) -> None:
    spec = action.open_issue(IssueSpec())

    result = action.comment(spec, "/mlops retrian n_estimators=3")

    assert result.returncode == 0 and result.outputs["status"] == "ignored", result
    reply = last_reply(action, spec)
    assert "retrian" in reply and "retrain" in reply and "/mlops status" in reply
    assert reactions(action, spec) == ["confused", "eyes"]


def test_run_commands_on_an_issue_without_a_paused_run_change_nothing(action: ActionRunner) -> None:
    spec = action.open_issue(IssueSpec())

    result = action.comment(spec, "/mlops retrain max_depth=4")

    assert result.returncode == 0 and result.outputs["status"] == "ignored", result
    assert "no run of this issue waits for an operator" in last_reply(action, spec)
    assert reactions(action, spec) == ["-1", "eyes"]


@pytest.mark.parametrize(
    ("variant", "author", "why"),
    [
        ("edited", "Codertocat", "only new comments"),
        ("created", "dependabot[bot]", "bot"),
    ],
)
def test_edited_comments_and_bot_comments_are_ignored(
    action: ActionRunner, variant: str, author: str, why: str
) -> None:
    spec = action.open_issue(IssueSpec())
    payload = action.comment_delivery(spec, "/mlops help", author, variant)
    if author.endswith("[bot]"):
        payload["comment"]["user"]["type"] = payload["sender"]["type"] = "Bot"

    result = action.run("comment", "issue_comment", payload)

    assert result.returncode == 0 and result.outputs["status"] == "ignored", result
    assert why in result.stdout
    assert action.bot_comments(spec.number) == [] and reactions(action, spec) == []


def test_help_lists_every_command(action: ActionRunner) -> None:
    spec = action.open_issue(IssueSpec())

    result = action.comment(spec, "/mlops help")

    assert result.returncode == 0, result
    reply = last_reply(action, spec)
    for command in ("retrain", "abort", "approve", "status", "help"):
        assert f"`/mlops {command}`" in reply
    assert reactions(action, spec) == ["+1", "eyes"]
