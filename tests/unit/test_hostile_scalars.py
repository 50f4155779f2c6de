"""GIVEN a value a user wrote (in a request, an Issue Form field, a `/mlops retrain` comment or an MLOPS_* setting),
WHEN mlops reads it, THEN it is what YAML 1.2's core schema says it is, the same everywhere, or a problem line
that says what to write instead; no number is ever built from thousands of digits, and no problem line repeats
more than about 80 characters of what was written."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

import pytest

from mlops.commands import parse_command
from mlops.errors import InvalidRequest, UsageError
from mlops.issue_forms import extract_request
from mlops.request import validate_request
from mlops.safe_yaml import load_mapping
from mlops.scalars import MAX_NUMBER_CHARS, QUOTE_LIMIT, ScalarError, hint, read_scalar, shown
from mlops.settings import Settings

HUGE = "9" * 5000  # Python refuses to turn more than 4,300 decimal digits into an int
FAST = 0.1  # seconds: what reading any hostile value may cost

# (written, what YAML 1.2's core schema reads)
YAML_1_2 = [
    ("300", 300),
    ("-5", -5),
    ("+7", 7),
    ("010", 10),  # decimal, never octal (YAML 1.1: 8)
    ("0o17", 15),
    ("0x1F", 31),
    ("0.85", 0.85),
    (".5", 0.5),
    ("1.", 1.0),
    ("1e-3", 0.001),  # a number (YAML 1.1: the text '1e-3')
    ("1e3", 1000.0),  # a float, so an integer parameter refuses it
    ("-2.5E+2", -250.0),
    ("1e-400", 0.0),  # too small for a double: zero, as every reader makes it
    (".inf", math.inf),
    ("-.Inf", -math.inf),
    ("true", True),
    ("False", False),
    ("TRUE", True),
    ("null", None),
    ("~", None),
    ("", None),
    ("yes", "yes"),  # text (YAML 1.1: True)
    ("off", "off"),
    ("tRUE", "tRUE"),
    ("1:30", "1:30"),  # text (YAML 1.1: 90, base 60)
    ("1_000", "1_000"),  # text (YAML 1.1: 1000)
    ("0b101", "0b101"),
    ("-0x1f", "-0x1f"),  # YAML 1.2 signs decimal numbers only
    ("2025-01-10", "2025-01-10"),
    ("1,000", "1,000"),
    ("gini", "gini"),
]


@pytest.mark.parametrize(("written", "value"), YAML_1_2, ids=[repr(w) for w, _ in YAML_1_2])
def test_every_path_reads_a_scalar_as_yaml_1_2_does(written: str, value: Any) -> None:
    # WHEN the same text is a request value, an Issue Form number, a retrain override and a plain scalar
    as_request = load_mapping(f"C: {written}")["C"]
    as_override = parse_command(f"/mlops retrain C={written}").overrides["C"]
    as_form = extract_request(f"### Evaluation threshold (閾値)\n\n{written}\n").get("evaluation_threshold")
    # THEN each reads the value YAML 1.2 gives, with its type (an empty form answer means "not answered")
    for read in (as_request, as_override, read_scalar(written), *([as_form] if written else [])):
        assert read == value or (read is value is None), (written, read)
        assert type(read) is type(value), (written, read)


def test_nan_is_read_as_a_float_everywhere() -> None:
    for text in (".nan", ".NaN", ".NAN"):
        assert math.isnan(read_scalar(text))
        assert math.isnan(load_mapping(f"C: {text}")["C"])


# (written, the words of the refusal): each raises ScalarError before any int or float is built
UNREADABLE = [
    (HUGE, "is a number of 5000 characters; write a number in at most 50"),
    ("-" + HUGE, "is a number of 5001 characters"),
    ("0x" + "f" * 5000, "is a number of 5002 characters"),
    ("0o" + "7" * 60, "is a number of 62 characters"),
    (HUGE + ".5", "is a number of 5002 characters"),
    ("1e" + HUGE, "is a number of 5002 characters"),
    ("1e400", "'1e400' is too large for a number (the largest is about 1.8e308)"),
    ("-1.8e309", "'-1.8e309' is too large for a number"),
]


@pytest.mark.parametrize(("written", "words"), UNREADABLE, ids=[w[:12] for w, _ in UNREADABLE])
def test_a_number_too_long_or_too_large_is_refused_before_it_is_built(written: str, words: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ScalarError) as refused:
        read_scalar(written)
    assert words in str(refused.value)
    assert len(str(refused.value)) < QUOTE_LIMIT + 100  # it quotes the number short
    assert time.perf_counter() - started < FAST


def test_fifty_characters_are_still_a_number() -> None:
    assert read_scalar("1" * MAX_NUMBER_CHARS) == int("1" * MAX_NUMBER_CHARS)
    assert read_scalar("0." + "1" * (MAX_NUMBER_CHARS - 2)) == pytest.approx(0.1111111111)


@pytest.mark.parametrize(
    ("written", "advice"),
    [
        ("1_000", "write it without underscores"),
        ("0.000_1", "write it without underscores"),
        ("1:30", "base-60 numbers (1:30) are text; write one number"),
        ("1,000,000", "write it without thousands separators"),
        ("0b101", "binary numbers are text; write it in decimal"),
        ("-0x1f", "a sign is allowed only on a decimal number"),
        ("sixty", ""),
    ],
)
def test_text_meant_as_a_number_gets_advice(written: str, advice: str) -> None:
    assert hint(written) == (f"; {advice}" if advice else "")


def test_yes_and_no_get_advice_only_where_true_or_false_is_wanted() -> None:
    assert hint("yes", boolean=True) == "; write true or false (yes, no, on and off are text)"
    assert hint("yes") == ""


def test_advice_on_a_64_kib_value_costs_nothing() -> None:
    started = time.perf_counter()
    for hostile in ("1" + "_" * 65_000 + "x", ":".join(["59"] * 20_000) + "x", "1," * 30_000):
        hint(hostile)
    assert time.perf_counter() - started < FAST


def test_shown_quotes_at_most_80_characters() -> None:
    assert shown("abc") == "'abc'"
    assert shown("x" * 5000) == "'" + "x" * 77 + "...'"
    assert len(shown(list(range(5000)))) == QUOTE_LIMIT


# --- through request validation -----------------------------------------------------------------------------

FOREST = {
    "learning_type": "supervised",
    "algorithm": "random_forest",
    "dataset_id": "iris",
    "evaluation_threshold": 0.8,
}


def problems_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidRequest) as refused:
        validate_request(raw)
    return refused.value.problems


@pytest.mark.parametrize(
    ("hyperparameters", "problem"),
    [
        ({"max_depth": "1_000"}, "hyperparameters.max_depth: must be an integer >= 1 and <= 1000 "
         "(got '1_000'); write it without underscores"),
        ({"max_depth": "1:30"}, "(got '1:30'); base-60 numbers (1:30) are text; write one number"),
        ({"max_depth": 1000.0}, "hyperparameters.max_depth: must be an integer >= 1 and <= 1000 (got 1000.0)"),
        ({"max_depth": math.inf}, "(got inf)"),
        ({"bootstrap": "yes"}, "hyperparameters.bootstrap: must be a bool (got 'yes'); write true or false"),
    ],
)
def test_a_value_of_the_wrong_kind_says_how_to_write_it(hyperparameters: dict[str, Any], problem: str) -> None:
    found = problems_of({**FOREST, "hyperparameters": hyperparameters})
    assert any(problem in line for line in found), found


def test_infinity_and_nan_are_refused_as_thresholds_and_float_parameters() -> None:
    for value in (math.inf, -math.inf, math.nan):
        assert problems_of({**FOREST, "evaluation_threshold": value}) == [
            f"evaluation_threshold: must be a finite number (got {value})"
        ]
        svm = {**FOREST, "algorithm": "svm", "hyperparameters": {"C": value}}
        assert problems_of(svm) == [f"hyperparameters.C: must be a finite number (got {value})"]


def test_a_number_where_text_belongs_says_to_quote_it() -> None:
    # GIVEN `dataset_id: 001`, which YAML reads as the number 1
    assert problems_of({**FOREST, "dataset_id": 1}) == [
        "dataset_id: Input should be a valid string (got 1); put it in quotes to keep it as text"
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("algorithm", "x" * 5000),
        ("task", "x" * 5000),
        ("evaluation_metric", "x" * 5000),
        ("version", "x" * 5000),
        ("model_id", "X" * 5000),
        ("dataset_id", "/x" * 2500),
        ("x" * 5000, 1),
        ("hyperparameters", {"x" * 5000: 1}),
        ("hyperparameters", {"max_features": "x" * 5000}),
        ("evaluation_threshold", "x" * 5000),
    ],
    ids=lambda value: str(value)[:20],
)
def test_a_problem_line_repeats_at_most_about_80_characters_of_the_value(field: str, value: Any) -> None:
    # GIVEN a field (or a field name) 5,000 characters long WHEN the request is validated
    problems = problems_of({**FOREST, field: value})
    # THEN its problem line names the field and quotes a short part of the value
    assert any(line.startswith(field[:20]) for line in problems), problems
    for line in problems:
        assert "x" * 81 not in line.lower() and "/x" * 41 not in line, line


# --- settings -----------------------------------------------------------------------------------------------

BAD_SETTINGS = [
    ("MLOPS_KEEP_VERSIONS", "inf", "MLOPS_KEEP_VERSIONS: 'inf' is not a number"),
    ("MLOPS_KEEP_VERSIONS", "nan", "MLOPS_KEEP_VERSIONS: 'nan' is not a number"),
    ("MLOPS_KEEP_VERSIONS", ".inf", "MLOPS_KEEP_VERSIONS: must be a finite number (got '.inf')"),
    ("MLOPS_KEEP_VERSIONS", ".nan", "MLOPS_KEEP_VERSIONS: must be a finite number (got '.nan')"),
    ("MLOPS_KEEP_VERSIONS", "1e400", "MLOPS_KEEP_VERSIONS: '1e400' is too large for a number"),
    ("MLOPS_KEEP_VERSIONS", "-1", "MLOPS_KEEP_VERSIONS: must not be negative (got '-1')"),
    ("MLOPS_KEEP_VERSIONS", "abc", "MLOPS_KEEP_VERSIONS: 'abc' is not a number"),
    ("MLOPS_KEEP_VERSIONS", HUGE, "MLOPS_KEEP_VERSIONS: '999"),
    ("MLOPS_KEEP_VERSIONS", "5.5", "MLOPS_KEEP_VERSIONS: '5.5' is not a whole number; write one such as 5"),
    ("MLOPS_KEEP_RUNS", "1_000", "MLOPS_KEEP_RUNS: '1_000' is not a number; write it without underscores"),
    ("MLOPS_TRAIN_TIMEOUT", "0", "MLOPS_TRAIN_TIMEOUT: must be more than 0 seconds (got '0')"),
    ("MLOPS_TRAIN_TIMEOUT", "1e300", "MLOPS_TRAIN_TIMEOUT: must be at most 1e+09 seconds (got '1e300')"),
    ("MLOPS_RETRY_DELAY", "true", "MLOPS_RETRY_DELAY: 'true' is not a number"),
]


@pytest.mark.parametrize(
    ("variable", "value", "problem"), BAD_SETTINGS, ids=[f"{v}={t[:8]}" for v, t, _ in BAD_SETTINGS]
)
def test_a_bad_setting_is_a_usage_error_that_says_what_to_write(variable: str, value: str, problem: str) -> None:
    with pytest.raises(UsageError) as refused:
        Settings.from_env({variable: value})
    assert str(refused.value).startswith(problem), refused.value
    assert len(str(refused.value)) < 200


def test_settings_read_numbers_like_every_other_value() -> None:
    settings = Settings.from_env(
        {"MLOPS_KEEP_VERSIONS": "0x10", "MLOPS_KEEP_RUNS": "0", "MLOPS_TRAIN_TIMEOUT": "1e3", "MLOPS_RETRY_DELAY": "0"}
    )
    assert (settings.keep_versions, settings.keep_runs, settings.train_timeout, settings.retry_base_delay) == (
        16,
        1,  # at least one run keeps its outputs
        1000.0,
        0.0,
    )
    assert Settings.from_env({"MLOPS_KEEP_VERSIONS": "3"}).keep_versions == 5  # never fewer than five


# --- the table in docs/requests.md --------------------------------------------------------------------------

KIND_WORDS = {"integer": int, "float": float, "boolean": bool, "null": type(None), "text": str}


def documented_examples() -> list[tuple[str, type]]:
    """(what you write, the type the docs say it is) for every example in the 'How values are read' table."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "requests.md").read_text(encoding="utf-8")
    table = text.split("### How values are read", 1)[1].split("\n\n")[2]
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    return [(written, KIND_WORDS[row[1].split()[0]]) for row in rows for written in re.findall(r"`([^`]+)`", row[0])]


@pytest.mark.parametrize(("written", "kind"), documented_examples())
def test_the_documented_table_is_what_a_request_reads(written: str, kind: type) -> None:
    assert type(load_mapping(f"value: {written}")["value"]) is kind
