"""GitHub answering 502 or a rate limit: the action waits and retries within bounds, or says what went wrong."""

from __future__ import annotations

import time
from typing import Any

from action_harness import ActionRunner, IssueSpec


def help_asked(action: ActionRunner) -> tuple[IssueSpec, dict[str, Any]]:
    """An issue and the delivery of a `/mlops help` comment on it (made before GitHub starts failing)."""
    spec = action.open_issue(IssueSpec())
    return spec, action.comment_delivery(spec, "/mlops help", "Codertocat")


def replies(action: ActionRunner, spec: IssueSpec) -> list[str]:
    return [c["body"] for c in action.bot_comments(spec.number, "<!-- mlops:reply")]


def test_a_502_is_retried_and_the_answer_still_arrives(action: ActionRunner) -> None:
    spec, delivery = help_asked(action)
    action.fake.fail_next(2, 502)

    result = action.run("comment", "issue_comment", delivery)

    assert result.returncode == 0, result
    assert len(replies(action, spec)) == 1
    assert [status for _, _, status in action.fake.requests].count(502) == 2


def test_github_failing_past_the_retries_is_one_clear_error(action: ActionRunner) -> None:
    _, delivery = help_asked(action)
    action.fake.fail_next(50, 502)

    result = action.run("comment", "issue_comment", delivery, MLOPS_GITHUB_RETRIES="2")

    assert result.returncode == 1, result
    (error,) = result.errors
    assert "GitHub API" in error and "still failing after 2 retries" in error and "run the workflow again" in error


def test_a_rate_limit_is_waited_out_until_its_reset(action: ActionRunner) -> None:
    spec, delivery = help_asked(action)
    action.fake.rate_limit_next(1, reset_after=1.5)

    began = time.monotonic()
    result = action.run("comment", "issue_comment", delivery)

    assert result.returncode == 0, result
    assert time.monotonic() - began >= 1.5
    assert len(replies(action, spec)) == 1
    assert [s for _, _, s in action.fake.requests].count(403) == 1


def test_a_secondary_rate_limit_is_waited_out_as_github_asks(action: ActionRunner) -> None:
    spec, delivery = help_asked(action)
    action.fake.rate_limit_next(1, reset_after=1, secondary=True)

    result = action.run("comment", "issue_comment", delivery)

    assert result.returncode == 0, result
    assert len(replies(action, spec)) == 1


def test_a_rate_limit_longer_than_the_action_may_wait_fails_at_once(action: ActionRunner) -> None:
    _, delivery = help_asked(action)
    action.fake.rate_limit_next(1, reset_after=600)

    began = time.monotonic()
    result = action.run("comment", "issue_comment", delivery, MLOPS_GITHUB_MAX_RATE_WAIT="5")

    assert result.returncode == 1, result
    assert time.monotonic() - began < 30
    (error,) = result.errors
    assert "rate limited" in error and "MLOPS_GITHUB_MAX_RATE_WAIT" in error
