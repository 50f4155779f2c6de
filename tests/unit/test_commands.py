"""GIVEN an issue comment, WHEN it is read as an operator command, THEN it becomes a Command whose values are read
like every other user-written value, or an InvalidRequest with one line per thing to fix."""

from __future__ import annotations

import pytest

from mlops.commands import COMMANDS, Command, parse_command
from mlops.errors import InvalidRequest


def problems_of(comment: str) -> list[str]:
    with pytest.raises(InvalidRequest) as refused:
        parse_command(comment)
    return refused.value.problems


def test_retrain_reads_its_values_as_yaml_1_2_scalars() -> None:
    command = parse_command("Trying deeper trees.\n/mlops retrain max_depth=010 C=1e-3 criterion=gini bootstrap=yes")
    assert command == Command(
        "retrain", overrides={"max_depth": 10, "C": 0.001, "criterion": "gini", "bootstrap": "yes"}
    )


@pytest.mark.parametrize("name", ["approve", "status", "help", "abort"])
def test_commands_other_than_retrain_take_a_free_text_reason(name: str) -> None:
    command = parse_command(f"/mlops {name.upper()} looks good to me")
    assert command == Command(name, reason="looks good to me")


def test_approve_is_listed_with_what_it_needs() -> None:
    assert COMMANDS["approve"] == (
        "start a request awaiting approval (its author cannot write here); needs write access"
    )
    assert "/mlops approve" in problems_of("/mlops")[0]


def test_every_bad_override_is_reported_at_once() -> None:
    problems = problems_of("/mlops retrain n_estimators=" + "9" * 5000 + " C=1e400 depth max_depth=3 max_depth=4")
    assert problems == [
        "n_estimators: '" + "9" * 77 + "...' is a number of 5000 characters; write a number in at most 50",
        "C: '1e400' is too large for a number (the largest is about 1.8e308)",
        "depth: write overrides as key=value, e.g. n_estimators=300",
        "max_depth: given twice",
    ]


def test_an_unknown_command_is_quoted_short_with_a_suggestion() -> None:
    assert problems_of("/mlops retrian max_depth=3") == ["command: unknown command 'retrian' (did you mean 'retrain'?)"]
    (problem,) = problems_of("/mlops " + "x" * 5000)
    assert problem.startswith("command: unknown command '" + "x" * 77 + "...'") and len(problem) < 250, problem


def test_an_unclosed_quote_is_refused_with_the_line_quoted_short() -> None:
    (problem,) = problems_of('/mlops retrain criterion="gini ' + "y" * 5000)
    assert problem.startswith("command: cannot read '/mlops retrain criterion=") and "No closing quotation" in problem
    assert "y" * 81 not in problem


def test_a_suggestion_never_lists_an_empty_set_of_choices() -> None:
    # GIVEN nothing to choose from (no runs yet, say) WHEN a name is not found THEN no "(valid: )" is printed
    from mlops.suggest import did_you_mean

    assert did_you_mean("train-x", []) == ""
    assert did_you_mean("retrian", ["retrain", "abort"]) == " (did you mean 'retrain'?)"
