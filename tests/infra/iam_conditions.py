"""May a GitHub OIDC token assume a role? A small evaluator of web-identity trust policies.

It covers what such trust policies use: Allow statements, a Federated principal, the AssumeRoleWithWebIdentity
action, and the StringEquals and StringLike operators (`*` and `?` as IAM reads them) on the token's claims.
Anything else raises, so a policy it does not understand is never read as allowing or refusing by accident.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

GITHUB_ISSUER = "token.actions.githubusercontent.com"
WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"


class UnsupportedPolicy(ValueError):
    """The trust policy uses something this evaluator does not implement."""


def _glob(pattern: str) -> str:
    return "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)


OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda value, expected: value == expected,
    "StringLike": lambda value, pattern: re.fullmatch(_glob(pattern), value, flags=re.DOTALL) is not None,
}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def may_assume(trust: Mapping[str, Any], provider_arn: str, claims: Mapping[str, str]) -> bool:
    """True when some statement lets a token with these claims, issued through that provider, assume the role."""
    return any(_allows(statement, provider_arn, claims) for statement in as_list(trust["Statement"]))


def _allows(statement: Mapping[str, Any], provider_arn: str, claims: Mapping[str, str]) -> bool:
    if statement.get("Effect") != "Allow" or set(statement) - {"Sid", "Effect", "Principal", "Action", "Condition"}:
        raise UnsupportedPolicy(f"only plain Allow statements are evaluated: {statement}")
    if WEB_IDENTITY not in as_list(statement["Action"]):
        return False
    if provider_arn not in as_list(statement["Principal"].get("Federated", [])):
        return False
    conditions = [(operator, key, expected) for operator, block in statement.get("Condition", {}).items()
                  for key, expected in block.items()]
    return all(_holds(operator, key, expected, claims) for operator, key, expected in conditions)


def _holds(operator: str, key: str, expected: Any, claims: Mapping[str, str]) -> bool:
    """One condition key: the claim must match one of the values; a missing claim matches nothing."""
    if operator not in OPERATORS:
        raise UnsupportedPolicy(f"condition operator {operator} is not evaluated")
    issuer, _, claim = key.partition(":")
    if issuer != GITHUB_ISSUER:
        raise UnsupportedPolicy(f"condition key {key} is not a GitHub token claim")
    value = claims.get(claim)
    return value is not None and any(OPERATORS[operator](value, candidate) for candidate in as_list(expected))
