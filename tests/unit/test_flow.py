"""The flow declaration is a sound graph, and its choices route the run document as the flow table in
docs/architecture.md ("The flow") draws it."""

from __future__ import annotations

import pytest

from mlops.pipeline.flow import FLOW, AwaitOperator, Choice, End, Retry, Rule, Task, TrainingJob, error_matches


def _targets(state) -> list[str]:
    if isinstance(state, (Task, TrainingJob, AwaitOperator)):
        return [state.next] + [c.next for c in state.catch]
    if isinstance(state, Choice):
        return [rule.next for rule in state.rules] + [state.default]
    return []


def test_every_transition_names_an_existing_state() -> None:
    for name, state in FLOW.states.items():
        for target in _targets(state):
            assert target in FLOW.states, f"{name} -> {target}"


def test_every_state_is_reachable_from_the_start() -> None:
    seen, todo = set(), [FLOW.start]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_targets(FLOW[name]))
    assert seen == set(FLOW.states)


def test_every_task_ends_somewhere_and_only_end_states_end() -> None:
    for name, state in FLOW.states.items():
        assert isinstance(state, End) == (not _targets(state)), name


@pytest.mark.parametrize(
    ("decision", "expected"), [("pass", "Register"), ("retrain", "AwaitOperator"), ("exhausted", "PublishFailed")]
)
def test_gate_routes_by_decision(decision: str, expected: str) -> None:
    gate = FLOW["Gate"]
    assert isinstance(gate, Choice)
    assert gate.next_for({"gate": {"decision": decision}}) == expected


def test_verify_failure_and_operator_abort_route_to_failure_paths() -> None:
    verify_choice, operator_choice = FLOW["VerifyChoice"], FLOW["OperatorChoice"]
    assert isinstance(verify_choice, Choice) and isinstance(operator_choice, Choice)
    assert verify_choice.next_for({"verify": {"ok": True}}) == "PublishSucceeded"
    assert verify_choice.next_for({"verify": {"ok": False}}) == "Rollback"
    assert operator_choice.next_for({"operator": {"action": "retrain"}}) == "BuildTrainingJob"
    assert operator_choice.next_for({"operator": {"action": "abort"}}) == "PublishFailed"


def test_a_rule_compares_like_states_language_true_is_not_one() -> None:
    rule = Rule("verify.ok", True, "Next")
    assert rule.matches({"verify": {"ok": True}})
    assert not rule.matches({"verify": {"ok": 1}})
    assert not Rule("n", 1, "Next").matches({"n": True})
    assert Rule("n", 1, "Next").matches({"n": 1.0})
    assert not rule.matches({"verify": None}) and not rule.matches({})


def test_errors_match_by_exact_name_or_a_wildcard() -> None:
    assert error_matches(("TrainingCrashed",), "TrainingCrashed")
    assert not error_matches(("TrainingError",), "TrainingCrashed")  # no class hierarchy
    assert error_matches(("States.TaskFailed",), "TrainingCrashed")
    assert not error_matches(("States.TaskFailed",), "States.Timeout")
    assert error_matches(("States.ALL",), "States.Timeout")


def test_the_operator_wait_times_out_into_a_state_that_reports() -> None:
    wait = FLOW["AwaitOperator"]
    assert isinstance(wait, AwaitOperator) and wait.timeout_seconds == 7 * 24 * 3600
    assert wait.catch[0].errors == ("States.Timeout",) and wait.catch[0].next == "OperatorTimedOut"
    assert all(c.result_path == "error" for s in FLOW.states.values() for c in getattr(s, "catch", ()))


def test_failed_training_jobs_are_retried_three_times_with_exponential_back_off() -> None:
    train = FLOW["Train"]
    assert isinstance(train, TrainingJob)
    (retry,) = train.retry
    assert retry.errors == ("States.TaskFailed",) and retry.max_attempts == 3
    assert [retry.delay(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert Retry(("X",), interval_seconds=1, backoff_rate=3).delay(3, base=0.5) == 4.5
