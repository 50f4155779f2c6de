"""Every boto3 client of the AWS backend comes from here, and every AWS error becomes one of ours here.

The clients are built from AwsSettings (resolved once): the region, the endpoint (AWS_ENDPOINT_URL or
AWS_ENDPOINT_URL_<SERVICE>: a moto server, LocalStack) and bounded retries are passed explicitly, and
`ignore_configured_endpoint_urls` keeps boto3 from reading the environment again behind the settings' back.
Credentials stay boto3's business (environment, OIDC web identity, the Lambda role).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from mlops.errors import (
    AwsAccessDenied,
    AwsConflict,
    AwsError,
    AwsNotFound,
    AwsThrottled,
    AwsUnavailable,
    UsageError,
)
from mlops.settings import AwsSettings

# boto3 service name -> the suffix of its AWS_ENDPOINT_URL_<SERVICE> variable (botocore derives it from the
# service id: upper case, spaces as underscores; tests/aws/test_clients.py checks this table against botocore).
ENDPOINT_SUFFIX = {
    "s3": "S3",
    "sagemaker": "SAGEMAKER",
    "dynamodb": "DYNAMODB",
    "stepfunctions": "SFN",
    "secretsmanager": "SECRETS_MANAGER",
    "sns": "SNS",
    "kms": "KMS",
}

NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "NotFound", "404", "ResourceNotFoundException", "ResourceNotFound",
             "NoSuchVersion", "ExecutionDoesNotExist", "StateMachineDoesNotExist", "TaskDoesNotExist"}
CONFLICT = {"ConditionalCheckFailedException", "TransactionCanceledException", "TransactionConflictException",
            "PreconditionFailed", "412", "ConflictException", "ResourceExistsException", "ResourceInUse",
            "ResourceInUseException", "ExecutionAlreadyExists", "ConditionalRequestConflict"}
THROTTLED = {"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "SlowDown",
             "TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"}
DENIED = {"AccessDenied", "AccessDeniedException", "AuthorizationError", "UnrecognizedClientException",
          "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "SignatureDoesNotMatch",
          "KMS.AccessDeniedException", "InvalidAccessKeyId", "403"}
KINDS: tuple[tuple[set[str], type[AwsError]], ...] = (
    (NOT_FOUND, AwsNotFound), (CONFLICT, AwsConflict), (THROTTLED, AwsThrottled), (DENIED, AwsAccessDenied)
)


class AwsClients:
    """One boto3 client per service, made on first use and kept (a Lambda container reuses them)."""

    def __init__(self, settings: AwsSettings) -> None:
        if not settings.region:
            raise UsageError("AWS_REGION: not set; set AWS_REGION (or AWS_DEFAULT_REGION), e.g. us-east-1")
        self.settings = settings
        self._session = boto3.session.Session()
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(
                service, endpoint_url=self.settings.endpoint_for(ENDPOINT_SUFFIX.get(service, service.upper())),
                config=self.config(),
            )
        return self._clients[service]

    def config(self) -> Config:
        return Config(
            region_name=self.settings.region,
            # total_max_attempts counts the first try; botocore's `max_attempts` would count only the retries
            retries={"mode": "standard", "total_max_attempts": self.settings.max_attempts},
            connect_timeout=5,
            read_timeout=60,
            ignore_configured_endpoint_urls=True,  # the settings already hold the endpoints
        )


@contextmanager
def aws_call(what: str) -> Iterator[None]:
    """Run AWS calls, turning botocore's errors into the project's: `what` says what was being done."""
    try:
        yield
    except ClientError as exc:
        raise translate(exc, what) from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise AwsAccessDenied(f"{what}: no usable AWS credentials ({exc}); configure a role or AWS_PROFILE") from exc
    except NoRegionError as exc:
        raise UsageError(f"{what}: no AWS region; set AWS_REGION") from exc
    except (ConnectionError, ReadTimeoutError) as exc:
        raise AwsUnavailable(f"{what}: cannot reach AWS ({exc}); check AWS_ENDPOINT_URL and the network") from exc
    except BotoCoreError as exc:
        raise AwsError(f"{what}: {exc}") from exc


def translate(exc: ClientError, what: str) -> AwsError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    text = f"{what}: {code}: {error.get('Message') or 'no message'}"
    for codes, kind in KINDS:
        if code in codes:
            return kind(text)
    if code == "ValidationException" and _says_missing(str(error.get("Message", ""))):
        return AwsNotFound(text)  # SageMaker answers a missing group or package this way
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return AwsUnavailable(text) if status >= 500 else AwsError(text)


def _says_missing(message: str) -> bool:
    return message.endswith(("does not exist.", "does not exist", "not found"))
