"""moto's Step Functions interpreter accepts the committed state machine and runs its States Language."""

from __future__ import annotations

import pytest

from mlops.pipeline.asl import render
from mlops.pipeline.flow import Choice, End, Flow, Rule
from tests.aws.conftest import create, entered, execute, substitute
from tests.unit.test_asl import COMMITTED


def test_moto_accepts_the_committed_definition_and_walks_it(sfn) -> None:
    # GIVEN the committed definition, deployed with its substitutions
    machine = create(sfn, substitute(COMMITTED.read_text()))
    assert sfn.describe_state_machine(stateMachineArn=machine)["status"] == "ACTIVE"
    # WHEN an execution starts (moto's lambda:invoke echoes the document back)
    execution = execute(sfn, machine, {"training_id": "train-1"}, name="walk-1")
    # THEN the interpreter parsed every state and walked the flow up to the training job, which moto's
    # interpreter cannot run by itself (the test engine adds a poller for it)
    assert entered(sfn, execution["executionArn"]) == ["PrepareData", "BuildTrainingJob"]
    assert execution["status"] == "FAILED" and "Unsupported sync callback" in execution["cause"]


@pytest.mark.parametrize(
    ("document", "ends"),
    [
        ({"verify": {"ok": True}}, "SUCCEEDED"),
        ({"verify": {"ok": 1}}, "FAILED"),  # True is not 1, in both engines
        ({"verify": {"ok": "true"}}, "FAILED"),
        ({"verify": None}, "FAILED"),  # missing: the Default, not a runtime error
        ({}, "FAILED"),
    ],
)
def test_a_compiled_choice_routes_like_the_local_rule(sfn, document, ends) -> None:
    rule = Rule("verify.ok", True, "Ok")
    flow = Flow("Check", {"Check": Choice("Check", (rule,), "Bad"), "Ok": End("Ok", True), "Bad": End("Bad", False)})
    execution = execute(sfn, create(sfn, render(flow), "choice"), document, name="choice-1")
    assert execution["status"] == ends
    assert rule.matches(document) == (ends == "SUCCEEDED")
    if ends == "FAILED":
        assert execution["error"] == "MlopsRunFailed"  # the Fail state, not States.Runtime
