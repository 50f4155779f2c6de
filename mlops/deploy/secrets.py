"""`mlops aws deploy --store-github-token`: put the GitHub token the Lambdas comment and commit with into the secret
the pipeline stack made for it (output GitHubTokenSecretArn). Only the secret's value changes; the stack holds a
placeholder until then."""

from __future__ import annotations

from typing import Any

from mlops.backends.aws.clients import aws_call
from mlops.errors import DeployError

SECRET_OUTPUT = "GitHubTokenSecretArn"


def store_github_token(secretsmanager: Any, pipeline_outputs: dict[str, str], token: str) -> str:
    """Store `token` as the secret's new value; return the secret's ARN (never the token)."""
    arn = pipeline_outputs.get(SECRET_OUTPUT)
    if not arn:
        raise DeployError(f"--store-github-token: the pipeline stack has no output {SECRET_OUTPUT}; put the token "
                          "into the stack's GitHub token secret by hand (aws secretsmanager put-secret-value)")
    with aws_call(f"storing the GitHub token in {arn}"):
        secretsmanager.put_secret_value(SecretId=arn, SecretString=token)
    return arn
