"""Helpers of the tests of the action with backend aws: `python -m mlops.action <mode>` in a subprocess, as GitHub
Actions runs it, with AWS_ENDPOINT_URL pointing at a moto server (moto.server.ThreadedMotoServer on a free
loopback port, in this process) and GITHUB_API_URL at the loopback fake GitHub (tests/github/fake_github.py).

The moto server's WSGI app is wrapped to record every request with the access key that signed it: the action
runs with a key of its own, so a test can list exactly the AWS calls the action made (the test's own setup calls
are signed with another key).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer

GITHUB_TESTS = Path(__file__).resolve().parents[1] / "github"
for folder in (GITHUB_TESTS, GITHUB_TESTS / "action"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from action_harness import ActionResult, ActionRunner, IssueSpec, form_body, octokit  # noqa: E402
from fake_github import FakeGitHub  # noqa: E402

from mlops.backends.aws.dynamodb_table import TABLE_DEFINITION  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ASL = REPO / "infra" / "cloudformation" / "state-machine.asl.json"
REGION = "us-east-1"
ACCOUNT = "123456789012"
ACTION_KEY = "AKIAACTIONJOB0000000"  # the action's access key: its calls are told apart by it
TEST_KEY = "AKIATESTSETUP0000000"
RUN_TABLE = "mlops-runs"
BUCKET = "mlops-artifacts"
_CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/")

__all__ = ["ActionResult", "ActionRunner", "FakeGitHub", "IssueSpec", "form_body", "octokit"]


@dataclass(frozen=True)
class Call:
    key: str  # the access key that signed it
    service: str  # as in the signature's scope: states, dynamodb, s3, sagemaker...
    operation: str  # X-Amz-Target's operation (JSON protocols), else METHOD /path
    at: float = 0.0  # time.perf_counter() when the server got it (the benchmark times the action by it)

    def __str__(self) -> str:
        return f"{self.service}:{self.operation}"


@dataclass
class Recorder:
    """Wraps the moto server's WSGI app: every request it answers, in order."""

    app: Callable[..., Any]
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        found = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if found:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            operation = target.rsplit(".", 1)[-1] if target else f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}"
            with self.lock:
                self.calls.append(Call(found.group(1), found.group(2), operation, time.perf_counter()))
        return self.app(environ, start_response)

    def by(self, key: str) -> list[str]:
        with self.lock:
            return [str(call) for call in self.calls if call.key == key]


@dataclass
class MotoServer:
    url: str
    recorder: Recorder

    def configure(self, config: dict[str, Any]) -> None:
        requests.post(f"{self.url}/moto-api/config", json=config, timeout=10).raise_for_status()

    def reset(self) -> None:
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()
        self.recorder.calls.clear()

    def client(self, service: str) -> Any:
        """A boto3 client of the test's own (signed with TEST_KEY)."""
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id=TEST_KEY,
            aws_secret_access_key="test-secret",
        )


@contextmanager
def moto_server() -> Iterator[MotoServer]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    wsgi = server._server
    assert wsgi is not None
    recorder = Recorder(wsgi.app)
    wsgi.app = recorder  # werkzeug's handler calls server.app for each request
    host, port = server.get_host_and_port()
    try:
        yield MotoServer(f"http://{host}:{port}", recorder)
    finally:
        server.stop()


def substituted_definition(extra: dict[str, str] | None = None) -> str:
    """The committed state machine, with what CloudFormation's DefinitionSubstitutions fills in."""
    values = {
        "SageMakerRoleArn": f"arn:aws:iam::{ACCOUNT}:role/mlops-training",
        "TrainingImage": f"683313688378.dkr.ecr.{REGION}.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        **(extra or {}),
    }

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return values.get(name) or f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name.removesuffix('FunctionArn')}"

    return re.sub(r"\$\{(\w+)\}", value, ASL.read_text(encoding="utf-8"))


def create_state_machine(moto: MotoServer, definition: str, name: str = "mlops-pipeline") -> str:
    role = f"arn:aws:iam::{ACCOUNT}:role/mlops-states"
    return str(moto.client("stepfunctions").create_state_machine(name=name, definition=definition, roleArn=role)[
        "stateMachineArn"
    ])


def create_run_table(moto: MotoServer) -> None:
    moto.client("dynamodb").create_table(TableName=RUN_TABLE, **TABLE_DEFINITION)


def aws_env(moto: MotoServer, state_machine_arn: str, **extra: str) -> dict[str, str]:
    """What the -aws jobs pass the action (action.yml maps its inputs to these), plus the moto endpoint."""
    return {
        "MLOPS_BACKEND": "aws",
        "MLOPS_STATE_MACHINE_ARN": state_machine_arn,
        "MLOPS_RUN_TABLE": RUN_TABLE,
        "MLOPS_BUCKET": BUCKET,
        "MLOPS_KMS_KEY_ID": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/test",
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": ACTION_KEY,
        "AWS_SECRET_ACCESS_KEY": "action-secret",
        "MLOPS_AWS_MAX_ATTEMPTS": "1",
        **extra,
    }


def executions(moto: MotoServer, machine: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = moto.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"]
    return listed


def execution_input(moto: MotoServer, arn: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(moto.client("stepfunctions").describe_execution(executionArn=arn)["input"])
    return document


def wait_for(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def entered_states(moto: MotoServer, arn: str) -> list[str]:
    events = moto.client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
