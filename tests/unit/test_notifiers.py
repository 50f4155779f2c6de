"""GIVEN a Slack incoming webhook is configured, WHEN a run notifies, THEN Slack receives the message over real
HTTP; and an unreachable Slack never fails the run."""

from __future__ import annotations

import io
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from mlops.backends.local.notifier import ConsoleNotifier
from mlops.backends.local.slack import FanOutNotifier, SlackNotifier
from mlops.pipeline.models import ErrorInfo, RunState
from mlops.report import render_summary
from mlops.request import validate_request


@pytest.fixture
def run() -> RunState:
    request = validate_request(
        {
            "learning_type": "supervised",
            "algorithm": "svm",
            "dataset_id": "iris",
            "evaluation_threshold": 0.9,
            "model_id": "iris-svm",
        }
    )
    return RunState(training_id="train-20250110-123456-abcd", request=request, status="awaiting_operator")


@pytest.fixture
def slack() -> tuple[str, list[dict]]:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/services/T000/B000/XXXX", received
    server.shutdown()
    server.server_close()


def test_slack_receives_the_run_and_the_message(run: RunState, slack) -> None:
    url, received = slack
    SlackNotifier(url).notify(run, "accuracy missed the threshold; 3 retrain(s) left")
    assert len(received) == 1
    text = received[0]["text"]
    assert "train-20250110-123456-abcd" in text and "iris-svm" in text and "awaiting_operator" in text
    assert "accuracy missed the threshold" in text


def test_an_unreachable_slack_does_not_fail_the_run(run: RunState, tmp_path: Path, caplog) -> None:
    log_path = tmp_path / "notifications.log"
    notifier = FanOutNotifier(ConsoleNotifier(log_path), SlackNotifier("http://127.0.0.1:9/hook", timeout=0.5))
    notifier.notify(run, "run failed")
    assert "not delivered" in caplog.text
    entry = json.loads(log_path.read_text().splitlines()[0])
    assert entry["training_id"] == run.training_id and entry["message"] == "run failed"


def test_a_webhook_that_is_no_http_url_does_not_fail_the_run(run: RunState, caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN webhooks the settings would refuse, handed to the notifier directly
    for url in ("notaurl", "ftp://example.com/hook"):
        # WHEN a run notifies THEN nothing is raised: the failure is logged
        SlackNotifier(url, timeout=2).notify(run, "run failed")
    assert caplog.text.count(f"Slack notification for {run.training_id} not delivered") == 2


def test_a_server_answering_no_http_does_not_fail_the_run(run: RunState, caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN a webhook server that answers with bytes that are no HTTP (http.client raises BadStatusLine)
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def answer_garbage() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"garbage\r\n\r\n")

        server = threading.Thread(target=answer_garbage)
        server.start()
        # WHEN a run notifies THEN nothing is raised: the failure is logged
        SlackNotifier(f"http://127.0.0.1:{listener.getsockname()[1]}/hook", timeout=2).notify(run, "run failed")
        server.join(timeout=5)
    assert f"Slack notification for {run.training_id} not delivered: BadStatusLine" in caplog.text


@pytest.fixture
def failed_summary(run: RunState) -> str:
    """The summary a failed run notifies with: GitHub Markdown, its error message escaped for GitHub."""
    run.status = "failed"
    run.error = ErrorInfo(state="Train", type="TrainingError", message="[mlops] error: <!channel> & *x* @octocat")
    return render_summary(run, "en")


PLAIN_ERROR = "Training failed (error in Train: TrainingError: [mlops] error: <!channel> & *x* @octocat)"


def test_the_console_shows_the_summary_as_plain_text(run: RunState, tmp_path: Path, failed_summary: str) -> None:
    # GIVEN the Markdown summary of a failed run, escaped for GitHub (\\[mlops\\], &lt;, \\*)
    assert "\\[mlops\\]" in failed_summary and "&lt;" in failed_summary
    console = io.StringIO()
    # WHEN the console notifier shows it
    ConsoleNotifier(tmp_path / "notifications.log", console).notify(run, failed_summary)
    # THEN the line reads as the error was written, without the heading's #, and so does the log
    assert console.getvalue() == f"[mlops] {run.training_id}: ❌ {PLAIN_ERROR}\n"
    entry = json.loads((tmp_path / "notifications.log").read_text(encoding="utf-8"))
    assert PLAIN_ERROR in entry["message"] and "\\[" not in entry["message"]


def test_slack_gets_plain_text_with_only_slack_s_own_escaping(run: RunState, slack, failed_summary: str) -> None:
    url, received = slack
    SlackNotifier(url).notify(run, failed_summary)
    text = received[0]["text"]
    # no GitHub escaping; Slack's own &, <, > escaping, so `<!channel>` in a value notifies no one
    assert "[mlops] error: &lt;!channel&gt; &amp; *x* @octocat" in text, text
    assert "\\[" not in text and "###" not in text
