"""The Lambda handlers are thin: the event is the run document, the result the new one (plain JSON), an agent's
error propagates under its own name, and the ports are built once per container from the environment."""

from __future__ import annotations

import json

import pytest

from mlops import handlers
from mlops.errors import TrainingError
from mlops.pipeline.models import RunState
from mlops.pipeline.runner import error_name
from mlops.request import validate_request
from tests.aws.lambda_harness import lambda_container
from tests.pipeline.conftest import WEAK_TREE


@pytest.fixture
def container(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """A fresh Lambda container whose settings come from its environment."""
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLOPS_HISTORY_DIR", str(tmp_path / "history"))
    with lambda_container():
        yield tmp_path


def _document() -> dict:
    run = RunState(training_id="train-20250101-000000-00000000", request=validate_request(WEAK_TREE))
    return json.loads(run.model_dump_json())


def test_a_handler_takes_and_returns_the_run_document_as_json(container) -> None:
    result = handlers.build_training_job(handlers.prepare_data(_document(), None), None)
    assert json.loads(json.dumps(result)) == result  # what Lambda can return
    assert result["data"]["rows_train"] == 120 and result["request"]["task"] == "classification"
    assert result["job"]["name"] == "train-20250101-000000-00000000-a1"
    assert handlers.ports() is handlers.ports()  # built once per container
    assert handlers.ports().settings.home == container / "home"


def test_the_wait_handler_notifies_and_never_passes_the_task_token_on(container) -> None:
    # (on AWS the token goes to the run table: tests/aws/test_handlers_wait.py)
    result = handlers.await_operator({"run": _document(), "task_token": "token-123"}, None)
    assert "token-123" not in json.dumps(result) and result["status"] == "awaiting_operator"
    assert "retrain" in (container / "home" / "notifications.log").read_text()


def test_an_agent_error_propagates_under_the_name_the_flow_matches(container) -> None:
    with pytest.raises(TrainingError) as raised:
        handlers.evaluate(_document(), None)  # nothing was trained
    assert error_name(raised.value) == "TrainingError"
