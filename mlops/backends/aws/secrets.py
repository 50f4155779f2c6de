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
