"""The registry backend (mlops.registry.RegistryStorage) on the SageMaker Model Registry. I/O only: the rules
(semantic versions, promotion, rollback, retention) stay in mlops/registry.py.

Mapping:
- a model is a model package group named `<prefix><model id>` (the prefix: MLOPS_MODEL_PACKAGE_GROUP_PREFIX, the
  pipeline stack's `mlops-<8 hex>-`, the only names its IAM grants cover; MODEL_ID fits SageMaker's group names,
  and `group_name` refuses a model id too long to fit after the prefix); a version is a model package in it
  (SageMaker numbers them 1, 2, ...; our semantic version is in the metadata);
- the record lives in the package's CustomerMetadataProperties: readable `mlops.*` entries (version, training
  id, status, algorithm, the gate's metric) and the whole record, compressed and base64-encoded (SageMaker
  allows only letters, digits, spaces and `_.:/=+-@` in values, at most 256 characters each, 50 entries), in
  `mlops.record.NN` chunks; ModelMetrics points at the version's evaluation.json in S3;
- the package's ARN is every record's `registry_arn` (the report's Model Registry ARN line, `mlops models show`);
- current = the newest Approved package. `set_current(v)` first rejects every Approved package newer than v,
  then approves v, so the newest Approved one is v (and a rollback stops serving the bad version first);
  `set_current(None)` rejects them all. A version rolled away from (status rolled_back) is Rejected too; older
  Approved packages stay Approved: what was served and still may be;
- SageMaker's update_model_package drops what it is not given, so every update describes the package, merges,
  and sends the full state (approval status and all metadata);
- delete (retention): SageMaker's DeleteModelPackage is not used (moto has no delete calls, and a rejected
  package costs nothing): the package is marked `mlops.deleted` and Rejected, and hidden from `versions`;
- rollback records: one item each in the run table (ordered, unbounded), and the latest one stamped in the
  metadata of the package it made current (`mlops.rollback`).

`locked()` cannot be a lock on SageMaker. Registration is idempotent and conflict-detecting instead: `insert`
first claims `model#<id>`/`version#<v>` and `training#<training_id>` in the run table in one transaction, on
the condition that neither is held by another training. Two runs that chose the same version at once: the
second gets AwsConflict (the register step's Retry then chooses the next version); the same training inserting
again (a retried step) passes and finishes the package it may have started.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mlops.backends.aws.clients import aws_call
from mlops.backends.aws.dynamodb_table import Table, put_action, update_action
from mlops.errors import AwsConflict, AwsNotFound, RegistryError, UsageError
from mlops.registry import ROLLED_BACK

if TYPE_CHECKING:
    from mlops.registry import RegistryStorage

APPROVED, REJECTED, PENDING = "Approved", "Rejected", "PendingManualApproval"
CHUNK = 256  # the longest metadata value
MAX_ENTRIES = 50
ALLOWED_VALUE = re.compile(r"^[\w .:/=+\-@]{1,256}$")  # SageMaker's metadata value pattern
OURS_OR_FREE = "attribute_not_exists(pk) OR training_id = :tid"
MANAGED_TAG = {"Key": "mlops:managed-by", "Value": "mlops-issueops"}
GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # SageMaker's ModelPackageGroupName
GROUP_NAME_MAX = 63


def group_name(prefix: str, model_id: str) -> str:
    """The model's package group: `<prefix><model_id>`, or a UsageError saying why SageMaker would refuse it."""
    name = prefix + model_id
    if len(name) > GROUP_NAME_MAX:
        raise UsageError(
            f"model_id: '{model_id}' is {len(model_id)} characters; with backend aws it may have at most "
            f"{GROUP_NAME_MAX - len(prefix)} (SageMaker's model package group names are at most {GROUP_NAME_MAX} "
            f"characters, and '{prefix}' (MLOPS_MODEL_PACKAGE_GROUP_PREFIX) comes first)"
        )
    if not GROUP_NAME.match(name):
        raise UsageError(f"MLOPS_MODEL_PACKAGE_GROUP_PREFIX: '{prefix}' followed by '{model_id}' is not a SageMaker "
                         "model package group name (letters, digits and inner hyphens); use the pipeline stack's "
                         "ModelPackageGroupPrefix output")
    return name


class SageMakerRegistryBackend:
    def __init__(self, sagemaker: Any, table: Table, bucket: str, group_prefix: str = "") -> None:
        self.sagemaker, self.table, self.bucket, self.group_prefix = sagemaker, table, bucket, group_prefix

    def group(self, model_id: str) -> str:
        return group_name(self.group_prefix, model_id)

    @contextmanager
    def locked(self, model_id: str) -> Iterator[None]:
        """No lock: `insert` detects a conflict instead (see the module's docstring)."""
        yield

    # --- writing versions ------------------------------------------------------------------------------

    def insert(self, record: dict[str, Any]) -> None:
        """Create the version's model package, and set the record's `registry_arn` to its ARN (so the version
        the registry hands back, and the report, name the package, as every record read from here does)."""
        model_id, version = record["model_id"], record["version"]
        self._ensure_group(self.group(model_id))
        self._claim(record)
        arn = self._package_arn(model_id, version)
        if arn is None:  # not created by an earlier try of this step
            arn = self._create_package(record)
            self.table.update(f"model#{model_id}", f"version#{version}", "SET package_arn = :arn",
                              "training_id = :tid", {":arn": arn, ":tid": record["training_id"]})
        record["registry_arn"] = arn

    def _claim(self, record: dict[str, Any]) -> None:
        model_id, version, training_id = record["model_id"], record["version"], record["training_id"]
        # an update, not a put: a retried claim must keep the package_arn an earlier try recorded
        claim = update_action(f"model#{model_id}", f"version#{version}", "SET training_id = :tid", OURS_OR_FREE,
                              {":tid": training_id})
        index = {"pk": f"training#{training_id}", "sk": "registration", "model_id": model_id,
                 "version": version, "training_id": training_id}
        listed = {"pk": "models", "sk": model_id}
        try:
            self.table.transact(claim, put_action(index, OURS_OR_FREE, {":tid": training_id}), put_action(listed))
        except AwsConflict:
            raise AwsConflict(f"registry: {model_id} {version} was taken by another training at the same time; "
                              "registering again chooses the next version") from None

    def _create_package(self, record: dict[str, Any]) -> str:
        evaluation = f"s3://{self.bucket}/{record['artifact_key']}evaluation.json"
        with aws_call(f"registry: registering {record['model_id']} {record['version']}"):
            return str(self.sagemaker.create_model_package(
                ModelPackageGroupName=self.group(record["model_id"]), ModelApprovalStatus=PENDING,
                ClientToken=client_token(record),
                ModelPackageDescription=f"{record['model_id']} {record['version']} ({record['training_id']})",
                CustomerMetadataProperties=to_metadata(record),
                ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": evaluation}}},
            )["ModelPackageArn"])

    def _ensure_group(self, group: str) -> None:
        """Create the group once: a second CreateModelPackageGroup may replace it (moto does), so look first."""
        try:
            with aws_call(f"registry: reading the group {group}"):
                self.sagemaker.describe_model_package_group(ModelPackageGroupName=group)
        except AwsNotFound:
            with aws_call(f"registry: creating the group {group}"):
                self.sagemaker.create_model_package_group(
                    ModelPackageGroupName=group, ModelPackageGroupDescription=f"mlops model {group}",
                    Tags=[MANAGED_TAG],  # tags on the group only: moto crashes on tags on model packages
                )

    def update(self, model_id: str, version: str, fields: dict[str, Any]) -> None:
        package = self._described(model_id, version)
        record = {**from_metadata(package["CustomerMetadataProperties"]), **fields}
        rolled_back = record.get("status") == ROLLED_BACK
        self._send(package, record, REJECTED if rolled_back else package["ModelApprovalStatus"],
                   "mlops: rolled back" if rolled_back else "")

    def delete(self, model_id: str, version: str) -> None:
        package = self._described(model_id, version)
        if package["ModelApprovalStatus"] == APPROVED and self.current(model_id) == version:
            raise RegistryError(f"registry: {model_id} {version} is current and cannot be deleted")
        record = from_metadata(package["CustomerMetadataProperties"])
        self._send(package, {**record, "deleted": True}, REJECTED, "mlops: deleted by retention")

    def _send(self, package: dict[str, Any], record: dict[str, Any], status: str, note: str = "") -> None:
        """The full state, since update_model_package drops what it is not given."""
        extra = package["CustomerMetadataProperties"].get("mlops.rollback")
        metadata = {**to_metadata(record), **({"mlops.rollback": extra} if extra else {})}
        with aws_call(f"registry: updating {record['model_id']} {record['version']}"):
            self.sagemaker.update_model_package(
                ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus=status,
                ApprovalDescription=note or package.get("ApprovalDescription") or "mlops",
                CustomerMetadataProperties=metadata,
            )

    # --- current ---------------------------------------------------------------------------------------

    def set_current(self, model_id: str, version: str | None) -> None:
        target = self._described(model_id, version) if version is not None else None
        newest_kept = target["ModelPackageVersion"] if target else 0
        for summary in self._summaries(model_id, APPROVED):
            if summary["ModelPackageVersion"] > newest_kept:
                self._set_approval(summary["ModelPackageArn"], REJECTED, "mlops: no longer current")
        if target is not None:
            self._set_approval(target["ModelPackageArn"], APPROVED, "mlops: current")

    def _set_approval(self, arn: str, status: str, note: str) -> None:
        package = self._describe(arn)
        self._send(package, from_metadata(package["CustomerMetadataProperties"]), status, note)

    def current(self, model_id: str) -> str | None:
        newest = self._summaries(model_id, APPROVED, newest_only=True)
        return str(self._record(newest[0]["ModelPackageArn"])["version"]) if newest else None

    # --- reading ---------------------------------------------------------------------------------------

    def versions(self, model_id: str) -> list[dict[str, Any]]:
        """Every version not deleted, in registration order (the registry sorts by version)."""
        records = (self._record(summary["ModelPackageArn"]) for summary in self._summaries(model_id))
        return [record for record in records if not record.get("deleted")]

    def find_by_training(self, training_id: str) -> dict[str, Any] | None:
        index = self.table.get(f"training#{training_id}", "registration")
        arn = self._package_arn(index["model_id"], index["version"]) if index else None
        record = self._record(arn) if arn else None
        return None if record is None or record.get("deleted") else record

    def models(self) -> list[str]:
        return [item["sk"] for item in self.table.query("models")]

    # --- rollbacks -------------------------------------------------------------------------------------

    def add_rollback(self, record: dict[str, Any]) -> None:
        item = {"pk": f"model#{record['model_id']}", "sk": f"rollback#{time.time_ns():020d}",
                "record": json.dumps(record, sort_keys=True, ensure_ascii=False)}
        self.table.put(item)
        stamped = record["to_version"] or record["from_version"]
        if stamped is not None:
            self._stamp_rollback(record["model_id"], stamped, record)

    def _stamp_rollback(self, model_id: str, version: str, rollback: dict[str, Any]) -> None:
        package = self._described(model_id, version)
        stamp = "from {from_version} to {to_version} by {actor} at {at}".format(**rollback)
        package["CustomerMetadataProperties"]["mlops.rollback"] = metadata_value(stamp)
        self._send(package, from_metadata(package["CustomerMetadataProperties"]), package["ModelApprovalStatus"])

    def rollbacks(self, model_id: str) -> list[dict[str, Any]]:
        return [json.loads(item["record"]) for item in self.table.query(f"model#{model_id}", "rollback#")]

    # --- SageMaker reads -------------------------------------------------------------------------------

    def _summaries(self, model_id: str, status: str | None = None, newest_only: bool = False) -> list[dict[str, Any]]:
        """The group's packages, oldest first (newest only: the newest with `status`)."""
        request: dict[str, Any] = {"ModelPackageGroupName": self.group(model_id), "SortBy": "CreationTime",
                                   "SortOrder": "Descending" if newest_only else "Ascending"}
        if status:
            request["ModelApprovalStatus"] = status
        with aws_call(f"registry: listing the versions of {model_id}"):  # a group not created yet lists nothing
            if newest_only:
                return list(self.sagemaker.list_model_packages(**request, MaxResults=1)["ModelPackageSummaryList"])
            pages = self.sagemaker.get_paginator("list_model_packages").paginate(**request)
            return [summary for page in pages for summary in page["ModelPackageSummaryList"]]

    def _package_arn(self, model_id: str, version: str) -> str | None:
        claim = self.table.get(f"model#{model_id}", f"version#{version}")
        return claim.get("package_arn") if claim else None

    def _described(self, model_id: str, version: str) -> dict[str, Any]:
        arn = self._package_arn(model_id, version)
        if arn is None:
            raise RegistryError(f"registry: {model_id} has no version {version}")
        return self._describe(arn)

    def _describe(self, arn: str) -> dict[str, Any]:
        with aws_call(f"registry: reading {arn}"):
            package = dict(self.sagemaker.describe_model_package(ModelPackageName=arn))
        package.setdefault("CustomerMetadataProperties", {})
        package["ModelApprovalStatus"] = package.get("ModelApprovalStatus") or PENDING  # None on moto if unset
        return package

    def _record(self, arn: str) -> dict[str, Any]:
        return {**from_metadata(self._describe(arn)["CustomerMetadataProperties"]), "registry_arn": arn}


# --- the record in CustomerMetadataProperties ----------------------------------------------------------

READABLE = ("version", "training_id", "status", "algorithm")


def client_token(record: dict[str, Any]) -> str:
    """CreateModelPackage's idempotency token (at most 36 characters): on AWS, a try that created the package
    but died before recording its ARN gets the same package back when retried (moto ignores the token)."""
    identity = f"{record['model_id']}#{record['version']}#{record['training_id']}"
    return hashlib.sha256(identity.encode()).hexdigest()[:36]


def to_metadata(record: dict[str, Any]) -> dict[str, str]:
    """Readable entries for people (values SageMaker accepts only), and the whole record in chunks."""
    readable = {f"mlops.{name}": str(record[name]) for name in READABLE if record.get(name) is not None}
    if record.get("deleted"):
        readable["mlops.deleted"] = "true"
    if record.get("metric") and record.get("metrics", {}).get(record["metric"]) is not None:
        readable["mlops.metric"] = f"{record['metric']}={record['metrics'][record['metric']]}"
    encoded = base64.b64encode(zlib.compress(json.dumps(record, sort_keys=True).encode(), 9)).decode()
    chunks = [encoded[start : start + CHUNK] for start in range(0, len(encoded), CHUNK)]
    if len(chunks) + len(readable) + 1 > MAX_ENTRIES:  # + 1: room for the rollback stamp
        raise RegistryError(f"registry: the record of {record['model_id']} {record['version']} is too large for "
                            "SageMaker's metadata (shorten the hyperparameters or the issue title)")
    chunked = {f"mlops.record.{number:02d}": chunk for number, chunk in enumerate(chunks)}
    return {**{k: v for k, v in readable.items() if ALLOWED_VALUE.match(v)}, **chunked}


def from_metadata(metadata: dict[str, str]) -> dict[str, Any]:
    chunks = sorted(key for key in metadata if key.startswith("mlops.record."))
    if not chunks:
        raise RegistryError("registry: a model package holds no mlops record (was it registered by hand?)")
    encoded = "".join(metadata[key] for key in chunks)
    record: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode(encoded)))
    return record


def metadata_value(text: str) -> str:
    """`text` made acceptable as a metadata value: other characters become '_', at most 256 of them."""
    return re.sub(r"[^\w .:/=+\-@]", "_", text)[:CHUNK]


if TYPE_CHECKING:  # mypy proves the backend fits the port

    def _fits_the_port(backend: SageMakerRegistryBackend) -> RegistryStorage:
        return backend
