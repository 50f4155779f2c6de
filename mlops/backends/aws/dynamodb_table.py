"""The one DynamoDB table of the AWS backend, and the few item operations its users need.

Items are keyed by a partition key `pk` and a sort key `sk`, both strings named for what they hold:
  run#<training_id> / run                   a run document and the state it resumes at
  issue#<owner/repo>#<n> / active           the issue's one active run (a conditional put claims it)
  issue#<owner/repo>#<n> / token            the paused run's task token (never in a public comment)
  model#<model_id> / version#<v>            a registered version, claimed by a conditional put (the registry)
  model#<model_id> / rollback#<at>#<id>     a rollback record
  training#<training_id> / registration     which version a training registered (idempotent registration)
  models / <model_id>                       the models the registry holds
Run items also carry `kind` = "run" and `created`, the keys of the sparse index `runs_by_creation`.
Values are strings, whole numbers and booleans only (documents as JSON text), so nothing meets Decimal.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from mlops.backends.aws.clients import aws_call

RUNS_INDEX = "runs_by_creation"
NEW_ITEM = "attribute_not_exists(pk)"
Values = dict[str, Any] | None  # a condition's `:placeholder` values

# What CreateTable needs (the deployment template mirrors it; the tests create the table from it).
TABLE_DEFINITION: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "kind", "created")
    ],
    "GlobalSecondaryIndexes": [{
        "IndexName": RUNS_INDEX,
        "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}, {"AttributeName": "created", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }],
    "BillingMode": "PAY_PER_REQUEST",
}

_to_dynamo, _from_dynamo = TypeSerializer(), TypeDeserializer()


class Table:
    def __init__(self, dynamodb: Any, name: str) -> None:
        self.dynamodb, self.name = dynamodb, name

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        with aws_call(f"run table: reading {pk}/{sk}"):
            answer = self.dynamodb.get_item(TableName=self.name, Key=key(pk, sk), ConsistentRead=True)
        return plain(answer["Item"]) if "Item" in answer else None

    def put(self, item: dict[str, Any], condition: str | None = None, values: Values = None) -> None:
        """Write the item; with `condition` (its `:placeholders` in `values`), only when it holds."""
        request = {"TableName": self.name, "Item": encode(item), **_condition(condition, values)}
        with aws_call(f"run table: writing {item['pk']}/{item['sk']}"):
            self.dynamodb.put_item(**request)

    def update(self, pk: str, sk: str, expression: str, condition: str, values: dict[str, Any]) -> None:
        """An UpdateItem under `condition` (AwsConflict when it does not hold)."""
        with aws_call(f"run table: updating {pk}/{sk}"):
            self.dynamodb.update_item(
                TableName=self.name, Key=key(pk, sk), UpdateExpression=expression, ConditionExpression=condition,
                ExpressionAttributeValues=encode(values),
            )

    def delete(self, pk: str, sk: str, condition: str | None = None, values: Values = None) -> None:
        request = {"TableName": self.name, "Key": key(pk, sk), **_condition(condition, values)}
        with aws_call(f"run table: deleting {pk}/{sk}"):
            self.dynamodb.delete_item(**request)

    def query(self, pk: str, sk_prefix: str = "") -> list[dict[str, Any]]:
        """The partition's items whose sort key starts with `sk_prefix`, in sort key order (consistent read)."""
        condition = "pk = :pk AND begins_with(sk, :prefix)" if sk_prefix else "pk = :pk"
        values = {":pk": pk, ":prefix": sk_prefix} if sk_prefix else {":pk": pk}
        return self._query(KeyConditionExpression=condition, ExpressionAttributeValues=encode(values),
                           ConsistentRead=True)

    def query_runs(self) -> list[dict[str, Any]]:
        """Every run item, oldest first, from the sparse index (eventually consistent, as every GSI)."""
        return self._query(
            IndexName=RUNS_INDEX, KeyConditionExpression="kind = :kind",
            ExpressionAttributeValues=encode({":kind": "run"}),
        )

    def _query(self, **request: Any) -> list[dict[str, Any]]:
        with aws_call(f"run table: querying {self.name}"):
            pages = self.dynamodb.get_paginator("query").paginate(TableName=self.name, **request)
            return [plain(item) for page in pages for item in page["Items"]]

    def transact(self, *actions: dict[str, Any]) -> None:
        """Several writes, all or none (each action as in TransactWriteItems, TableName filled in)."""
        with aws_call(f"run table: writing {len(actions)} items together"):
            self.dynamodb.transact_write_items(TransactItems=[self._named(action) for action in actions])

    def _named(self, action: dict[str, Any]) -> dict[str, Any]:
        ((kind, body),) = action.items()
        return {kind: {"TableName": self.name, **body}}


def key(pk: str, sk: str) -> dict[str, Any]:
    return encode({"pk": pk, "sk": sk})


def put_action(item: dict[str, Any], condition: str | None = None, values: Values = None) -> dict[str, Any]:
    return {"Put": {"Item": encode(item), **_condition(condition, values)}}


def update_action(pk: str, sk: str, expression: str, condition: str, values: dict[str, Any]) -> dict[str, Any]:
    return {"Update": {"Key": key(pk, sk), "UpdateExpression": expression, "ConditionExpression": condition,
                       "ExpressionAttributeValues": encode(values)}}


def encode(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _to_dynamo.serialize(value) for name, value in values.items() if value is not None}


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """An item as Python values; DynamoDB numbers (Decimal) back to ints (we store no fractions)."""
    values = {name: _from_dynamo.deserialize(value) for name, value in item.items()}
    return {name: int(value) if isinstance(value, Decimal) else value for name, value in values.items()}


def _condition(condition: str | None, values: Values) -> dict[str, Any]:
    if condition is None:
        return {}
    named = {"ConditionExpression": condition}
    return {**named, "ExpressionAttributeValues": encode(values)} if values else named
