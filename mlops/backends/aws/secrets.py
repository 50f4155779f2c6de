"""Secrets Manager: the GitHub token and the Slack webhook URL, read once per container (per `max_age`).

A warm Lambda container reuses its SecretCache, so a burst of notifications costs one GetSecretValue; `max_age`
bounds how long a rotated secret can be served stale.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mlops.backends.aws.clients import aws_call
from mlops.errors import AwsNotFound, UsageError

# What the pipeline template puts in its secrets until someone puts the value (mlops-pipeline.yml: "UNSET - ...").
PLACEHOLDER = "UNSET"


def is_placeholder(value: str) -> bool:
    """No value yet: empty, or the template's placeholder (a token or a URL holds no space either)."""
    return not value.strip() or value.startswith(PLACEHOLDER) or any(char.isspace() for char in value.strip())


def put_value_command(secret_id: str, what: str) -> str:
    return f"aws secretsmanager put-secret-value --secret-id {secret_id} --secret-string '{what}'"


class SecretCache:
    def __init__(self, secretsmanager: Any, max_age: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.secretsmanager, self.max_age, self.clock = secretsmanager, max_age, clock
        self._values: dict[str, tuple[float, str]] = {}

    def get(self, secret_id: str, setting: str = "the secret") -> str:
        """The secret's string; `setting` names the variable that points at it, for the error message."""
        cached = self._values.get(secret_id)
        if cached and self.clock() - cached[0] < self.max_age:
            return cached[1]
        value = self._fetch(secret_id, setting)
        if not is_placeholder(value):  # not cached: a value put after the deploy is used at the next call
            self._values[secret_id] = (self.clock(), value)
        return value

    def _fetch(self, secret_id: str, setting: str) -> str:
        try:
            with aws_call(f"{setting}: reading the secret {secret_id}"):
                answer = self.secretsmanager.get_secret_value(SecretId=secret_id)
        except AwsNotFound:
            message = f"{setting}: no secret {secret_id} in Secrets Manager; create it or fix the name"
            raise UsageError(message) from None
        if "SecretString" not in answer:
            raise UsageError(f"{setting}: the secret {secret_id} is binary; store the value as a string")
        return str(answer["SecretString"])
