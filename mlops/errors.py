"""The one exception tree. Every error a user can cause or see derives from MlopsError.

Each error carries `problems`: one line per thing to fix, written as `<field>: <what is wrong and how to fix it>`.
The CLI prints them one per line and exits with `exit_code`; nothing user-facing ever shows a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class MlopsError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.problems: list[str] = list(problems) or [message]

    def __str__(self) -> str:
        """The problems themselves, so logs and run records say what was wrong, not just that something was."""
        return "; ".join(self.problems)

    def __reduce__(self) -> tuple[type, tuple[str, list[str]]]:
        """Pickled with every problem (training hands its errors from a forked child to its parent)."""
        return type(self), (str(self.args[0]) if self.args else "", self.problems)


class InvalidRequest(MlopsError):
    """The training request (issue body, YAML, comment overrides) cannot be accepted as written."""

    exit_code = 2


class UsageError(MlopsError):
    """The command line itself is wrong (unknown id, missing file, bad option)."""

    exit_code = 2


class DatasetError(MlopsError):
    """A dataset is missing, malformed, or does not fit the request."""


class TrainingError(MlopsError):
    """Training or evaluation failed (the trainer crashed, timed out, or wrote no evaluation)."""


class RegistryError(MlopsError):
    """The model registry refused an operation (unknown model or version, nothing to roll back to)."""

    exit_code = 2


class RunStateError(MlopsError):
    """A run is not in a state that allows the requested action (resume a finished run, say)."""

    exit_code = 2


class HistoryTampered(MlopsError):
    """`training_history/` no longer matches its hash chain."""


class GitHubError(MlopsError):
    """GitHub's REST API refused a call, or did not answer it within the bounded retries and rate-limit waits."""


class TrainingCrashed(TrainingError):
    """The trainer died or timed out: an infrastructure failure, retried with back-off (NFR-003)."""


class TrainingRejected(TrainingError):
    """The training rejected its input (rejected.json): retrying would give the same result."""


class AwsError(MlopsError):
    """An AWS call failed (translated at the edge, in mlops.backends.aws.clients, from botocore's errors)."""


class AwsNotFound(AwsError):
    """The bucket, key, table item, model package or secret does not exist."""


class AwsConflict(AwsError):
    """A conditional write lost: the item or object exists already, or changed since it was read."""


class AwsThrottled(AwsError):
    """AWS throttled the call and the bounded retries ran out: try again later."""


class AwsAccessDenied(AwsError):
    """The credentials are missing, expired, or their policy does not allow the call."""


class AwsUnavailable(AwsError):
    """The endpoint could not be reached or answered with a server error after the bounded retries."""


class DeployError(MlopsError):
    """`mlops aws deploy` could not finish: a bundle could not be built, or a stack failed (with its reasons)."""
