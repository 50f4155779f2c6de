"""What the handlers print: one JSON log line per event, each naming the run, its issue and the agent, and the
run's metrics in CloudWatch's Embedded Metric Format, read back from stdout as CloudWatch Logs would get it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops import handlers
from mlops.errors import TrainingError
from mlops.pipeline.models import OperatorDecision, RunState
from tests.aws.lambda_harness import REPOSITORY, json_lines, lambda_container, run_document, run_verification, train

ISSUE = f"{REPOSITORY}#7"


@pytest.fixture
def container(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A Lambda container on the local ports (the agents' work is real; the AWS adapters have their own tests)."""
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLOPS_HISTORY_DIR", str(tmp_path / "history"))
    with lambda_container():
        yield tmp_path


def agents_through_publish(document: dict[str, Any]) -> dict[str, Any]:
    document = handlers.build_training_job(handlers.prepare_data(document, None), None)
    document = handlers.evaluate(train(handlers.ports(), document), None)
    document = handlers.verify(run_verification(handlers.ports(), handlers.register(document, None)), None)
    return handlers.publish(document, None)


def emf_metric(documents: list[dict[str, Any]], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the EMF document holding metric `name`, its CloudWatchMetrics directive)."""
    for document in documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            if any(metric["Name"] == name for metric in directive["Metrics"]):
                return document, directive
    raise AssertionError(f"no {name} in {documents}")


@pytest.mark.slow
def test_a_run_through_the_handlers_logs_every_line_with_its_run_and_emits_its_metrics(
    container: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finished = agents_through_publish(run_document())
    logs, metrics = json_lines(capsys.readouterr().out)

    assert finished["status"] == "succeeded"
    assert logs and all(line["training_id"] == finished["training_id"] and line["issue"] == ISSUE for line in logs)
    assert all(line["service"] == "mlops" and line["level"] in ("INFO", "WARNING") for line in logs)
    said = [(line["agent"], line["message"]) for line in logs]
    assert said[:2] == [("prepare_data", "prepare_data started"), ("prepare_data", "prepare_data finished")]
    assert said[-1] == ("publish", "publish finished")
    assert [line["run_status"] for line in logs if line["agent"] == "publish"] == ["running", "succeeded"]

    score, directive = emf_metric(metrics, "EvaluationScore")
    assert directive["Namespace"] == "MlopsIssueOps"
    assert [sorted(names) for names in directive["Dimensions"]] == [["metric", "model", "service"]]
    assert (score["model"], score["metric"]) == ("iris-classifier", "accuracy")
    assert score["EvaluationScore"] == [pytest.approx(finished["gate"]["value"])]  # EMF values are lists
    assert score["training_id"] == finished["training_id"] and score["issue"] == ISSUE

    ended, directive = emf_metric(metrics, "RunsSucceeded")
    assert directive["Dimensions"] == [["service"]] and ended["service"] == "mlops"
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {"RunsSucceeded": "Count", "RunDuration": "Seconds"}
    assert ended["RunsSucceeded"] == [1]
    run = RunState.model_validate(finished)
    assert run.finished_at is not None
    assert ended["RunDuration"] == [pytest.approx((run.finished_at - run.created_at).total_seconds(), abs=0.01)]
    assert len(metrics) == 2  # the other agents emit nothing


def test_a_run_that_ends_failed_counts_as_failed(container: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = RunState.model_validate(run_document())
    run.operator = OperatorDecision(action="abort", actor="octocat", reason="wrong dataset")
    handlers.publish(run.model_dump(mode="json"), None)
    _, metrics = json_lines(capsys.readouterr().out)
    ended, directive = emf_metric(metrics, "RunsFailed")
    assert ended["RunsFailed"] == [1] and "RunsSucceeded" not in ended
    assert directive["Dimensions"] == [["service"]]


def test_an_agent_error_is_one_error_line_with_its_name_and_still_propagates(
    container: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(TrainingError):
        handlers.evaluate(run_document(), None)  # nothing was trained
    logs, metrics = json_lines(capsys.readouterr().out)
    (error,) = [line for line in logs if line["level"] == "ERROR"]
    assert error["message"].startswith("evaluate failed: TrainingError: no finished training job")
    assert (error["agent"], error["training_id"], error["issue"]) == ("evaluate", "train-20260101-000000-0a1b2c3d",
                                                                      ISSUE)
    assert metrics == []


def test_a_warm_container_starts_each_invocation_with_that_runs_keys(
    container: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handlers.prepare_data(run_document(), None)
    handlers.prepare_data(run_document("train-20260101-000000-99999999", number=None), None)
    logs, _ = json_lines(capsys.readouterr().out)
    second = [line for line in logs if line["training_id"] == "train-20260101-000000-99999999"]
    assert second and all("issue" not in line for line in second)  # not the first run's issue (None: left out)


def test_the_adapters_warnings_carry_the_keys_and_the_logger_is_left_as_it_was(
    container: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    std = logging.getLogger("mlops")
    before = (list(std.handlers), std.level)

    def warning_agent(run: RunState, ports: object) -> RunState:
        logging.getLogger("mlops").warning("Slack notification for %s not delivered", run.training_id)
        return run

    warn = handlers._handler("verify", lambda: warning_agent)
    warn(run_document(), None)
    logs, _ = json_lines(capsys.readouterr().out)
    (warning,) = [line for line in logs if line["level"] == "WARNING"]
    assert warning["agent"] == "verify" and warning["issue"] == ISSUE
    assert warning["message"] == "Slack notification for train-20260101-000000-0a1b2c3d not delivered"

    assert (list(std.handlers), std.level) == before  # outside an invocation, nothing of powertools is attached
    std.warning("after the invocation")
    assert "after the invocation" in caplog.text and "after the invocation" not in capsys.readouterr().out
