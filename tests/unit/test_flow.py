"""The flow declaration is a sound graph, and its choices route the run document as the flow table in
docs/architecture.md ("The flow") draws it."""

from __future__ import annotations

import pytest

from mlops.pipeline.flow import FLOW, AwaitOperator, Choice, End, Retry, Task


def _targets(state) -> list[str]:
    if isinstance(state, Task):
        return [t for t in (state.next,) if t] + [c.next for c in state.catch]
    if isinstance(state, Choice):
        return [rule.next for rule in state.rules] + [state.default]
    if isinstance(state, AwaitOperator):
        return [state.next]
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
    assert operator_choice.next_for({"operator": {"action": "retrain"}}) == "Train"
    assert operator_choice.next_for({"operator": {"action": "abort"}}) == "PublishFailed"


def test_training_crashes_are_retried_three_times_with_exponential_back_off() -> None:
    train = FLOW["Train"]
    assert isinstance(train, Task)
    (retry,) = train.retry
    assert retry.errors == ("TrainingCrashed",) and retry.max_attempts == 3
    assert [retry.delay(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert Retry(("X",), interval_seconds=1, backoff_rate=3).delay(3, base=0.5) == 4.5
