"""A YAML loader hardened for text that strangers type into a GitHub issue.

Anyone who can open an issue can send us YAML, so `load_mapping` refuses, before building a single Python
object, everything that could cost memory or time or that PyYAML would turn into something other than plain
data: anchors and aliases (the "billion laughs" bomb), deep nesting, tags outside the basic scalar, list
and mapping types, and more than 64 KiB of text. It then builds the data with a constructor that rejects
duplicate and non-text keys, which PyYAML accepts silently (the last duplicate wins; `true:` becomes True).
Every failure is an InvalidRequest whose problem line says where (line, column) and how to fix it.

Scalars are read by YAML 1.2's core schema (mlops.scalars, the reader every user-written value goes through),
not by PyYAML's YAML 1.1 rules: `010` is 10, `1:30` and `yes` are text, `1e-3` is a number, there are no
dates, and no number is built from more than a few dozen characters.
"""

from __future__ import annotations

from typing import Any, ClassVar

import yaml
from yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, NodeEvent

from mlops import scalars
from mlops.errors import InvalidRequest
from mlops.scalars import ScalarError, clip

MAX_BYTES = 64 * 1024  # the most text of an issue body or request file anything here reads
MAX_DEPTH = 10

_TAG = "tag:yaml.org,2002:"
_SCALAR_KINDS = ("str", "int", "float", "bool", "null")
PLAIN_DATA_TAGS = frozenset(_TAG + name for name in (*_SCALAR_KINDS, "map", "seq"))

# libyaml's C parser when present: an order of magnitude faster on a 64 KiB document.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAB_HINT = "indent with spaces, never tabs"
# (words in PyYAML's or libyaml's message, what to tell the author); the first match wins.
_HINTS = (
    ("tab", _TAB_HINT),
    ("cannot start any token", "quote a value that starts with @, ` or %"),
    (
        "mapping values are not allowed",
        "quote a value that contains ': ', or fix the indentation of this key",
    ),
    ("could not find expected ':'", "write each field as 'key: value' on its own line"),
    ("expected <block end>", "this line is indented differently from the lines above it; align it"),
    ("another document", "remove the '---' separator: a request is one YAML document"),
    ("flow", "a '[' or '{' is not closed; close it, or quote the value"),
)
_DEFAULT_HINT = "check the indentation (spaces only) and quote values that contain ':' or '#'"


class _PlainDataLoader(_BaseLoader):
    """SafeLoader reduced to str/int/float/bool/null scalars read by YAML 1.2's core schema, lists, and mappings
    with unique text keys."""

    # Lists as PyYAML builds them; mappings and scalars by the constructors registered below.
    yaml_constructors: ClassVar = {_TAG + "seq": yaml.SafeLoader.yaml_constructors[_TAG + "seq"]}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        """The tag of an untagged node; for a plain scalar, its YAML 1.2 core type (never PyYAML's YAML 1.1)."""
        if kind is yaml.ScalarNode and implicit[0]:
            return _TAG + scalars.kind_of(value)
        return super().resolve(kind, value, implicit)


def _scalar_constructor(kind: str) -> Any:
    def construct(loader: Any, node: yaml.Node) -> Any:
        return scalars.construct(kind, loader.construct_scalar(node))  # ScalarError: see _constructed

    return construct


def _construct_mapping_with_unique_text_keys(loader: Any, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    first_line: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = _constructed(loader, key_node, "")
        line = _line_of(key_node)
        if not isinstance(key, str):
            raise _located_problem(loader, line, _non_text_key_message(key_node, key))
        if key in mapping:
            first = first_line[key]
            raise _located_problem(loader, line, f"duplicate key '{clip(key)}' (first set on line {first}); keep one")
        mapping[key], first_line[key] = _constructed(loader, value_node, f"{clip(key)}: "), line
    return mapping


def _constructed(loader: Any, node: yaml.Node, label: str) -> Any:
    """The node's value; a number that cannot be read becomes a problem at its line, under its key."""
    try:
        return loader.construct_object(node, deep=True)
    except ScalarError as exc:
        raise _located_problem(loader, _line_of(node), f"{label}{exc}") from None


def _non_text_key_message(key_node: yaml.Node, key: Any) -> str:
    if not isinstance(key_node, yaml.ScalarNode):
        return "a key must be a name, not a list or mapping"
    # `true:` or `1:` is valid YAML, but a field name that silently became True or 1 matches no field.
    written = clip(key_node.value)
    return f'the key {written} is read as {key!r}, not as text; quote it ("{written}": ...)'


_PlainDataLoader.add_constructor(_TAG + "map", _construct_mapping_with_unique_text_keys)
for _kind in _SCALAR_KINDS:
    _PlainDataLoader.add_constructor(_TAG + _kind, _scalar_constructor(_kind))


def load_mapping(
    text: str, *, what: str = "request", line_offset: int = 0, empty_ok: bool = False
) -> dict[str, Any]:
    """Parse untrusted YAML (or JSON) `text` that must hold one mapping; InvalidRequest otherwise.

    `what` names the text in problem lines (`hyperparameters: ...`). `line_offset` is added to reported line
    numbers, so that YAML cut out of a larger issue body is reported at its line in that body. `empty_ok`
    turns a document with nothing in it (blank, or only comments) into {} instead of an error.
    """
    reject_oversized(text, what=what)
    try:
        # Two passes over the text: the first sees only parser events, so a bomb is refused before any
        # object exists; the second builds the data, which is then known to be small and alias-free.
        _reject_unsafe_events(_loader(text, what, line_offset))
        data = _loader(text, what, line_offset).get_single_data()
    except yaml.YAMLError as exc:
        raise _yaml_error_problem(exc, text, what, line_offset) from None
    except ScalarError as exc:  # the whole document is one number that cannot be read
        raise InvalidRequest(f"{what}: {exc}") from None
    return {} if data is None and empty_ok else _require_mapping(data, what)


def _loader(text: str, what: str, line_offset: int) -> Any:
    loader = _PlainDataLoader(text)
    loader.what, loader.line_offset = what, line_offset  # read by the problem messages
    return loader


def reject_oversized(text: str, *, what: str = "request") -> None:
    """InvalidRequest when `text` is over MAX_BYTES in UTF-8: the bound that keeps every parse cheap."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise InvalidRequest(
            f"{what}: is {size / 1024:.1f} KiB; the limit is {MAX_BYTES // 1024} KiB. Shorten it "
            "(a request is a few lines; put data in a dataset, not in the issue)"
        )


def decode_body(raw: bytes | str) -> str:
    """Issue text as str with Unix line endings: UTF-8 only, the BOM dropped, \\r\\n and \\r made \\n."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequest(
                f"issue body: is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                "save the file as UTF-8 and try again"
            ) from None
    return raw.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _reject_unsafe_events(loader: Any) -> None:
    """Walk the parser's event stream (no objects built yet) and stop at the first unsafe construct."""
    depth = 0
    while loader.check_event():
        event = loader.get_event()
        if isinstance(event, NodeEvent):
            _reject_unsafe_node(loader, event)
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _located_problem(loader, _line_of(event), _too_deep_message())
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


def _reject_unsafe_node(loader: Any, event: NodeEvent) -> None:
    line = _line_of(event)
    if isinstance(event, AliasEvent):
        message = f"aliases (*{clip(str(event.anchor))}) are not allowed; write the value out"
        raise _located_problem(loader, line, message)
    if event.anchor is not None:
        raise _located_problem(loader, line, f"anchors (&{clip(event.anchor)}) are not allowed; write values out")
    tag = getattr(event, "tag", None)
    if tag is not None and tag not in PLAIN_DATA_TAGS:
        shown = clip("!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag)
        raise _located_problem(
            loader,
            line,
            f"the tag {shown} is not allowed; remove it (only text, numbers, true/false, "
            "null, lists and mappings are accepted)",
        )


def _too_deep_message() -> str:
    return f"nested more than {MAX_DEPTH} levels deep; a request needs two or three levels, flatten it"


def _line_of(event_or_node: Any) -> int:
    mark = event_or_node.start_mark
    return 0 if mark is None else mark.line + 1


def _located_problem(loader: Any, line: int, message: str) -> InvalidRequest:
    return InvalidRequest(f"{loader.what}: line {line + loader.line_offset}: {message}")


def _require_mapping(data: Any, what: str) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    how = "write fields as 'key: value' lines, e.g. 'algorithm: random_forest'"
    if data is None:
        raise InvalidRequest(f"{what}: is empty; {how}")
    shape = "a list" if isinstance(data, list) else f"a single value ({str(data)[:40]!r})"
    raise InvalidRequest(f"{what}: is {shape}, not a mapping; {how}")


def _yaml_error_problem(exc: yaml.YAMLError, text: str, what: str, line_offset: int) -> InvalidRequest:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if "maximum nesting depth" in problem:  # PyYAML >= 6.0.3 stops deep flow collections in its scanner, first
        line = 0 if mark is None else mark.line + 1
        return InvalidRequest(f"{what}: line {line + line_offset}: {_too_deep_message()}")
    where = f" at line {mark.line + 1 + line_offset}, column {mark.column + 1}" if mark is not None else ""
    return InvalidRequest(f"{what}: YAML error{where}: {problem}; {_hint(exc, text, mark)}")


def _hint(exc: yaml.YAMLError, text: str, mark: Any) -> str:
    if mark is not None and _indented_with_tab(text, mark.line):
        return _TAB_HINT  # libyaml reports a tab only as "found character that cannot start any token"
    words = f"{getattr(exc, 'context', None) or ''} {getattr(exc, 'problem', None) or exc}"
    return next((hint for needle, hint in _HINTS if needle in words), _DEFAULT_HINT)


def _indented_with_tab(text: str, line_index: int) -> bool:
    lines = text.split("\n")
    line = lines[line_index] if 0 <= line_index < len(lines) else ""
    return "\t" in line[: len(line) - len(line.lstrip(" \t"))]
