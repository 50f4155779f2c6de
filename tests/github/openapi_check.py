"""Check HTTP requests and responses against GitHub's own OpenAPI description of its REST API.

The description is the committed subset in tests/fixtures/third_party/github-rest-api/ (see extract.py there).
Every check returns a list of problems in plain words; an empty list means GitHub's description allows it.
Schemas are OpenAPI 3.0 (``nullable``, ``readOnly``...), hence openapi-schema-validator's OAS 3.0 validators,
which resolve ``$ref`` through the whole document registered as one resource.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

DESCRIPTION = (Path(__file__).resolve().parents[1] / "fixtures" / "third_party" / "github-rest-api"
               / "fake-github.openapi.json")
BASE_URI = "urn:github-rest-api"
JSON = "application/json"
ERROR_SCHEMA = "#/components/schemas/basic-error"


def _labels_object(body: Any) -> Any:
    """Bare label names read as ``{"labels": [...]}``."""
    if isinstance(body, str):
        return {"labels": [body]}
    return {"labels": body} if isinstance(body, list) else body


# Request forms GitHub's description allows in its prose but not in its schema. Adding and setting an issue's
# labels: "you can also pass an `array` of labels directly" (PyGithub does: ``add_to_labels``, ``set_labels``),
# and for setting, "a single label as a `string`".
PROSE_ALLOWANCES = {"issues/add-labels": _labels_object, "issues/set-labels": _labels_object}


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    spec: dict[str, Any]
    pattern: re.Pattern[str]

    @property
    def operation_id(self) -> str:
        return str(self.spec["operationId"])

    @property
    def pointer(self) -> str:
        """The JSON pointer of this operation inside the description."""
        return f"#/paths/{_escape(self.template)}/{self.method}"


@dataclass(frozen=True)
class Match:
    operation: Operation
    path_params: dict[str, str]


class ApiDescription:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._registry: Registry[Any] = Registry().with_resource(
            BASE_URI, Resource.from_contents(_without_discriminators(document), default_specification=DRAFT4))
        self._operations = _operations(document)
        self._validators: dict[tuple[str, bool], Any] = {}

    # -- routing -------------------------------------------------------------------------------------------
    def match(self, method: str, raw_path: str) -> Match | str:
        """The operation serving ``method raw_path``, or why there is none."""
        candidates = [(op, m) for op in self._operations if (m := op.pattern.fullmatch(raw_path))]
        if not candidates:
            return f"{method} {raw_path}: no such path in GitHub's REST API description"
        for operation, found in sorted(candidates, key=lambda c: len(c[1].groupdict())):
            if operation.method == method.lower():
                return Match(operation, {k: unquote(v) for k, v in found.groupdict().items()})
        templates = sorted({op.template for op, _ in candidates})
        return f"{method} {raw_path}: GitHub's description has no {method} on {', '.join(templates)}"

    # -- requests ------------------------------------------------------------------------------------------
    def check_request(self, match: Match, query: dict[str, list[str]], body: bytes, content_type: str) -> list[str]:
        where = f"{match.operation.method.upper()} {match.operation.template}"
        problems = self._check_parameters(match, query)
        problems += self._check_body(match.operation, body, content_type)
        return [f"{where}: {problem}" for problem in problems]

    def _check_parameters(self, match: Match, query: dict[str, list[str]]) -> list[str]:
        problems: list[str] = []
        declared = self._parameters(match.operation)
        for (location, name), (pointer, spec) in declared.items():
            given = match.path_params.get(name) if location == "path" else _single(query.get(name))
            if given is None:
                problems += [f"required {location} parameter {name!r} is missing"] if spec.get("required") else []
                continue
            problems += self._errors(f"{pointer}/schema", _coerce(given, spec.get("schema", {})), write=True,
                                     label=f"{location} parameter {name!r}")
        unknown = sorted(name for name in query if ("query", name) not in declared)
        problems += [f"query parameter {name!r} is not in the description" for name in unknown]
        return problems

    def _check_body(self, operation: Operation, body: bytes, content_type: str) -> list[str]:
        request_body = operation.spec.get("requestBody")
        if request_body is None:
            return ["this operation takes no request body"] if body.strip() else []
        if not body.strip():
            return ["the request body is missing"] if request_body.get("required") else []
        if not content_type.startswith(JSON):
            return [f"the request body is {content_type or 'untyped'}, not {JSON}"]
        try:
            value = json.loads(body)
        except ValueError as error:
            return [f"the request body is not JSON: {error}"]
        value = PROSE_ALLOWANCES.get(operation.operation_id, lambda given: given)(value)
        pointer = f"{operation.pointer}/requestBody/content/{_escape(JSON)}/schema"
        schema = request_body["content"][JSON]["schema"]
        return self._errors(pointer, value, write=True, label="request body") + _undeclared_keys(schema, value)

    # -- responses -----------------------------------------------------------------------------------------
    def check_response(self, operation: Operation, status: int, body: Any) -> list[str]:
        """Problems with the fake's own answer: its status must be documented and its JSON fit the schema."""
        where = f"{operation.method.upper()} {operation.template} -> {status}"
        response_pointer, response = self._response(operation, status)
        if response is None and status >= 400:
            # GitHub's description lists only some of the errors GitHub gives (a PATCH on a missing comment is
            # a 404 all the same); an unlisted error must still be GitHub's basic error object.
            return [f"{where}: {p}" for p in self._errors(ERROR_SCHEMA, body, write=False, label="error body")]
        if response is None:
            return [f"{where}: status {status} is not documented for this operation"]
        if JSON not in response.get("content", {}):
            return [f"{where}: the description documents no body, the fake sent one"] if body is not None else []
        schema_pointer = f"{response_pointer}/content/{_escape(JSON)}/schema"
        return [f"{where}: {p}" for p in self._errors(schema_pointer, body, write=False, label="response body")]

    def _response(self, operation: Operation, status: int) -> tuple[str, dict[str, Any] | None]:
        response = operation.spec["responses"].get(str(status))
        if response is None:
            return "", None
        return self._resolve(f"{operation.pointer}/responses/{status}", response)

    # -- plumbing ------------------------------------------------------------------------------------------
    def _parameters(self, operation: Operation) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
        declared = {}
        for index, parameter in enumerate(operation.spec.get("parameters", [])):
            pointer, spec = self._resolve(f"{operation.pointer}/parameters/{index}", parameter)
            declared[(spec["in"], spec["name"])] = (pointer, spec)
        return declared

    def _resolve(self, pointer: str, node: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Follow a local ``$ref`` (components refer to nothing but components)."""
        while "$ref" in node:
            pointer = node["$ref"]
            node = _at(self.document, pointer)
        return pointer, node

    def _errors(self, pointer: str, value: Any, *, write: bool, label: str) -> list[str]:
        validator = self._validator(pointer, write)
        return [f"{label}{_where(error.absolute_path)}: {error.message}"
                for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))]

    def _validator(self, pointer: str, write: bool) -> Any:
        key = (pointer, write)
        if key not in self._validators:
            cls = OAS30WriteValidator if write else OAS30ReadValidator
            self._validators[key] = cls({"$ref": BASE_URI + pointer}, registry=self._registry,
                                        format_checker=oas30_format_checker)
        return self._validators[key]


@cache
def github_description() -> ApiDescription:
    return ApiDescription(json.loads(DESCRIPTION.read_text(encoding="utf-8")))


def _operations(document: dict[str, Any]) -> list[Operation]:
    operations = []
    for template, methods in document["paths"].items():
        for method, spec in methods.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                operations.append(Operation(method, template, spec, _pattern(template, spec, document)))
    return operations


def _pattern(template: str, spec: dict[str, Any], document: dict[str, Any]) -> re.Pattern[str]:
    """A path template as a regex; a parameter marked ``x-multi-segment`` (a git ref, a file path) spans slashes."""
    multi = {p["name"] for p in (_at(document, p["$ref"]) if "$ref" in p else p for p in spec.get("parameters", []))
             if p.get("x-multi-segment")}
    pieces = re.split(r"\{(\w+)\}", template)
    regex = "".join(re.escape(piece) if i % 2 == 0 else f"(?P<{piece}>{'.+' if piece in multi else '[^/]+'})"
                    for i, piece in enumerate(pieces))
    return re.compile(regex)


def _without_discriminators(node: Any) -> Any:
    """The document without ``discriminator`` hints: GitHub puts one on the ``oneOf`` of a contents answer whose
    directory branch is an array, which an OAS 3.0 validator cannot apply; the ``oneOf`` alone decides the same."""
    if isinstance(node, dict):
        return {k: _without_discriminators(v) for k, v in node.items() if k != "discriminator"}
    if isinstance(node, list):
        return [_without_discriminators(v) for v in node]
    return node


def _coerce(text: str, schema: dict[str, Any]) -> Any:
    """A parameter arrives as text; read it as the type its schema names so the schema can judge it."""
    kind = schema.get("type")
    if kind == "integer" and re.fullmatch(r"-?\d+", text):
        return int(text)
    if kind == "boolean" and text in {"true", "false"}:
        return text == "true"
    return text


def _undeclared_keys(schema: dict[str, Any], value: Any) -> list[str]:
    """GitHub silently ignores body fields it does not know, so a misspelt optional field would go unnoticed."""
    if not isinstance(value, dict) or "properties" not in schema or schema.get("additionalProperties"):
        return []
    return [f"request body field {key!r} is not in the description" for key in value if key not in schema["properties"]]


def _single(values: list[str] | None) -> str | None:
    return values[-1] if values else None


def _where(path: Any) -> str:
    return "".join(f"[{part!r}]" for part in path)


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _at(document: dict[str, Any], pointer: str) -> Any:
    node: Any = document
    for part in pointer.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node
