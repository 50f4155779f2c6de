"""infra/cloudformation/mlops-pipeline.yml as the tests read it, and what it must agree with: the agents of the
compiled flow (mlops/pipeline/asl.py), computed rather than listed, since the flow changes."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

from mlops.pipeline import asl

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "cloudformation" / "mlops-pipeline.yml"
FUNCTION_ARN = re.compile(r"^\$\{(\w+)FunctionArn\}$")
Json = dict[str, Any]


@functools.cache
def template() -> Json:
    """The template as cfn-lint reads it (!Ref, !Sub, !GetAtt... become Ref, Fn::Sub, Fn::GetAtt)."""
    parsed, problems = decode(str(TEMPLATE))
    assert parsed is not None and not problems, problems
    return dict(parsed)


def resources(kind: str) -> dict[str, Json]:
    """The template's resources of one type, by logical id."""
    return {name: body for name, body in template()["Resources"].items() if body["Type"] == kind}


def properties(name: str) -> Json:
    return dict(template()["Resources"][name]["Properties"])


def task_states() -> list[Json]:
    """The compiled flow's Lambda tasks (invoke and waitForTaskToken)."""
    states = asl.compile_flow()["States"].values()
    return [state for state in states if state["Type"] == "Task" and "FunctionName" in state.get("Parameters", {})]


def asl_functions() -> dict[str, list[int]]:
    """`PrepareData` -> the TimeoutSeconds of every state that invokes its function."""
    functions: dict[str, list[int]] = {}
    for state in task_states():
        match = FUNCTION_ARN.match(state["Parameters"]["FunctionName"])
        assert match, state["Parameters"]["FunctionName"]
        functions.setdefault(match.group(1), []).append(state["TimeoutSeconds"])
    return functions


def handler_of(camel: str) -> str:
    """`PrepareData` -> `mlops.handlers.prepare_data` (asl.function_arn, read backwards)."""
    return "mlops.handlers." + re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def get_att(reference: Any) -> tuple[str, str]:
    """{"Fn::GetAtt": ["Fn", "Arn"]} -> ("Fn", "Arn")."""
    assert isinstance(reference, dict) and set(reference) == {"Fn::GetAtt"}, reference
    name, attribute = reference["Fn::GetAtt"]
    return name, attribute


def statements(policy_document: Json) -> list[Json]:
    found = policy_document["Statement"]
    return list(found) if isinstance(found, list) else [found]


def policy_statements(role: str) -> list[Json]:
    """Every statement granted to a role: its inline policies and any AWS::IAM::Policy attached to it."""
    inline = [statement for policy in properties(role).get("Policies", [])
              for statement in statements(policy["PolicyDocument"])]
    attached = [statement for policy in resources("AWS::IAM::Policy").values()
                if {"Ref": role} in policy["Properties"]["Roles"]
                for statement in statements(policy["Properties"]["PolicyDocument"])]
    return inline + attached


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]
