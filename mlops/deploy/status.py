"""`mlops aws status`: each stack of a deployment, its state, when it last changed, and its outputs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlops.backends.aws.clients import aws_call
from mlops.deploy.changesets import SUCCEEDED
from mlops.deploy.deploy import DEPLOYMENT_TAG, OIDC_STACK_SUFFIX
from mlops.errors import AwsError, AwsNotFound


def stack_status(cloudformation: Any, deployment: str | None) -> list[dict[str, Any]]:
    """The stacks of `deployment` (NAME and NAME-github), or of every deployment in the region when None."""
    if deployment is None:
        found = [_summary(stack) for stack in _tagged_stacks(cloudformation)]
        if not found:
            raise AwsNotFound("no mlops deployment in this region; deploy one with `mlops aws deploy`, or pass "
                              "--region")
        return found
    names = (deployment, f"{deployment}{OIDC_STACK_SUFFIX}")
    return [_summary(stack) if stack else _absent(name) for name, stack in
            ((name, _describe(cloudformation, name)) for name in names)]


def healthy(stacks: list[dict[str, Any]]) -> bool:
    return all(stack["status"] in SUCCEEDED for stack in stacks)


def _tagged_stacks(cloudformation: Any) -> list[dict[str, Any]]:
    with aws_call("listing the stacks"):
        pages = cloudformation.get_paginator("describe_stacks").paginate()
        stacks = [stack for page in pages for stack in page["Stacks"]]
    tagged = [s for s in stacks if any(t["Key"] == DEPLOYMENT_TAG for t in s.get("Tags", []))]
    return sorted(tagged, key=lambda s: (_deployment_of(s), s["StackName"]))


def _deployment_of(stack: dict[str, Any]) -> str:
    return next(t["Value"] for t in stack.get("Tags", []) if t["Key"] == DEPLOYMENT_TAG)


def _describe(cloudformation: Any, name: str) -> dict[str, Any] | None:
    try:
        with aws_call(f"describing the stack {name}"):
            return dict(cloudformation.describe_stacks(StackName=name)["Stacks"][0])
    except AwsError as exc:
        if isinstance(exc, AwsNotFound) or "does not exist" in str(exc):
            return None
        raise


def _summary(stack: dict[str, Any]) -> dict[str, Any]:
    changed: Any = stack.get("LastUpdatedTime") or stack.get("CreationTime")
    return {
        "stack": stack["StackName"],
        "status": stack["StackStatus"],
        "reason": stack.get("StackStatusReason"),
        "last_updated": changed.isoformat() if isinstance(changed, datetime) else changed,
        "stack_id": stack["StackId"],
        "outputs": {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])},
    }


def _absent(name: str) -> dict[str, Any]:
    return {"stack": name, "status": "NOT_DEPLOYED", "reason": None, "last_updated": None, "stack_id": None,
            "outputs": {}}


def describe(stacks: list[dict[str, Any]]) -> str:
    """The human rendering: one block per stack."""
    blocks = []
    for stack in stacks:
        lines = [f"{stack['stack']}: {stack['status']}" + (f" ({stack['reason']})" if stack["reason"] else "")]
        if stack["last_updated"]:
            lines.append(f"  last updated {stack['last_updated']}")
        width = max((len(key) for key in stack["outputs"]), default=0)
        lines += [f"  {key:<{width}}  {value}" for key, value in sorted(stack["outputs"].items())]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
