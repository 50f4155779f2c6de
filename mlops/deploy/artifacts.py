"""The deployment bucket: where `mlops aws deploy` puts what the stacks are made from (the templates, the Lambda
bundle, the training source), one per account and region, made on first use.

Keys are content-addressed (`<kind>/<sha256>/<file name>`): a changed file gets a new key, so CloudFormation sees
a changed parameter and updates what uses it; an unchanged one is not uploaded again, and the old objects stay
for CloudFormation to roll back to.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.backends.aws.clients import aws_call
from mlops.deploy.bundle import sha256_of
from mlops.errors import AwsAccessDenied, AwsNotFound, DeployError

Say = Callable[[str], None]


def deployment_bucket_name(account: str, region: str) -> str:
    """One bucket per account and region (S3 names are global: the account id keeps others' names apart)."""
    return f"mlops-deploy-{account}-{region}"


@dataclass(frozen=True)
class Uploaded:
    key: str
    sha256: str
    uploaded: bool  # False: the same content was there already

    def url(self, bucket: str, region: str) -> str:
        """The https URL CloudFormation reads a template from."""
        return f"https://{bucket}.s3.{region}.amazonaws.com/{self.key}"


class DeploymentBucket:
    def __init__(self, s3: Any, name: str, account: str, region: str, say: Say) -> None:
        self.s3, self.name, self.account, self.region, self.say = s3, name, account, region, say

    def ensure(self) -> None:
        """Use the bucket if this account owns it; create and lock it down if it does not exist."""
        if self._exists():
            return
        self.say(f"creating the deployment bucket s3://{self.name}")
        with aws_call(f"creating the deployment bucket {self.name}"):
            self._create()

    def _exists(self) -> bool:
        try:
            with aws_call(f"looking for the deployment bucket {self.name}"):
                self.s3.head_bucket(Bucket=self.name, ExpectedBucketOwner=self.account)
        except AwsNotFound:
            return False
        except AwsAccessDenied as exc:
            raise DeployError(
                f"deployment bucket s3://{self.name} exists but this account ({self.account}) cannot use it "
                f"(another account may own it): {exc}"
            ) from None
        return True

    def _create(self) -> None:
        where = {} if self.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": self.region}}
        self.s3.create_bucket(Bucket=self.name, ObjectOwnership="BucketOwnerEnforced", **where)
        self.s3.put_public_access_block(Bucket=self.name, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        })
        self.s3.put_bucket_encryption(Bucket=self.name, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}],
        })
        self.s3.put_bucket_versioning(Bucket=self.name, VersioningConfiguration={"Status": "Enabled"})
        self.s3.put_bucket_policy(Bucket=self.name, Policy=json.dumps(tls_only_policy(self.name)))

    def upload(self, path: Path, kind: str) -> Uploaded:
        """Put `path` at `<kind>/<sha256>/<name>` unless that key is there already."""
        digest = sha256_of(path)
        uploaded = Uploaded(f"{kind}/{digest}/{path.name}", digest, uploaded=False)
        if self._has(uploaded.key):
            return uploaded
        self.say(f"uploading {path.name} ({path.stat().st_size / 1e6:.1f} MB) to s3://{self.name}/{uploaded.key}")
        with aws_call(f"uploading {path.name} to s3://{self.name}"), path.open("rb") as body:
            self.s3.put_object(Bucket=self.name, Key=uploaded.key, Body=body, ExpectedBucketOwner=self.account)
        return Uploaded(uploaded.key, digest, uploaded=True)

    def _has(self, key: str) -> bool:
        try:
            with aws_call(f"looking for s3://{self.name}/{key}"):
                self.s3.head_object(Bucket=self.name, Key=key, ExpectedBucketOwner=self.account)
        except AwsNotFound:
            return False
        return True


def tls_only_policy(bucket: str) -> dict[str, Any]:
    """Refuse every request that does not come over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    }
