"""Issue bodies -> raw training requests.

GitHub renders an Issue Form into the issue body as `### <label>`, a blank line, then the value
(`_No response_` when an optional field is left empty). A user can type `### ` lines of their own into a
textarea, so only the form's own labels are trusted as headings, found in form order, never inside a fence.

`extract_request` is the one entry point later code uses: it accepts a body rendered from our form
(`.github/ISSUE_TEMPLATE/train.yml`), YAML in a fenced code block, or a plain YAML body (also the shape of the
requirements' §7.1, with the fields under `body:`), and returns the raw request mapping. It does not judge the
values: `mlops.request` validates them.

Everything here is linear in the body's length, so a hostile 64 KiB body costs milliseconds.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from mlops.errors import InvalidRequest, UsageError
from mlops.safe_yaml import decode_body, load_mapping, reject_oversized
from mlops.scalars import ScalarError, clip, read_scalar

NO_RESPONSE = "_No response_"


@dataclass(frozen=True)
class FormField:
    """One answerable item of an Issue Form (markdown items have no answer and are left out)."""

    key: str  # the item's id, or its label when it has none
    label: str
    kind: str  # input | textarea | dropdown | checkboxes (| upload, read like an input)
    multiple: bool = False  # dropdowns only
    render: str | None = None  # textareas only: GitHub wraps the answer in a code fence of this language
    options: tuple[str, ...] = ()  # dropdown options / checkbox labels


# A path to a form, its YAML text, the loaded form (`{body: [...]}`) or its body list, or fields already read.
TemplateSource = str | Path | Mapping[str, Any] | Sequence[Any]


# Our form, `.github/ISSUE_TEMPLATE/train.yml`, as the parser needs it. The YAML file is not packaged (the
# Action and the Lambdas install only `mlops/`), so the fields live here; a unit test keeps the two identical.
TRAIN_FORM_FIELDS: tuple[FormField, ...] = (
    FormField("model_name", "Model name (モデル名)", "input"),
    FormField(
        "learning_type",
        "Learning type (学習方式)",
        "dropdown",
        options=("supervised", "unsupervised", "reinforcement"),
    ),
    FormField("algorithm", "Algorithm (アルゴリズム)", "input"),
    FormField(
        "task",
        "Task (タスク)",
        "dropdown",
        options=("classification", "regression", "clustering", "dimensionality_reduction", "reinforcement"),
    ),
    FormField("dataset_id", "Dataset ID (データセットID)", "input"),
    FormField("environment", "Environment (強化学習の環境)", "input"),
    FormField("hyperparameters", "Hyperparameters (ハイパーパラメータ)", "textarea", render="yaml"),
    FormField("evaluation_metric", "Evaluation metric (評価指標)", "input"),
    FormField("evaluation_threshold", "Evaluation threshold (閾値)", "input"),
    FormField("max_retry", "Max retrains (最大再学習回数)", "input"),
    FormField("options", "Options (オプション)", "checkboxes", options=("Report in English",)),
)

# Form answers that are numbers in the request; every other input stays text (`dataset_id: 001` is an id).
_NUMBER_FIELDS = frozenset({"evaluation_threshold", "max_retry"})
# Checkbox labels of the `options` field -> the request entry each one sets when ticked.
_OPTION_FLAGS = {"Report in English": ("report_lang", "en")}
# Info strings of fenced blocks that may hold the request (a bare ``` too); ```python and the like never do.
_YAML_FENCE_INFOS = frozenset({"", "yaml", "yml", "json"})
# A request sits in one of the first few blocks; trying thousands of tiny hostile ones would only cost time.
_MAX_YAML_BLOCKS = 20
_SPEC_WRAPPER_KEYS = frozenset({"title", "labels", "body"})  # requirements §7.1: fields under `body:`
_YAML_KEY_LINE = re.compile(r"[A-Za-z_][\w.-]*[ \t]*:(?:[ \t]|$)")
_CHECKBOX = re.compile(r"[-*+][ \t]+\[([ xX]?)\][ \t]+(\S.*)")


# ---------------------------------------------------------------------------------------------- the form


def form_fields(template: TemplateSource) -> tuple[FormField, ...]:
    """The answerable fields of an Issue Form, in form order."""
    if isinstance(template, Sequence) and not isinstance(template, str) and _all_fields(template):
        return tuple(template)
    items = _body_items(_load_template(template))
    fields = tuple(_field_from_item(item) for item in items if item.get("type") != "markdown")
    _reject_duplicate_keys(fields)
    return fields


def _all_fields(items: Sequence[Any]) -> bool:
    return bool(items) and all(isinstance(item, FormField) for item in items)


def _load_template(template: TemplateSource) -> Any:
    if isinstance(template, Path) or (isinstance(template, str) and _names_a_file(template)):
        try:
            return yaml.safe_load(Path(template).read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"template: cannot read {template}: {exc.strerror}") from None
    # The template is the repository's own file, not user input: plain safe_load is enough.
    return yaml.safe_load(template) if isinstance(template, str) else template


def _names_a_file(text: str) -> bool:
    # One line that ends in .yml/.yaml, or names an existing file: YAML text of a form always has newlines.
    if "\n" in text:
        return False
    try:
        return text.strip().endswith((".yml", ".yaml")) or Path(text).is_file()
    except (OSError, ValueError):  # a name too long, or with a NUL byte, is no file
        return False


def _body_items(document: Any) -> list[dict[str, Any]]:
    items = document.get("body") if isinstance(document, Mapping) else document
    if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
        raise UsageError(
            "template: expected an Issue Form with a `body:` list of fields (or that list itself)"
        )
    return items


def _field_from_item(item: Mapping[str, Any]) -> FormField:
    attributes = item.get("attributes") or {}
    label = str(attributes.get("label") or "").strip()
    if not label:
        raise UsageError(f"template: a field of type {item.get('type')!r} has no label; give it one")
    options = tuple(_option_label(option) for option in attributes.get("options") or ())
    render = attributes.get("render")
    return FormField(
        key=str(item.get("id") or label),
        label=label,
        kind=str(item.get("type")),
        multiple=bool(attributes.get("multiple", False)),
        render=str(render) if render else None,
        options=options,
    )


def _option_label(option: Any) -> str:
    # Dropdown options are plain strings; checkbox options are mappings with a `label`.
    return str(option.get("label", "") if isinstance(option, Mapping) else option).strip()


def _reject_duplicate_keys(fields: Sequence[FormField]) -> None:
    counts = Counter(field.key for field in fields)
    duplicates = sorted(key for key, count in counts.items() if count > 1)
    if duplicates:
        raise UsageError(f"template: two fields share the id or label {', '.join(map(repr, duplicates))}")


# --------------------------------------------------------------------------------------- parsing a body


def parse_issue_form(body: str, template: TemplateSource) -> dict[str, Any]:
    """The answers of an issue body rendered from the Issue Form `template`, keyed by field id (or label).

    Values: None for `_No response_`, an empty answer or a field whose heading is missing; a string for
    inputs, textareas (a `render:` textarea without its code fence) and single dropdowns; a list of strings
    for multi-select dropdowns; {"selected": [...], "unselected": [...]} for checkboxes.
    """
    fields = form_fields(template)
    lines = decode_body(body).split("\n")
    return _answers(fields, lines, _find_headings(lines, fields))


def _answers(
    fields: Sequence[FormField], lines: list[str], headings: list[tuple[int, int]]
) -> dict[str, Any]:
    """Each field's answer: the lines from its heading up to the next heading found (or the end)."""
    sections = {}
    for position, (field_index, heading_line) in enumerate(headings):
        end = headings[position + 1][1] if position + 1 < len(headings) else len(lines)
        sections[field_index] = "\n".join(lines[heading_line + 1 : end])
    return {field.key: _answer(field, sections.get(index)) for index, field in enumerate(fields)}


def _find_headings(lines: list[str], fields: Sequence[FormField]) -> list[tuple[int, int]]:
    """(field index, line number) of each field's heading, in order: a label heading counts only after the
    previous field's heading, so a later field's label typed into a textarea is the only way to confuse it."""
    indices_by_label: dict[str, list[int]] = {}
    for index, field in enumerate(fields):
        indices_by_label.setdefault(field.label, []).append(index)
    found: list[tuple[int, int]] = []
    next_field = 0
    for number, line in _lines_outside_fences(lines):
        candidates = indices_by_label.get(_heading_text(line) or "", [])
        position = bisect.bisect_left(candidates, next_field)
        if position < len(candidates):
            found.append((candidates[position], number))
            next_field = candidates[position] + 1
    return found


def _heading_text(line: str) -> str | None:
    """The text of a `### ` heading line (up to three spaces of indent, as in CommonMark), else None."""
    text = line.lstrip(" ")
    if len(line) - len(text) > 3 or not text.startswith("### "):
        return None
    return text[4:].strip()


def _answer(field: FormField, section: str | None) -> Any:
    if section is None or section.strip() in ("", NO_RESPONSE):
        return None
    if field.kind == "textarea" and field.render:
        return _code_block_content(section)
    text = section.strip()
    if field.kind == "checkboxes":
        return _checkbox_states(text)
    if field.kind == "dropdown":
        return _dropdown_answer(field, text)
    return text


def _code_block_content(section: str) -> str | None:
    """A `render:` textarea's answer without the fence GitHub wrapped it in; indentation kept (it is code)."""
    lines = _without_blank_edges(section.split("\n"))
    opening = _fence(lines[0]) if lines else None
    if opening and len(lines) >= 2 and _closes(_fence(lines[-1]), opening):
        lines = _without_blank_edges(lines[1:-1])
    return "\n".join(line.rstrip() for line in lines) or None


def _without_blank_edges(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _checkbox_states(text: str) -> dict[str, list[str]]:
    # `- [X]` is what GitHub writes; `- [x]` and a malformed `- []` come from hand-edited bodies.
    states: dict[str, list[str]] = {"selected": [], "unselected": []}
    for line in text.split("\n"):
        match = _CHECKBOX.fullmatch(line.strip())
        if match:
            ticked = match.group(1) in ("x", "X")
            states["selected" if ticked else "unselected"].append(match.group(2).strip())
    return states


def _dropdown_answer(field: FormField, text: str) -> str | list[str] | None:
    if text == "None" and "None" not in field.options:
        return None  # how GitHub rendered an unanswered dropdown before `_No response_`
    if not field.multiple:
        return text
    return [choice.strip() for choice in text.split(",") if choice.strip()] or None


# --------------------------------------------------------------------------------------- code fences


class _Fence(NamedTuple):
    char: str  # ` or ~
    length: int
    info: str  # the text after the opening run, e.g. "yaml"


def _fence(line: str) -> _Fence | None:
    """The code fence on `line` (CommonMark: 3+ backticks or tildes, indented at most 3 spaces), else None."""
    text = line.lstrip(" ")
    char = text[:1]
    if len(line) - len(text) > 3 or char not in ("`", "~"):
        return None
    run = len(text) - len(text.lstrip(char))
    info = text[run:].strip()
    if run < 3 or (char == "`" and "`" in info):
        return None
    return _Fence(char, run, info)


def _closes(candidate: _Fence | None, opening: _Fence) -> bool:
    if candidate is None or candidate.info:
        return False  # a closing fence has no info string
    return candidate.char == opening.char and candidate.length >= opening.length


def _lines_outside_fences(lines: list[str]) -> Iterator[tuple[int, str]]:
    """(number, line) of every line that is not in a fenced code block nor one of its fence lines.

    An opening fence that is never closed is read as text: CommonMark would run it to the end of the body,
    which would hide every later heading because of one stray ``` typed into a textarea.
    """
    fences = [_fence(line) for line in lines]
    longest_closer = _longest_closer_from(fences)
    opening: _Fence | None = None
    for number, (line, fence) in enumerate(zip(lines, fences, strict=True)):
        if opening is not None:
            opening = None if _closes(fence, opening) else opening
        elif fence is not None and longest_closer[fence.char][number + 1] >= fence.length:
            opening = fence
        else:
            yield number, line


def _longest_closer_from(fences: list[_Fence | None]) -> dict[str, list[int]]:
    """For each fence character, the longest closing fence at or after each line: one backward pass, so
    "is this fence ever closed?" costs O(1) per line instead of a scan to the end of the body."""
    backtick, tilde = [0] * (len(fences) + 1), [0] * (len(fences) + 1)
    for number in range(len(fences) - 1, -1, -1):
        backtick[number], tilde[number] = backtick[number + 1], tilde[number + 1]
        fence = fences[number]
        if fence is not None and not fence.info:
            suffix = backtick if fence.char == "`" else tilde
            suffix[number] = max(suffix[number], fence.length)
    return {"`": backtick, "~": tilde}


class _Block(NamedTuple):
    first_line: int  # 0-based line number of the block's first content line in the body
    info: str
    text: str


def _fenced_blocks(lines: list[str]) -> Iterator[_Block]:
    """Every fenced code block; an unclosed one runs to the end of the body, as CommonMark reads it."""
    number = 0
    while number < len(lines):
        opening = _fence(lines[number])
        number += 1
        if opening is None:
            continue
        start = number
        while number < len(lines) and not _closes(_fence(lines[number]), opening):
            number += 1
        yield _Block(start, opening.info.lower(), "\n".join(lines[start:number]))
        number += 1


# ------------------------------------------------------------------------------------------ requests


def extract_request(body: str, template: TemplateSource | None = None) -> dict[str, Any]:
    """The raw request mapping in an issue body (not validated: see mlops.request.validate_request).

    Accepts, in this order: a body rendered from the Issue Form (`template`, by default ours), the first
    fenced code block (```yaml, ```yml, ```json or bare ```) that holds a mapping, or a plain YAML body.
    A YAML request shaped as in the requirements (§7.1: `title:`, `labels:`, fields under `body:`) yields the
    `body:` mapping.
    """
    text = decode_body(body)
    reject_oversized(text, what="issue body")
    fields = TRAIN_FORM_FIELDS if template is None else form_fields(template)
    lines = text.split("\n")
    headings = _find_headings(lines, fields)
    if headings:
        return request_from_answers(_answers(fields, lines, headings))
    return _without_spec_wrapper(_yaml_request(text, lines))


def request_from_answers(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Form answers (from parse_issue_form on our form) -> request fields; unanswered fields are left out."""
    request: dict[str, Any] = {}
    for key, answer in answers.items():
        if answer is not None:
            request.update(_request_entries(key, answer))
    return request


def _request_entries(key: str, answer: Any) -> dict[str, Any]:
    if key == "hyperparameters":
        parameters = load_mapping(answer, what="hyperparameters", empty_ok=True)
        return {key: parameters} if parameters else {}
    if key in _NUMBER_FIELDS:
        return {key: _number_answer(key, answer)}
    if key == "model_name":
        model_id = _model_id(answer)
        return {"model_id": model_id} if model_id else {}
    if key == "options":
        return dict(_OPTION_FLAGS[label] for label in answer["selected"] if label in _OPTION_FLAGS)
    if isinstance(answer, dict):
        return {key: answer["selected"]}  # another form's checkboxes: what was ticked
    return {key: answer}


def _number_answer(key: str, answer: str) -> Any:
    """A number field's answer, read like any YAML value: `0.85`, `1e-3`, `3` (text stays text)."""
    try:
        return read_scalar(answer)
    except ScalarError as exc:
        raise InvalidRequest(f"{key}: {exc}") from None


def _model_id(model_name: str) -> str | None:
    # The same rule as a model name in the issue title, so `Iris Classifier` becomes `iris-classifier`.
    from mlops.request import model_id_from_title  # imported late: mlops.request may come to import us

    return model_id_from_title(model_name)


def _yaml_request(text: str, lines: list[str]) -> dict[str, Any]:
    if not text.strip():
        raise InvalidRequest(_nothing_found("the issue body is empty"))
    blocks = [block for block in _fenced_blocks(lines) if _may_hold_request(block)][:_MAX_YAML_BLOCKS]
    if blocks:
        return _first_mapping_block(blocks)
    if not any(_YAML_KEY_LINE.match(line) for line in lines):
        raise InvalidRequest(_nothing_found("no form headings, no ```yaml block and no 'key: value' lines"))
    return load_mapping(text, what="request")


def _may_hold_request(block: _Block) -> bool:
    # Cheap checks first: a hostile body can hold thousands of tiny blocks, and each YAML parse has a cost.
    return block.info in _YAML_FENCE_INFOS and any(map(_YAML_KEY_LINE.match, block.text.split("\n")))


def _first_mapping_block(blocks: Sequence[_Block]) -> dict[str, Any]:
    first_problem: InvalidRequest | None = None
    for block in blocks:
        try:
            return load_mapping(block.text, what="request", line_offset=block.first_line)
        except InvalidRequest as problem:
            first_problem = first_problem or problem
    assert first_problem is not None  # blocks is not empty
    raise first_problem


def _nothing_found(why: str) -> str:
    return (
        f"request: nothing that looks like a training request was found ({why}); fill in the "
        "'MLOps training request' form, or write the request as YAML, e.g. a ```yaml block with "
        "'learning_type: supervised', 'algorithm: random_forest', 'dataset_id: iris', "
        "'evaluation_threshold: 0.85'"
    )


def _without_spec_wrapper(mapping: dict[str, Any]) -> dict[str, Any]:
    """The requirements' §7.1 shape (`title:`, `labels:`, `body:` with the fields) -> the `body:` fields."""
    if "body" not in mapping:
        return mapping
    outside = [key for key in mapping if key not in _SPEC_WRAPPER_KEYS]
    if outside:
        raise InvalidRequest(
            "request: some fields are outside `body:`",
            [f"{clip(key)}: is outside `body:`; indent it under `body:` with the other fields" for key in outside],
        )
    if not isinstance(mapping["body"], dict):
        raise InvalidRequest(
            "body: must hold the request fields, one 'key: value' per line indented under it"
        )
    return mapping["body"]
