"""GIVEN YAML typed by a stranger into an issue, WHEN safe_yaml loads it, THEN plain data comes back, or an
InvalidRequest whose problem line says what is wrong, where, and how to fix it; and hostile input is refused
in well under a second."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from mlops import safe_yaml
from mlops.errors import InvalidRequest
from mlops.safe_yaml import MAX_BYTES, decode_body, load_mapping

FAST = 0.5  # seconds; every hostile input below is refused in a few milliseconds


def problem_of(call: Callable[[], Any]) -> str:
    with pytest.raises(InvalidRequest) as caught:
        call()
    assert len(caught.value.problems) == 1
    return caught.value.problems[0]


def timed_problem(text: str, **options: Any) -> tuple[str, float]:
    started = time.perf_counter()
    problem = problem_of(lambda: load_mapping(text, **options))
    return problem, time.perf_counter() - started


def billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [{','.join(['*' + previous] * 9)}]")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ good input


def test_a_plain_request_loads_as_plain_data() -> None:
    # GIVEN a request with every scalar type a request uses
    text = "algorithm: random_forest\nhyperparameters:\n  n_estimators: 100\n  max_features: null\n"
    text += "evaluation_threshold: 0.85\nbootstrap: true\nlabels: [a, 'b']\n"
    # WHEN it is loaded
    data = load_mapping(text)
    # THEN the values have their YAML types
    assert data == {
        "algorithm": "random_forest",
        "hyperparameters": {"n_estimators": 100, "max_features": None},
        "evaluation_threshold": 0.85,
        "bootstrap": True,
        "labels": ["a", "b"],
    }


def test_json_is_accepted_because_it_is_yaml() -> None:
    assert load_mapping('{"n_estimators": 100, "max_depth": null}') == {
        "n_estimators": 100,
        "max_depth": None,
    }


def test_dates_and_merge_keys_stay_text() -> None:
    # GIVEN values PyYAML would turn into a date or treat as a merge
    data = load_mapping("dataset_id: 2025-01-10\n'<<': x\nsign: =")
    # THEN they are strings: a request has no dates, and `<<` is only useful with aliases
    assert data == {"dataset_id": "2025-01-10", "<<": "x", "sign": "="}


def test_the_standard_str_tag_is_allowed() -> None:
    assert load_mapping("version: !!str 3") == {"version": "3"}


def test_ten_levels_of_nesting_are_allowed() -> None:
    assert load_mapping("a: " + "[" * 9 + "]" * 9)["a"] == [[[[[[[[[]]]]]]]]]


def test_a_document_of_only_comments_is_empty_or_an_empty_mapping_when_allowed() -> None:
    assert "is empty" in problem_of(lambda: load_mapping("# nothing here\n"))
    assert load_mapping("# nothing here\n", empty_ok=True) == {}


# -------------------------------------------------------------------------------------- hostile input


def test_billion_laughs_is_refused_before_anything_is_built() -> None:
    # GIVEN the classic YAML bomb (10^9 strings once expanded)
    # WHEN it is loaded
    problem, seconds = timed_problem(billion_laughs())
    # THEN the first anchor stops it, in milliseconds
    assert problem == "request: line 1: anchors (&a) are not allowed; write values out"
    assert seconds < FAST


def test_an_alias_without_anchor_is_refused_too() -> None:
    assert problem_of(lambda: load_mapping("a: *nowhere")) == (
        "request: line 1: aliases (*nowhere) are not allowed; write the value out"
    )


@pytest.mark.parametrize(
    "nested",
    ["[" * 1000 + "]" * 1000, "{a: " * 1000 + "1" + "}" * 1000],
    ids=["lists", "mappings"],
)
def test_nesting_a_thousand_levels_deep_is_refused(nested: str) -> None:
    problem, seconds = timed_problem("a: " + nested)
    assert problem == (
        "request: line 1: nested more than 10 levels deep; a request needs two or three levels, flatten it"
    )
    assert seconds < FAST


def test_eleven_levels_are_one_too_many() -> None:
    assert "nested more than 10 levels" in problem_of(lambda: load_mapping("a: " + "[" * 10 + "]" * 10))


def test_a_70_kib_body_is_refused_by_size() -> None:
    problem, seconds = timed_problem("a: " + "x" * (70 * 1024))
    assert problem.startswith("request: is 70.0 KiB; the limit is 64 KiB. Shorten it")
    assert seconds < FAST


def test_size_is_measured_in_utf8_bytes_not_characters() -> None:
    # GIVEN 30,000 Japanese characters: under 64 Ki characters, but 90,000 bytes in UTF-8
    text = "name: " + "学" * 30_000
    assert len(text) < MAX_BYTES
    # THEN the size limit applies
    assert "the limit is 64 KiB" in problem_of(lambda: load_mapping(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b", "request: is a list, not a mapping; write fields as 'key: value' lines"),
        ("just some words", "request: is a single value ('just some words'), not a mapping"),
        ("42", "request: is a single value ('42'), not a mapping"),
        ("", "request: is empty; write fields as 'key: value' lines"),
    ],
    ids=["list", "scalar", "number", "empty"],
)
def test_a_top_level_that_is_not_a_mapping_is_refused(text: str, expected: str) -> None:
    assert problem_of(lambda: load_mapping(text)).startswith(expected)


def test_duplicate_keys_are_refused_with_both_lines() -> None:
    text = "algorithm: svm\ndataset_id: iris\nalgorithm: knn\n"
    assert problem_of(lambda: load_mapping(text)) == (
        "request: line 3: duplicate key 'algorithm' (first set on line 1); keep one"
    )


def test_duplicate_keys_inside_a_nested_mapping_are_refused() -> None:
    text = "hyperparameters:\n  C: 1\n  C: 2\n"
    assert "line 3: duplicate key 'C'" in problem_of(lambda: load_mapping(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1: a", 'the key 1 is read as 1, not as text; quote it ("1": ...)'),
        ("true: a", 'the key true is read as True, not as text; quote it ("true": ...)'),
        ("null: a", "the key null is read as None"),
        ("[a, b]: 1", "a key must be a name, not a list or mapping"),
    ],
)
def test_keys_that_are_not_text_are_refused(text: str, expected: str) -> None:
    assert expected in problem_of(lambda: load_mapping(text))


def test_yes_and_on_are_text_keys_as_in_yaml_1_2() -> None:
    # GIVEN keys YAML 1.1 would read as booleans (`on:` is how a GitHub workflow starts)
    # THEN they are the words they look like
    assert load_mapping("yes: a\non: push\nOff: 1") == {"yes": "a", "on": "push", "Off": 1}


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("a: &" + "x" * 5000 + " 1", "&" + "x" * 77 + "..."),
        ("a: *" + "x" * 5000, "*" + "x" * 77 + "..."),
        ("a: !" + "x" * 5000 + " 1", "!" + "x" * 76 + "..."),
        ("k" * 1000 + ": 1\n" + "k" * 1000 + ": 2", "duplicate key '" + "k" * 77 + "...'"),
    ],
    ids=["anchor", "alias", "tag", "duplicate key"],
)
def test_a_hostile_name_is_quoted_short(text: str, quoted: str) -> None:
    # GIVEN a name thousands of characters long THEN the problem line repeats at most about 80 characters of it
    problem = problem_of(lambda: load_mapping(text))
    assert quoted in problem and len(problem) < 220, problem


# ------------------------------------------------------------------------------------------ YAML errors


def test_a_syntax_error_names_line_column_and_a_hint() -> None:
    problem = problem_of(lambda: load_mapping("algorithm: svm\nnote: a: b\n"))
    assert problem.startswith("request: YAML error at line 2, column 8: mapping values are not allowed")
    assert problem.endswith("quote a value that contains ': ', or fix the indentation of this key")


def test_tab_indentation_gets_the_spaces_hint() -> None:
    problem = problem_of(lambda: load_mapping("hyperparameters:\n\tC: 1\n"))
    assert problem.startswith("request: YAML error at line 2, column 1")
    assert problem.endswith("indent with spaces, never tabs")


def test_an_unclosed_bracket_gets_the_bracket_hint() -> None:
    problem = problem_of(lambda: load_mapping("labels: [a, b\nmax_retry: 3\n"))
    assert problem.endswith("a '[' or '{' is not closed; close it, or quote the value")


def test_two_documents_are_refused() -> None:
    problem = problem_of(lambda: load_mapping("a: 1\n---\nb: 2\n"))
    assert problem.endswith("remove the '---' separator: a request is one YAML document")


def test_line_numbers_are_shifted_for_yaml_cut_out_of_a_larger_text() -> None:
    # GIVEN YAML that starts on line 6 of an issue body
    problem = problem_of(lambda: load_mapping("a: 1\na: 2", what="hyperparameters", line_offset=5))
    # THEN the problem names the body's line and the field
    assert problem == "hyperparameters: line 7: duplicate key 'a' (first set on line 1); keep one"


# ------------------------------------------------------------------------------------- scalars, bodies


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("010", 10),  # YAML 1.1: 8 (octal)
        ("1:30", "1:30"),  # YAML 1.1: 90 (base 60)
        ("1e-3", 0.001),  # YAML 1.1: the text '1e-3'
        ("yes", "yes"),  # YAML 1.1: True
        ("0o17", 15),
        ("0x1F", 31),
        ("1_000", "1_000"),  # YAML 1.1: 1000
        ("2025-01-10", "2025-01-10"),  # PyYAML: a date
        ("TRUE", True),
        ("~", None),
        ("", None),
        ("-.inf", -float("inf")),
    ],
)
def test_values_follow_the_yaml_1_2_core_schema(written: str, value: Any) -> None:
    # GIVEN a value written the way YAML 1.1 and YAML 1.2 read differently WHEN a request holds it
    loaded = load_mapping(f"key: {written}")["key"]
    # THEN it is what YAML 1.2 reads, with its type
    assert loaded == value and type(loaded) is type(value)


def test_explicit_tags_are_read_by_the_same_rules() -> None:
    assert load_mapping("a: !!int 0x10\nb: !!float 3\nc: !!str 010") == {"a": 16, "b": 3.0, "c": "010"}
    assert problem_of(lambda: load_mapping("a: !!int ten")) == (
        "request: line 1: a: 'ten' cannot be read as !!int; remove the tag or write a int value"
    )


@pytest.mark.parametrize(
    "document",
    [
        "a: " + "9" * 5000,
        "hyperparameters:\n  a: " + "9" * 5000,
        "a: [1, " + "9" * 5000 + "]",
        "a: !!int " + "9" * 5000,
        "a: 0x" + "f" * 5000,
        "a: " + "1" * 5000 + ".5e3",
    ],
    ids=["plain", "nested", "in a list", "tagged", "hexadecimal", "float"],
)
def test_a_number_thousands_of_digits_long_is_refused_unread(document: str) -> None:
    # GIVEN a number of about 5,000 characters (Python refuses to read a decimal int of over 4,300 digits)
    problem, seconds = timed_problem(document)
    # THEN it is refused at its line, under its key, quoted short, before any conversion is attempted
    assert problem.startswith(("request: line 1: a: '", "request: line 2: a: '")), problem
    assert "characters; write a number in at most 50" in problem and len(problem) < 200, problem
    assert seconds < FAST


def test_a_float_too_large_for_a_double_is_refused_not_made_infinite() -> None:
    assert problem_of(lambda: load_mapping("C: 1e400")) == (
        "request: line 1: C: '1e400' is too large for a number (the largest is about 1.8e308)"
    )


def test_a_document_that_is_one_huge_number_is_refused() -> None:
    assert "is a number of 5000 characters" in problem_of(lambda: load_mapping("9" * 5000))


def test_decode_body_rejects_bytes_that_are_not_utf8() -> None:
    raw = "名前: svm\n".encode() + b"name: \xff\xfe"  # valid multi-byte text, then a stray byte
    assert problem_of(lambda: decode_body(raw)) == (
        "issue body: is not valid UTF-8 (byte 0xff at offset 18); save the file as UTF-8 and try again"
    )


def test_decode_body_drops_the_bom_and_unifies_line_endings() -> None:
    raw = "\ufeffa: 1\r\nb: 2\rc: 3\n".encode()
    assert decode_body(raw) == "a: 1\nb: 2\nc: 3\n"
    assert decode_body("\ufeffa: 1\r\n") == "a: 1\n"


def test_a_body_with_a_bom_loads() -> None:
    assert load_mapping(decode_body(b"\xef\xbb\xbfalgorithm: svm")) == {"algorithm": "svm"}


# ------------------------------------------------------------------------ without libyaml (pure Python)


@pytest.fixture
def pure_python_loader(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """safe_yaml as it is where PyYAML was installed without libyaml."""
    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    yield importlib.reload(safe_yaml)
    monkeypatch.undo()
    importlib.reload(safe_yaml)


def test_the_pure_python_loader_is_just_as_strict(pure_python_loader: Any) -> None:
    assert pure_python_loader._BaseLoader is yaml.SafeLoader
    started = time.perf_counter()
    for hostile in (billion_laughs(), "a: " + "[" * 1000 + "]" * 1000, "a: 1\na: 2", "a: !!python/name:os"):
        with pytest.raises(InvalidRequest):
            pure_python_loader.load_mapping(hostile)
    assert time.perf_counter() - started < FAST
    assert pure_python_loader.load_mapping("a: [1, 2.5, x]") == {"a": [1, 2.5, "x"]}
