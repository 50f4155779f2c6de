"""GIVEN hostile numbers and scalars typed where users type values (a request file, a fenced block, an Issue Form
field, a `/mlops retrain` comment, an MLOPS_* setting), WHEN the real `mlops` command reads them, THEN each one is
the value YAML 1.2 reads or a specific problem line with exit 2: never a traceback, never an internal error.

Each test runs its cases as real `mlops` processes and reports every failing case by name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import EXAMPLES, Mlops, Result, request_file

HUGE = "9" * 5000  # more digits than Python turns into an int
BASE60 = ":".join(["59"] * 3000)  # YAML 1.1's base 60: 59:59:59:... (a number of about 5,300 digits)


@dataclass(frozen=True)
class Refused:
    """Exit 2 with a problem line that contains `words`."""

    words: str


@dataclass(frozen=True)
class Case:
    name: str
    field: str  # where the value is written
    written: str  # what the user typed there
    expected: Any  # the value YAML 1.2 reads (checked in the --json output), or Refused(...)


Prepare = Callable[[Case], list[str]]  # the case -> the `mlops` arguments that read it
Read = Callable[[Case, Any], Any]  # the case, the --json output -> the value mlops read


def failures(
    mlops: Mlops,
    cases: Sequence[Case],
    prepare: Prepare,
    read: Read = lambda case, document: None,
    env: Callable[[Case], dict[str, str]] = lambda case: {},
    at_once: int = 2,
) -> str:
    """Run `mlops <prepare(case)>` for every case, `at_once` at a time; one line per case that went wrong."""
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        results = list(pool.map(lambda case: _run(mlops, prepare(case), env(case)), cases))
    judged = [(case, _judge(case, result, read)) for case, result in zip(cases, results, strict=True)]
    return "\n".join(f"{case.name}: {problem}" for case, problem in judged if problem)


def _run(mlops: Mlops, args: list[str], env: dict[str, str]) -> Result | AssertionError:
    try:
        return mlops(*args, **env)
    except AssertionError as traceback_seen:  # Mlops refuses any output that shows a traceback
        return traceback_seen


def _judge(case: Case, result: Result | AssertionError, read: Read) -> str | None:
    if isinstance(result, AssertionError):
        return f"a traceback: {result}"
    if "internal error" in result.stderr:
        return f"an internal error: {result.stderr[:300]}"
    if isinstance(case.expected, Refused):
        return _judge_refusal(case.expected, result)
    if result.returncode != 0:
        return f"exit {result.returncode}, expected the value {case.expected!r}: {result.stderr[:300]}"
    value = read(case, json.loads(result.stdout))
    same = value == case.expected and type(value) is type(case.expected)
    return None if same else f"read as {value!r}, YAML 1.2 reads {case.expected!r}"


def _judge_refusal(refused: Refused, result: Result) -> str | None:
    if result.returncode != 2:
        return f"exit {result.returncode}, expected 2: {result.output[:300]}"
    if refused.words not in result.stderr:
        return f"no line says {refused.words!r}: {result.stderr[:400]}"
    if re.search(r"9{81}|(59:){30}", result.stderr):
        return f"repeats more than 80 characters of what was written: {result.stderr[:400]}"
    return None


# --- `mlops validate` on a request file, and on a fenced block in an issue body ---------------------------

REQUEST = """\
learning_type: supervised
algorithm: {algorithm}
dataset_id: iris
hyperparameters:
  {field}: {written}
evaluation_threshold: 0.85
"""
ALGORITHM_OF = {"max_depth": "random_forest", "bootstrap": "random_forest", "C": "svm"}

REQUESTS = [
    Case("decimal with a leading zero", "max_depth", "010", 10),
    Case("octal 0o", "max_depth", "0o17", 15),
    Case("hexadecimal", "max_depth", "0x1F", 31),
    Case("exponent without a dot", "C", "1e-3", 0.001),
    Case("exponent, fenced", "C", "2.5E+2", 250.0),
    Case("base 60", "max_depth", "1:30", Refused("(got '1:30'); base-60 numbers (1:30) are text")),
    Case("long base 60", "max_depth", BASE60, Refused("hyperparameters.max_depth: must be an integer")),
    Case("5000 digits", "max_depth", HUGE, Refused("request: line 5: max_depth: '999")),
    Case("5000 digits, fenced", "max_depth", HUGE, Refused("request: line 8: max_depth: '999")),
    Case("5000 hex digits", "max_depth", "0x" + "f" * 5000, Refused("is a number of 5002 characters")),
    Case("exponent for an integer", "max_depth", "1e3", Refused("(got 1000.0)")),
    Case("underscores", "max_depth", "1_000", Refused("(got '1_000'); write it without underscores")),
    Case("signed hexadecimal", "max_depth", "-0x10", Refused("a sign is allowed only on a decimal number")),
    Case("infinity for an integer", "max_depth", ".inf", Refused("max_depth: must be an integer >= 1")),
    Case("nan", "C", ".nan", Refused("hyperparameters.C: must be a finite number (got nan)")),
    Case("too large for a double", "C", "1e400", Refused("C: '1e400' is too large for a number")),
    Case("yes for a boolean", "bootstrap", "yes", Refused("(got 'yes'); write true or false")),
]


def test_validate_reads_request_values_as_yaml_1_2(mlops: Mlops) -> None:
    def prepare(case: Case) -> list[str]:
        text = REQUEST.format(algorithm=ALGORITHM_OF[case.field], field=case.field, written=case.written)
        body = f"Please train this.\n\n```yaml\n{text}```\n" if "fenced" in case.name else text
        path = mlops.root / f"{case.name.replace(' ', '-')}.md"
        path.write_text(body)
        return ["validate", str(path), "--json"]

    found = failures(mlops, REQUESTS, prepare, lambda case, request: request["hyperparameters"][case.field])
    assert not found, found


# --- `mlops validate` on an Issue Form body (the bundled form, as mlops/examples/iris-issue.md) --------------

FORM_BODY = (EXAMPLES / "iris-issue.md").read_text(encoding="utf-8")
FORM_ANSWERS = {  # field -> (its answer in the example body, the same answer with a case's value)
    "evaluation_threshold": ("### Evaluation threshold (閾値)\n\n0.85\n", "### Evaluation threshold (閾値)\n\n{}\n"),
    "max_retry": ("### Max retrains (最大再学習回数)\n\n3\n", "### Max retrains (最大再学習回数)\n\n{}\n"),
    "max_depth": ("max_depth: 10\n", "max_depth: {}\n"),
}

FORM_CASES = [
    Case("threshold with an exponent", "evaluation_threshold", "1e-3", 0.001),
    Case("threshold without a leading digit", "evaluation_threshold", ".5", 0.5),
    Case("threshold of 5000 digits", "evaluation_threshold", HUGE, Refused("evaluation_threshold: '999")),
    Case("threshold with underscores", "evaluation_threshold", "0_85", Refused("write it without underscores")),
    Case("threshold nan", "evaluation_threshold", ".nan", Refused("evaluation_threshold: must be a finite number")),
    Case("threshold too large", "evaluation_threshold", "1e400", Refused("evaluation_threshold: '1e400' is too large")),
    Case("retries with a leading zero", "max_retry", "010", 10),
    Case("retries in hexadecimal", "max_retry", "0x3", 3),
    Case("retries as yes", "max_retry", "yes", Refused("max_retry: Input should be a valid integer (got 'yes')")),
    Case("retries of 5000 digits", "max_retry", HUGE, Refused("max_retry: '999")),
    Case("hyperparameter with a leading zero", "max_depth", "010", 10),
    Case("hyperparameter in base 60", "max_depth", "1:30", Refused("base-60 numbers (1:30) are text")),
    Case("hyperparameter of 5000 digits", "max_depth", HUGE, Refused("hyperparameters: line 2: max_depth: '999")),
]


def test_validate_reads_issue_form_answers_as_yaml_1_2(mlops: Mlops) -> None:
    def prepare(case: Case) -> list[str]:
        answer, template = FORM_ANSWERS[case.field]
        assert answer in FORM_BODY
        path = mlops.root / f"{case.name.replace(' ', '-')}.md"
        path.write_text(FORM_BODY.replace(answer, template.format(case.written)), encoding="utf-8")
        return ["validate", str(path), "--json"]

    def read(case: Case, request: dict[str, Any]) -> Any:
        return request["hyperparameters"][case.field] if case.field == "max_depth" else request[case.field]

    found = failures(mlops, FORM_CASES, prepare, read)
    assert not found, found


# --- `mlops resume <id> "/mlops retrain ..."` on a paused run ----------------------------------------------

WEAK_TREE = {  # a stump misses 0.9 accuracy on iris, so the run pauses for an operator
    "learning_type": "supervised",
    "algorithm": "decision_tree",
    "dataset_id": "iris",
    "hyperparameters": {"max_depth": 1},
    "evaluation_threshold": 0.9,
}
# Overrides that parse but do not validate show what was read without training again.
OVERRIDES = [
    Case("5000 digits", "max_depth", HUGE, Refused("max_depth: '999")),
    Case("hexadecimal, out of range", "max_depth", "0x7FF", Refused("hyperparameters.max_depth: 2047 is out of range")),
    Case("leading zero is decimal", "max_depth", "010000", Refused("hyperparameters.max_depth: 10000 is out of range")),
    Case("base 60", "max_depth", "1:30", Refused("(got '1:30'); base-60 numbers (1:30) are text")),
    Case("exponent", "max_depth", "1e2", Refused("max_depth: must be an integer >= 1 and <= 1000 (got 100.0)")),
    Case("underscores", "max_depth", "1_000", Refused("(got '1_000'); write it without underscores")),
    Case("binary", "max_depth", "0b11", Refused("binary numbers are text; write it in decimal")),
    Case("thousands separator", "min_samples_split", "1,000", Refused("write it without thousands separators")),
    Case("infinity", "max_depth", ".inf", Refused("(got inf)")),
    Case("nan threshold", "evaluation_threshold", ".nan", Refused("evaluation_threshold: must be a finite number")),
    Case("too large", "evaluation_threshold", "1e400", Refused("evaluation_threshold: '1e400' is too large")),
    Case("negative seed", "random_state", "-1", Refused("hyperparameters.random_state: -1 is out of range")),
    Case("signed hexadecimal", "random_state", "+0x1", Refused("a sign is allowed only on a decimal number")),
    Case("yes as a choice", "criterion", "yes", Refused("hyperparameters.criterion: 'yes' is not allowed")),
]


@pytest.mark.slow
def test_resume_reads_retrain_overrides_as_yaml_1_2(mlops: Mlops) -> None:
    # GIVEN a paused run
    paused = mlops("run", str(request_file(mlops.root / "weak.yml", "Weak Tree", WEAK_TREE)), "--json")
    assert paused.returncode == 3, paused
    training_id = paused.json()["training_id"]

    def prepare(case: Case) -> list[str]:
        return ["resume", training_id, f"/mlops retrain {case.field}={case.written}"]

    # WHEN an operator answers with each hostile value, one answer at a time (a run takes one at a time;
    # MLOPS_TRAIN_COMMAND only spares booting a training worker for answers refused before any training)
    found = failures(mlops, OVERRIDES, prepare, env=lambda case: {"MLOPS_TRAIN_COMMAND": "false"}, at_once=1)
    # THEN each is refused with its own line, and the run still waits
    assert not found, found
    assert mlops("status", training_id, "--json").json()["status"] == "awaiting_operator"


# --- settings -----------------------------------------------------------------------------------------------

SETTINGS = [
    Case("keep versions inf", "MLOPS_KEEP_VERSIONS", "inf", Refused("MLOPS_KEEP_VERSIONS: 'inf' is not a number")),
    Case("keep versions nan", "MLOPS_KEEP_VERSIONS", "nan", Refused("MLOPS_KEEP_VERSIONS: 'nan' is not a number")),
    Case("keep versions 1e400", "MLOPS_KEEP_VERSIONS", "1e400", Refused("MLOPS_KEEP_VERSIONS: '1e400' is too large")),
    Case("keep versions -1", "MLOPS_KEEP_VERSIONS", "-1", Refused("MLOPS_KEEP_VERSIONS: must not be negative")),
    Case("keep versions abc", "MLOPS_KEEP_VERSIONS", "abc", Refused("MLOPS_KEEP_VERSIONS: 'abc' is not a number")),
    Case("keep versions 5000 digits", "MLOPS_KEEP_VERSIONS", HUGE, Refused("MLOPS_KEEP_VERSIONS: '999")),
    Case("keep runs .inf", "MLOPS_KEEP_RUNS", ".inf", Refused("MLOPS_KEEP_RUNS: must be a finite number")),
    Case("timeout .nan", "MLOPS_TRAIN_TIMEOUT", ".nan", Refused("MLOPS_TRAIN_TIMEOUT: must be a finite number")),
    Case("retry delay 1e300", "MLOPS_RETRY_DELAY", "1e300", Refused("MLOPS_RETRY_DELAY: must be at most 1e+09")),
]


def test_a_bad_setting_is_a_clear_usage_error(mlops: Mlops) -> None:
    found = failures(mlops, SETTINGS, lambda case: ["runs", "list"], env=lambda case: {case.field: case.written})
    assert not found, found
