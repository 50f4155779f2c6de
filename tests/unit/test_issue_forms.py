"""GIVEN an issue body (rendered by GitHub from an Issue Form, or written as YAML), WHEN it is parsed, THEN
every field gets the value its author typed: checked against two other projects' parsers' own test cases,
against our own form rendered the way GitHub renders it, and against hostile bodies."""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops.errors import InvalidRequest, UsageError
from mlops.issue_forms import (
    TRAIN_FORM_FIELDS,
    FormField,
    extract_request,
    form_fields,
    parse_issue_form,
)
from mlops.request import validate_request

REPO = Path(__file__).resolve().parents[2]
TRAIN_FORM = REPO / ".github" / "ISSUE_TEMPLATE" / "train.yml"
ISSUE_CONFIG = REPO / ".github" / "ISSUE_TEMPLATE" / "config.yml"
THIRD_PARTY = Path(__file__).resolve().parents[1] / "fixtures" / "third_party"
STEFANBUCK = THIRD_PARTY / "issue-forms" / "stefanbuck-github-issue-parser"
ISSUE_OPS = THIRD_PARTY / "issue-forms" / "issue-ops-parser"
SCHEMASTORE = THIRD_PARTY / "schemastore"
FAST = 0.5  # seconds; a hostile 64 KiB body parses in a few milliseconds


def snake_case(label: str) -> str:
    """How both third-party parsers key a field without an id (`Is it?` -> `is_it`)."""
    return re.sub(r"[^a-z0-9]+", "_", label.strip().lower()).strip("_")


def their_key(field: FormField) -> str:
    return snake_case(field.label) if field.key == field.label else field.key


def problem_of(body: str, template: Any = None) -> str:
    with pytest.raises(InvalidRequest) as caught:
        extract_request(body, template)
    return "\n".join(caught.value.problems)


# ------------------------------------------------------------------ stefanbuck/github-issue-parser cases


def as_stefanbuck(ours: dict[str, Any], fields: tuple[FormField, ...]) -> dict[str, Any]:
    """Our answers in stefanbuck's convention: unanswered fields left out, checkboxes as the ticked labels."""
    theirs = {}
    for field in fields:
        value = ours[field.key]
        if value is not None:
            theirs[their_key(field)] = value["selected"] if field.kind == "checkboxes" else value
    return theirs


@pytest.mark.parametrize("case", sorted(p.name for p in STEFANBUCK.iterdir()))
def test_stefanbuck_cases_parse_to_their_expected_values(case: str) -> None:
    # GIVEN a form fragment, the body GitHub rendered from it (the `blank` case has none: an empty body)
    folder = STEFANBUCK / case
    body_file = folder / "issue-body.md"
    body = body_file.read_text(encoding="utf-8") if body_file.exists() else ""
    fields = form_fields(folder / "form.yml")
    # WHEN we parse it
    ours = parse_issue_form(body, folder / "form.yml")
    # THEN, in their convention, we get exactly their expected values
    assert as_stefanbuck(ours, fields) == json.loads((folder / "expected.json").read_text(encoding="utf-8"))


def test_stefanbuck_checkboxes_keep_the_unticked_labels_too() -> None:
    # Their `- []` (malformed, hand-edited) is not ticked: we list it as unselected, they drop it.
    ours = parse_issue_form(
        (STEFANBUCK / "full-example" / "issue-body.md").read_text(), STEFANBUCK / "full-example" / "form.yml"
    )
    assert ours["second_anything_else"] == {
        "selected": ["Hot Dog is a Sandwich", "Another item"],
        "unselected": ["Never give up"],
    }
    assert ours["Checkbox without an id?"] == {"selected": [], "unselected": ["IDs are great", "IDs are bad"]}


# ----------------------------------------------------------------------------- issue-ops/parser cases


def as_issue_ops(ours: dict[str, Any], fields: tuple[FormField, ...]) -> dict[str, Any]:
    """Our answers in issue-ops' convention: every dropdown a list ([] when unanswered, a single choice in a
    list of one); other unanswered fields left out."""
    theirs = {}
    for field in fields:
        value = ours[field.key]
        if field.kind == "dropdown":
            value = [] if value is None else value if isinstance(value, list) else [value]
        if value is not None:
            theirs[their_key(field)] = value
    return theirs


def issue_ops_case(case: str) -> tuple[str, Path, dict[str, Any]]:
    folder = ISSUE_OPS / case
    expected_file = next(folder.glob("parsed-issue.json"), folder / "parsed-issue-with-template.json")
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    return (folder / "issue.md").read_text(encoding="utf-8"), folder / "template.yml", expected


@pytest.mark.parametrize("case", ["example", "header", "invalid", "missing", "no-ids"])
def test_issue_ops_cases_parse_to_their_expected_values(case: str) -> None:
    # GIVEN an issue-ops template and issue body
    body, template, expected = issue_ops_case(case)
    # WHEN we parse it
    ours = parse_issue_form(body, template)
    # THEN, in their convention, we get exactly their values (`header`, `invalid`: no `### <label>` heading at
    # all, so every field is unanswered; `missing`: a heading with no value, and a heading left out)
    assert as_issue_ops(ours, form_fields(template)) == expected


def test_issue_ops_extra_heading_is_content_by_design() -> None:
    # GIVEN a body with a `### This is an extra field` heading that is not one of the form's labels
    body, template, expected = issue_ops_case("extra")
    # WHEN we parse it
    ours = parse_issue_form(body, template)
    # THEN everything else matches issue-ops...
    adapted = as_issue_ops(ours, form_fields(template))
    assert {k: v for k, v in adapted.items() if k != "id"} == {k: v for k, v in expected.items() if k != "id"}
    # ...but the extra section stays inside the answer above it. issue-ops splits the body at every `### `
    # line and drops sections it does not know, which breaks any textarea whose author typed a `### ` line;
    # we trust only the form's own labels as headings, so an unknown heading is content. The Ersilia ID
    # dropdown therefore answers with text that is no option, and the request validator reports it.
    assert expected["id"] == []
    assert ours["id"] == (
        "None\n\n### This is an extra field\n\nThe following link is just an example:\n\n`www.example.com`"
    )


def test_issue_ops_body_without_template_matches_when_every_field_is_read_as_text() -> None:
    # GIVEN issue-ops' output for the `example` body parsed WITHOUT a template: every section as raw text
    expected = json.loads((ISSUE_OPS / "example" / "parsed-issue-no-template.json").read_text())
    # and, since we never split on headings we were not told about, a form whose fields are all textareas
    labelled = form_fields(ISSUE_OPS / "no-ids" / "template.yml")
    as_text = tuple(FormField(field.label, field.label, "textarea") for field in labelled)
    # WHEN we parse the body with it
    ours = parse_issue_form((ISSUE_OPS / "example" / "issue.md").read_text(), as_text)
    # THEN we read the same text; the only difference is documented: `_No response_` is None for us, and is
    # left as that literal text by issue-ops when it has no template to say what the field is
    adapted = {snake_case(key): value for key, value in ours.items()}
    assert adapted.pop("the_topics_about_the_thing") is None
    assert expected.pop("the_topics_about_the_thing") == "_No response_"
    assert adapted == expected


@pytest.mark.parametrize("case", ["extra", "header", "invalid", "missing", "no-ids"])
def test_issue_ops_templates_read_to_their_parsed_fields(case: str) -> None:
    # GIVEN issue-ops' reading of a template (label, type, options, multiple), WHEN we read the same template
    expected = json.loads((ISSUE_OPS / case / "parsed-template.json").read_text())
    fields = form_fields(ISSUE_OPS / case / "template.yml")
    # THEN we find the same fields, in the same order, with the same labels, types and options
    assert [their_key(field) for field in fields] == list(expected)
    for field in fields:
        theirs = expected[their_key(field)]
        assert (field.label, field.kind) == (theirs["label"], theirs["type"])
        assert list(field.options) == [
            o["label"] if isinstance(o, dict) else o for o in theirs.get("options", [])
        ]
        assert field.multiple == theirs.get("multiple", False)


# ----------------------------------------------------------------------------------------- our form

RENDERED_BODY = """\
### Model name (モデル名)

Iris Classifier

### Learning type (学習方式)

supervised

### Algorithm (アルゴリズム)

random_forest

### Task (タスク)

_No response_

### Dataset ID (データセットID)

iris

### Environment (強化学習の環境)

_No response_

### Hyperparameters (ハイパーパラメータ)

```yaml
### tuned after the first run (a YAML comment that looks like a heading)
n_estimators: 200
### Evaluation metric (評価指標)
max_depth: 8
```

### Evaluation metric (評価指標)

f1

### Evaluation threshold (閾値)

0.9

### Max retrains (最大再学習回数)

3

### Options (オプション)

- [X] Report in English"""


def github_rendered(body: str) -> str:
    # GitHub stores a browser-submitted body with \r\n line endings and no trailing newline.
    return body.rstrip("\n").replace("\n", "\r\n")


def test_our_form_body_parses_to_the_raw_answers() -> None:
    # GIVEN our form, rendered as GitHub does (\r\n, no trailing newline, `### ` lines typed in a textarea)
    body = github_rendered(RENDERED_BODY)
    # WHEN it is parsed as a form
    answers = parse_issue_form(body, TRAIN_FORM)
    # THEN each field has its answer, the textarea without its fence, unanswered fields None
    assert answers == {
        "model_name": "Iris Classifier",
        "learning_type": "supervised",
        "algorithm": "random_forest",
        "task": None,
        "dataset_id": "iris",
        "environment": None,
        "hyperparameters": "### tuned after the first run (a YAML comment that looks like a heading)\n"
        "n_estimators: 200\n### Evaluation metric (評価指標)\nmax_depth: 8",
        "evaluation_metric": "f1",
        "evaluation_threshold": "0.9",
        "max_retry": "3",
        "options": {"selected": ["Report in English"], "unselected": []},
    }


def test_our_form_body_becomes_a_request() -> None:
    # WHEN the rendered body is turned into a request
    request = extract_request(github_rendered(RENDERED_BODY))
    # THEN fields are request keys, numbers are numbers, hyperparameters a mapping, unanswered fields absent
    assert request == {
        "model_id": "iris-classifier",
        "learning_type": "supervised",
        "algorithm": "random_forest",
        "dataset_id": "iris",
        "hyperparameters": {"n_estimators": 200, "max_depth": 8},
        "evaluation_metric": "f1",
        "evaluation_threshold": 0.9,
        "max_retry": 3,
        "report_lang": "en",
    }


def test_the_request_from_our_form_passes_validation() -> None:
    request = validate_request(extract_request(github_rendered(RENDERED_BODY)))
    assert (request.model_id, request.algorithm, request.report_lang) == (
        "iris-classifier",
        "random_forest",
        "en",
    )
    assert request.hyperparameters == {"n_estimators": 200, "max_depth": 8}


def minimal_body(**answers: str) -> str:
    """Our form rendered with only the given answers; every other field `_No response_`."""
    sections = [
        f"### {field.label}\n\n{answers.get(field.key, '_No response_')}" for field in TRAIN_FORM_FIELDS
    ]
    return "\n\n".join(sections)


def test_unanswered_fields_and_unticked_options_are_left_out() -> None:
    body = minimal_body(learning_type="unsupervised", algorithm="kmeans", options="- [ ] Report in English")
    assert extract_request(body) == {"learning_type": "unsupervised", "algorithm": "kmeans"}


def test_only_the_threshold_and_retries_become_numbers() -> None:
    # GIVEN a dataset id that looks like a number
    body = minimal_body(dataset_id="001", evaluation_threshold="0.85", max_retry="2", model_name="m1")
    request = extract_request(body)
    # THEN the id stays text while the threshold and the retry count are numbers
    assert request == {"dataset_id": "001", "evaluation_threshold": 0.85, "max_retry": 2, "model_id": "m1"}


def test_numbers_in_the_form_follow_yaml_1_2() -> None:
    # GIVEN number fields and hyperparameters written the ways YAML 1.1 would change
    body = minimal_body(
        evaluation_threshold="1e-3", max_retry="010", hyperparameters="```yaml\nmax_depth: 010\nbootstrap: yes\n```"
    )
    # THEN they are what YAML 1.2 reads: 1e-3 a number, 010 decimal, yes a word
    assert extract_request(body) == {
        "evaluation_threshold": 0.001,
        "max_retry": 10,
        "hyperparameters": {"max_depth": 10, "bootstrap": "yes"},
    }


@pytest.mark.parametrize(
    ("answers", "problem"),
    [
        ({"evaluation_threshold": "9" * 5000}, "evaluation_threshold: '999"),
        ({"max_retry": "1e400"}, "max_retry: '1e400' is too large for a number (the largest is about 1.8e308)"),
        (
            {"hyperparameters": "```yaml\nC: 1\nmax_depth: " + "9" * 5000 + "\n```"},
            "hyperparameters: line 2: max_depth: '999",
        ),
    ],
    ids=["threshold", "retries", "hyperparameters"],
)
def test_a_number_the_form_cannot_hold_names_its_field(answers: dict[str, str], problem: str) -> None:
    found = problem_of(minimal_body(**answers))
    assert found.startswith(problem) and len(found) < 200, found


def test_hyperparameters_may_be_json() -> None:
    body = minimal_body(hyperparameters='```yaml\n{"C": 0.5, "kernel": "rbf"}\n```')
    assert extract_request(body) == {"hyperparameters": {"C": 0.5, "kernel": "rbf"}}


def test_hyperparameters_without_the_fence_are_read_too() -> None:
    # A hand-edited body may lose the fence GitHub put around the textarea.
    body = minimal_body(hyperparameters="n_neighbors: 7\nweights: distance")
    assert extract_request(body) == {"hyperparameters": {"n_neighbors": 7, "weights": "distance"}}


def test_an_empty_hyperparameters_block_is_left_out() -> None:
    assert extract_request(minimal_body(hyperparameters="```yaml\n# none\n```", algorithm="svm")) == {
        "algorithm": "svm"
    }


def test_a_yaml_error_in_hyperparameters_names_the_field_and_line() -> None:
    body = minimal_body(hyperparameters="```yaml\nC: 1\nkernel: rbf: linear\n```")
    assert problem_of(body).startswith("hyperparameters: YAML error at line 2, column 12: mapping values")


def test_hostile_hyperparameters_are_refused() -> None:
    body = minimal_body(hyperparameters="```yaml\na: &a [1, 2]\nb: [*a, *a]\n```")
    assert problem_of(body) == "hyperparameters: line 1: anchors (&a) are not allowed; write values out"


def test_a_missing_heading_is_an_unanswered_field() -> None:
    # GIVEN a body whose author deleted some sections, and added blank lines around it
    body = "\n\n### Algorithm (アルゴリズム)\n\nsvm\n\n### Evaluation threshold (閾値)\n\n0.8\n\n\n"
    answers = parse_issue_form(body, TRAIN_FORM)
    assert answers["algorithm"] == "svm" and answers["evaluation_threshold"] == "0.8"
    assert answers["learning_type"] is None and answers["options"] is None
    assert extract_request(body) == {"algorithm": "svm", "evaluation_threshold": 0.8}


def test_old_style_none_in_a_dropdown_is_no_answer() -> None:
    # Before `_No response_`, GitHub rendered an unanswered dropdown as `None`.
    assert extract_request(minimal_body(task="None", algorithm="svm")) == {"algorithm": "svm"}


# --------------------------------------------------------------------- headings inside textareas/fences

NOTES_FORM = {
    "body": [
        {"type": "markdown", "attributes": {"value": "Intro"}},
        {"type": "textarea", "id": "notes", "attributes": {"label": "Notes"}},
        {
            "type": "dropdown",
            "id": "colours",
            "attributes": {"label": "Colours", "multiple": True, "options": ["red", "green", "blue"]},
        },
        {"type": "input", "id": "owner", "attributes": {"label": "Owner"}},
    ]
}


def test_a_heading_typed_into_a_textarea_is_content() -> None:
    # GIVEN a textarea whose author typed a heading of their own and, in a fence, a later field's label
    body = "### Notes\n\nfirst\n\n### My own heading\n\n```\n### Colours\n```\n\n"
    body += "### Colours\n\nred, blue\n\n### Owner\n\nme"
    answers = parse_issue_form(body, NOTES_FORM)
    assert answers == {
        "notes": "first\n\n### My own heading\n\n```\n### Colours\n```",
        "colours": ["red", "blue"],
        "owner": "me",
    }


def test_an_unclosed_fence_in_a_textarea_does_not_hide_the_fields_after_it() -> None:
    body = "### Notes\n\n```python\nprint('oops, never closed')\n\n### Colours\n\ngreen\n\n### Owner\n\nme"
    answers = parse_issue_form(body, NOTES_FORM)
    assert answers["colours"] == ["green"] and answers["owner"] == "me"


def test_a_fence_of_tildes_or_longer_backticks_hides_headings_until_it_closes() -> None:
    body = "### Notes\n\n~~~~\n### Owner\n~~~\n~~~~\n\n````md\n```\n### Owner\n```\n````\n\n### Owner\n\nyou"
    answers = parse_issue_form(body, NOTES_FORM)
    assert answers["owner"] == "you"
    assert answers["notes"].count("### Owner") == 2


def test_a_label_already_answered_is_content_when_it_reappears() -> None:
    body = "### Notes\n\na\n\n### Owner\n\nme\n\n### Notes\n\nb"
    assert parse_issue_form(body, NOTES_FORM) == {
        "notes": "a",
        "colours": None,
        "owner": "me\n\n### Notes\n\nb",
    }


# ------------------------------------------------------------------------------------ YAML-shaped bodies

SPEC_REQUEST = """\
title: "[MLOps] モデル学習リクエスト: Iris"
labels: mlops:train
body:
  learning_type: supervised  # supervised, unsupervised, reinforcement
  algorithm: random_forest
  dataset_id: dataset-20250110-001
  hyperparameters:
    n_estimators: 100
    max_depth: 10
  evaluation_threshold: 0.85
  max_retry: 3
"""
SPEC_FIELDS = {
    "learning_type": "supervised",
    "algorithm": "random_forest",
    "dataset_id": "dataset-20250110-001",
    "hyperparameters": {"n_estimators": 100, "max_depth": 10},
    "evaluation_threshold": 0.85,
    "max_retry": 3,
}


def test_the_requirements_shape_yields_the_body_fields() -> None:
    assert extract_request(SPEC_REQUEST) == SPEC_FIELDS


def test_a_plain_yaml_body_is_the_request() -> None:
    body = "learning_type: supervised\r\nalgorithm: svm\r\nevaluation_threshold: 0.9"
    assert extract_request(body) == {
        "learning_type": "supervised",
        "algorithm": "svm",
        "evaluation_threshold": 0.9,
    }


def test_the_first_fenced_block_holding_a_mapping_is_the_request() -> None:
    # GIVEN prose, a python block, a yaml list, then the request in a bare fence, then another mapping
    body = (
        "Please train this one.\n\n```python\nx: int = 1\n```\n\n```yaml\n- not: a request\n```\n\n"
        "```\nalgorithm: knn\nevaluation_threshold: 0.9\n```\n\n```yaml\nalgorithm: svm\n```\n"
    )
    assert extract_request(body) == {"algorithm": "knn", "evaluation_threshold": 0.9}


def test_a_fenced_block_in_the_requirements_shape_is_unwrapped() -> None:
    assert extract_request(f"Request:\n\n```yaml\n{SPEC_REQUEST}```\n") == SPEC_FIELDS


def test_a_yaml_error_in_a_fenced_block_names_the_line_of_the_body() -> None:
    body = "Hello.\n\n```yaml\nalgorithm: svm\nhyperparameters:\n\tC: 1\n```"
    assert problem_of(body).startswith("request: YAML error at line 6, column 1")


def test_fields_outside_body_are_refused_each_by_name() -> None:
    body = "body:\n  algorithm: svm\nevaluation_threshold: 0.8\nmax_retry: 2\n"
    assert problem_of(body) == (
        "evaluation_threshold: is outside `body:`; indent it under `body:` with the other fields\n"
        "max_retry: is outside `body:`; indent it under `body:` with the other fields"
    )


def test_a_body_key_that_holds_no_mapping_is_refused() -> None:
    assert problem_of("title: x\nbody: algorithm=svm\n").startswith("body: must hold the request fields")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("", "the issue body is empty"),
        ("  \r\n\n ", "the issue body is empty"),
        (
            "Please train a good model for me, thanks!",
            "no form headings, no ```yaml block and no 'key: value' lines",
        ),
        ("```python\nprint('hi')\n```", "no form headings, no ```yaml block and no 'key: value' lines"),
    ],
    ids=["empty", "blank", "prose", "code"],
)
def test_a_body_without_a_request_says_how_to_write_one(body: str, why: str) -> None:
    problem = problem_of(body)
    assert problem.startswith(f"request: nothing that looks like a training request was found ({why})")
    assert "'algorithm: random_forest'" in problem


def test_a_plain_yaml_body_with_an_error_names_the_line() -> None:
    assert problem_of("algorithm: svm\nnote: a: b").startswith("request: YAML error at line 2")


def test_a_body_over_64_kib_is_refused() -> None:
    problem = problem_of("algorithm: svm\nnote: " + "x" * (70 * 1024))
    assert problem.startswith("issue body: is 70.0 KiB; the limit is 64 KiB")


def test_a_body_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="not valid UTF-8"):
        extract_request(b"algorithm: \xff")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------- hostile bodies

KIB64 = 64 * 1024


def up_to_64_kib(unit: str, prefix: str = "") -> str:
    """`prefix` then `unit` repeated as often as fits in 64 KiB of UTF-8: the largest body we accept."""
    return prefix + unit * ((KIB64 - len(prefix.encode())) // len(unit.encode()))


HOSTILE_BODIES = {
    "thousands of fences": up_to_64_kib("```\n"),
    "fences that never close": up_to_64_kib("".join("`" * (3 + i) + "x\n" for i in range(40))),
    "one label repeated": up_to_64_kib(f"### {TRAIN_FORM_FIELDS[2].label}\n"),
    "every label, many times": up_to_64_kib(minimal_body()),
    "one long line of spaces": up_to_64_kib(" ", prefix="x"),
    "backticks then spaces": "`" * 30_000 + " " * 30_000 + "x",
    "thousands of checkboxes": up_to_64_kib(
        "- [x] Report in English\n", prefix="### Options (オプション)\n\n"
    ),
    "thousands of failing yaml blocks": up_to_64_kib("```\na: [\n```\n"),
    "one huge heading": up_to_64_kib("a", prefix="### "),
}


@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
def test_a_hostile_64_kib_body_is_handled_in_milliseconds(name: str) -> None:
    body = HOSTILE_BODIES[name]
    assert len(body.encode()) <= KIB64
    started = time.perf_counter()
    parse_issue_form(body, TRAIN_FORM_FIELDS)
    with contextlib.suppress(InvalidRequest):  # refusing is fine; taking long is not
        extract_request(body)
    assert time.perf_counter() - started < FAST


# ---------------------------------------------------------------------------------------- templates


def test_the_packaged_fields_match_the_form_file() -> None:
    # The parser ships its own copy of our form's fields (the YAML is not packaged): they must agree.
    assert form_fields(TRAIN_FORM) == TRAIN_FORM_FIELDS


def test_our_form_asks_for_the_request_fields() -> None:
    form = yaml.safe_load(TRAIN_FORM.read_text(encoding="utf-8"))
    assert form["title"] == "[MLOps] モデル学習リクエスト: "
    assert form["labels"] == ["mlops:train"]
    assert [field.key for field in TRAIN_FORM_FIELDS] == [
        "model_name", "learning_type", "algorithm", "task", "dataset_id", "environment",
        "hyperparameters", "evaluation_metric", "evaluation_threshold", "max_retry", "options",
    ]  # fmt: skip
    required = {item["id"] for item in form["body"] if item.get("validations", {}).get("required")}
    assert required == {"learning_type", "algorithm", "evaluation_threshold"}


def test_the_algorithm_description_lists_the_whole_catalog() -> None:
    from mlops.learners.catalog import ALGORITHMS

    form = yaml.safe_load(TRAIN_FORM.read_text(encoding="utf-8"))
    description = next(item for item in form["body"] if item.get("id") == "algorithm")["attributes"][
        "description"
    ]
    assert set(re.findall(r"[a-z_]+(?=[,.])", description)) >= set(ALGORITHMS)


@pytest.mark.parametrize(
    "template",
    [
        pytest.param(str(TRAIN_FORM), id="path as text"),
        pytest.param(TRAIN_FORM.read_text(encoding="utf-8"), id="yaml text"),
        pytest.param(yaml.safe_load(TRAIN_FORM.read_text(encoding="utf-8")), id="loaded form"),
        pytest.param(yaml.safe_load(TRAIN_FORM.read_text(encoding="utf-8"))["body"], id="body list"),
    ],
)
def test_a_template_may_be_given_in_any_shape(template: Any) -> None:
    assert form_fields(template) == TRAIN_FORM_FIELDS


def test_a_template_file_named_without_yml_is_read_as_a_file(tmp_path: Path) -> None:
    form = tmp_path / "form.txt"
    form.write_text(TRAIN_FORM.read_text(encoding="utf-8"), encoding="utf-8")
    assert form_fields(str(form)) == TRAIN_FORM_FIELDS


def test_a_missing_template_file_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="template: cannot read"):
        form_fields("no/such/form.yml")


def test_a_template_with_two_fields_of_one_id_is_a_usage_error() -> None:
    items = [{"type": "input", "id": "x", "attributes": {"label": label}} for label in ("A", "B")]
    with pytest.raises(UsageError, match="two fields share the id or label 'x'"):
        form_fields(items)


def test_extract_request_reads_another_form_when_given_one() -> None:
    body = "### Notes\n\nhello\n\n### Colours\n\nred\n\n### Owner\n\n_No response_"
    assert extract_request(body, NOTES_FORM) == {"notes": "hello", "colours": ["red"]}


# ------------------------------------------------------------------------------- schema (SchemaStore)


def schema_errors(document: Any, schema_name: str) -> list[str]:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMASTORE / "schemas" / schema_name).read_text(encoding="utf-8"))
    return [error.message for error in jsonschema.Draft7Validator(schema).iter_errors(document)]


def load_sample(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def test_our_form_validates_against_the_issue_forms_schema() -> None:
    assert schema_errors(load_sample(TRAIN_FORM), "github-issue-forms.json") == []


def test_our_template_chooser_config_validates_against_its_schema() -> None:
    config = load_sample(ISSUE_CONFIG)
    assert config["blank_issues_enabled"] is True  # plain YAML requests are accepted too
    assert schema_errors(config, "github-issue-config.json") == []


@pytest.mark.parametrize(
    "sample", sorted((SCHEMASTORE / "negative_test" / "github-issue-forms").iterdir()), ids=lambda p: p.name
)
def test_the_schema_check_can_fail(sample: Path) -> None:
    # SchemaStore's own invalid samples: proof that an empty error list above means something.
    assert schema_errors(load_sample(sample), "github-issue-forms.json") != []


@pytest.mark.parametrize(
    "sample", sorted((SCHEMASTORE / "test" / "github-issue-forms").iterdir()), ids=lambda p: p.name
)
def test_schemastore_valid_samples_validate(sample: Path) -> None:
    assert schema_errors(load_sample(sample), "github-issue-forms.json") == []
