"""Create or update one CloudFormation stack through a change set, showing its events while CloudFormation works.

CREATE when the stack does not exist (or exists only as an unexecuted review), UPDATE otherwise. A change set
without changes is success ("unchanged"), not an error. A stack whose creation failed and rolled back
(ROLLBACK_COMPLETE) cannot be updated: it holds no resources, so it is deleted and created anew. When the stack
fails, the error carries the reasons CloudFormation gave in the events of this deploy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from mlops.backends.aws.clients import aws_call
from mlops.errors import AwsError, AwsNotFound, DeployError

Say = Callable[[str], None]

CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM")
SUCCEEDED = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE"})
FAILED = frozenset({"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE",
                    "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED", "DELETE_FAILED", "DELETE_COMPLETE",
                    "IMPORT_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_FAILED"})
# What CloudFormation says when a change set would change nothing (the second: an older answer, and moto's).
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
CANCELLED = "Resource creation cancelled"  # the resources CloudFormation stopped because another one failed


@dataclass(frozen=True)
class StackSpec:
    name: str
    template_url: str
    # None: keep the deployed value on an update, take the template's default on a create
    parameters: Mapping[str, str | None]
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StackResult:
    name: str
    stack_id: str
    action: str  # created | updated | unchanged
    status: str
    outputs: dict[str, str]


class ChangeSetDeployer:
    def __init__(self, cloudformation: Any, say: Say, *, poll_seconds: float = 5.0,
                 timeout_seconds: float = 3 * 3600) -> None:
        self.cloudformation, self.say = cloudformation, say
        self.poll_seconds, self.timeout_seconds = poll_seconds, timeout_seconds

    def deploy(self, spec: StackSpec) -> StackResult:
        stack = self._usable_stack(spec.name)
        kind = "UPDATE" if stack is not None and stack["StackStatus"] != "REVIEW_IN_PROGRESS" else "CREATE"
        change_set = self._create_change_set(spec, kind, stack)
        if change_set is None:
            self.say(f"{spec.name}: no changes")
            return self._result(spec.name, "unchanged")
        before = self._event_ids(spec.name)
        started = self._now()
        with aws_call(f"executing the change set of {spec.name}"):
            self.cloudformation.execute_change_set(ChangeSetName=change_set, StackName=spec.name)
        status = self._follow(spec.name, set(before), started)
        if status not in SUCCEEDED:
            raise self._failure(spec.name, status, before)
        return self._result(spec.name, "created" if kind == "CREATE" else "updated")

    # -- the stack as it is -----------------------------------------------------------------------------------

    def describe(self, name: str) -> dict[str, Any] | None:
        try:
            with aws_call(f"describing the stack {name}"):
                return dict(self.cloudformation.describe_stacks(StackName=name)["Stacks"][0])
        except AwsError as exc:
            if isinstance(exc, AwsNotFound) or "does not exist" in str(exc):
                return None  # CloudFormation answers a missing stack with a ValidationError
            raise

    def _usable_stack(self, name: str) -> dict[str, Any] | None:
        stack = self.describe(name)
        status = stack["StackStatus"] if stack else None
        if status is not None and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
            raise DeployError(f"stack {name}: {status}: another deploy or a delete is running; wait for it to end "
                              f"(`mlops aws status --stack ...`) and deploy again")
        if status == "ROLLBACK_COMPLETE":
            self.say(f"{name}: its creation failed earlier (ROLLBACK_COMPLETE); deleting it to create it again")
            self._delete(name)
            return None
        return stack

    def _delete(self, name: str) -> None:
        with aws_call(f"deleting the failed stack {name}"):
            self.cloudformation.delete_stack(StackName=name)
        deadline = time.monotonic() + self.timeout_seconds
        while (stack := self.describe(name)) is not None and stack["StackStatus"] != "DELETE_COMPLETE":
            if stack["StackStatus"] == "DELETE_FAILED" or time.monotonic() > deadline:
                raise DeployError(f"stack {name}: could not be deleted ({stack['StackStatus']}): "
                                  f"{stack.get('StackStatusReason', 'no reason given')}")
            time.sleep(self.poll_seconds)

    # -- the change set --------------------------------------------------------------------------------------

    def _create_change_set(self, spec: StackSpec, kind: str, stack: dict[str, Any] | None) -> str | None:
        """The change set's id, or None when it would change nothing (it is then deleted)."""
        name = f"mlops-deploy-{datetime.now(timezone.utc):%Y%m%d%H%M%S}"
        self.say(f"{spec.name}: {'creating' if kind == 'CREATE' else 'updating'} (change set {name})")
        try:
            with aws_call(f"creating a change set for {spec.name}"):
                created = self.cloudformation.create_change_set(
                    StackName=spec.name, ChangeSetName=name, ChangeSetType=kind, TemplateURL=spec.template_url,
                    Parameters=self._parameters(spec.parameters, stack if kind == "UPDATE" else None),
                    Capabilities=list(CAPABILITIES),
                    Tags=[{"Key": key, "Value": value} for key, value in spec.tags.items()],
                    Description="mlops aws deploy",
                )
        except AwsError as exc:
            if any(text in str(exc) for text in NO_CHANGES):
                return None
            raise
        return self._wait_for_change_set(spec.name, created["Id"])

    @staticmethod
    def _parameters(wanted: Mapping[str, str | None], stack: dict[str, Any] | None) -> list[dict[str, Any]]:
        deployed = {p["ParameterKey"] for p in (stack or {}).get("Parameters", [])}
        parameters: list[dict[str, Any]] = []
        for key, value in wanted.items():
            if value is not None:
                parameters.append({"ParameterKey": key, "ParameterValue": value})
            elif key in deployed:
                parameters.append({"ParameterKey": key, "UsePreviousValue": True})
        return parameters

    def _wait_for_change_set(self, stack: str, change_set: str) -> str | None:
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            with aws_call(f"describing the change set of {stack}"):
                described = self.cloudformation.describe_change_set(ChangeSetName=change_set, StackName=stack)
            if described["Status"] == "CREATE_COMPLETE":
                self._show_changes(stack, described.get("Changes", []))
                return change_set
            if described["Status"] == "FAILED":
                self._discard_empty_change_set(stack, change_set, described.get("StatusReason", ""))
                return None
            if time.monotonic() > deadline:
                raise DeployError(f"stack {stack}: the change set was not ready within {self.timeout_seconds:g} s")
            time.sleep(self.poll_seconds)

    def _discard_empty_change_set(self, stack: str, change_set: str, reason: str) -> None:
        """A change set that failed for having no changes is deleted; one that failed for another reason is an error."""
        if not any(text in reason for text in NO_CHANGES):
            raise DeployError(f"stack {stack}: CloudFormation refused the change set: {reason or 'no reason given'}")
        with aws_call(f"deleting the empty change set of {stack}"):
            self.cloudformation.delete_change_set(ChangeSetName=change_set, StackName=stack)

    def _show_changes(self, stack: str, changes: list[dict[str, Any]]) -> None:
        for change in changes:
            resource = change.get("ResourceChange", {})
            self.say(f"  {resource.get('Action', '?'):<8} {resource.get('ResourceType', '?'):<36} "
                     f"{resource.get('LogicalResourceId', '?')}")

    # -- executing: follow the events ------------------------------------------------------------------------

    def _follow(self, name: str, seen: set[str], started: float) -> str:
        """Print the stack's new events until it reaches a final status; return that status."""
        while True:
            for event in self._new_events(name, seen):
                self.say(_event_line(event))
            status = self._status(name)
            if status in SUCCEEDED or status in FAILED:
                return status
            if self._now() - started > self.timeout_seconds:
                raise DeployError(f"stack {name}: still {status} after {self.timeout_seconds:g} s; "
                                  "follow it with `mlops aws status` or in the CloudFormation console")
            time.sleep(self.poll_seconds)

    def _status(self, name: str) -> str:
        stack = self.describe(name)
        return stack["StackStatus"] if stack else "DELETE_COMPLETE"

    def _new_events(self, name: str, seen: set[str]) -> list[dict[str, Any]]:
        """Events not shown yet, oldest first (CloudFormation lists them newest first, a page at a time)."""
        fresh = []
        for event in self._events(name):
            if event["EventId"] in seen:
                break
            fresh.append(event)
        seen.update(event["EventId"] for event in fresh)
        return list(reversed(fresh))

    def _events(self, name: str) -> Iterator[dict[str, Any]]:
        with aws_call(f"reading the events of {name}"):
            for page in self.cloudformation.get_paginator("describe_stack_events").paginate(StackName=name):
                yield from page["StackEvents"]

    def _event_ids(self, name: str) -> set[str]:
        """The events there before this deploy (they are not this deploy's to show or blame)."""
        return {event["EventId"] for event in self._events(name)}

    def _failure(self, name: str, status: str, seen_before: set[str]) -> DeployError:
        events = [e for e in self._all_events(name) if e["EventId"] not in seen_before]
        reasons = [_event_reason(e) for e in reversed(events) if e["ResourceStatus"].endswith("_FAILED")
                   and e.get("ResourceStatusReason")]
        reasons.sort(key=lambda reason: CANCELLED in reason)  # the cause first, the cancellations after
        return DeployError(f"stack {name}: {status}",
                           [f"stack {name} failed: {status}", *(f"  {r}" for r in reasons or ["no reason given"])])

    def _all_events(self, name: str) -> list[dict[str, Any]]:
        try:
            return list(self._events(name))
        except AwsError:
            return []  # a deleted stack (by name) has no events to read

    def _result(self, name: str, action: str) -> StackResult:
        stack = self.describe(name)
        if stack is None:
            raise DeployError(f"stack {name}: gone after deploying it")
        outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}
        return StackResult(name, stack["StackId"], action, stack["StackStatus"], outputs)

    @staticmethod
    def _now() -> float:
        return time.monotonic()


def _event_line(event: dict[str, Any]) -> str:
    stamp = event["Timestamp"]
    when = stamp.strftime("%H:%M:%S") if isinstance(stamp, datetime) else str(stamp)
    reason = f"  {event['ResourceStatusReason']}" if event.get("ResourceStatusReason") else ""
    return (f"  {when} {event['ResourceStatus']:<20} {event.get('ResourceType', ''):<36} "
            f"{event.get('LogicalResourceId', '')}{reason}")


def _event_reason(event: dict[str, Any]) -> str:
    return f"{event.get('LogicalResourceId', '?')} ({event.get('ResourceType', '?')}): {event['ResourceStatusReason']}"
