"""Helpers of the action's end-to-end tests: `python -m mlops.action <mode>` in a subprocess, as GitHub Actions
runs it, replaying GitHub's own example deliveries (octokit/webhooks, changed only where a scenario needs it)
against the loopback fake GitHub (tests/github/fake_github.py), with the real local engine in a temporary
MLOPS_HOME. The fixtures are in conftest.py beside this file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from fake_github import FakeGitHub

REPO = Path(__file__).resolve().parents[3]
PAYLOADS = REPO / "tests" / "fixtures" / "third_party" / "octokit-webhooks" / "payload-examples" / "api.github.com"
TITLE = "[MLOps] モデル学習リクエスト: Iris Classifier"
TIMEOUT = 600


def octokit(event: str, variant: str = "") -> dict[str, Any]:
    """One of GitHub's own example deliveries (octokit/webhooks), e.g. ("issues", "opened")."""
    name = f"{variant}.payload.json" if variant else "payload.json"
    payload: dict[str, Any] = json.loads((PAYLOADS / event / name).read_text(encoding="utf-8"))
    return payload


def form_body(
    *,
    algorithm: str = "random_forest",
    hyperparameters: str = "n_estimators: 5\nmax_depth: 3",
    threshold: str = "0.85",
    dataset: str = "iris",
    max_retry: str = "3",
) -> str:
    """An issue body as GitHub renders our Issue Form (`.github/ISSUE_TEMPLATE/train.yml`): no trailing newline."""
    answers = [
        ("Model name (モデル名)", "_No response_"),
        ("Learning type (学習方式)", "supervised"),
        ("Algorithm (アルゴリズム)", algorithm),
        ("Task (タスク)", "_No response_"),
        ("Dataset ID (データセットID)", dataset),
        ("Environment (強化学習の環境)", "_No response_"),
        ("Hyperparameters (ハイパーパラメータ)", f"```yaml\n{hyperparameters}\n```"),
        ("Evaluation metric (評価指標)", "_No response_"),
        ("Evaluation threshold (閾値)", threshold),
        ("Max retrains (最大再学習回数)", max_retry),
        ("Options (オプション)", "- [X] Report in English"),
    ]
    return "\n\n".join(f"### {label}\n\n{value}" for label, value in answers)


@dataclass
class IssueSpec:
    """An issue as the fake holds it and as the deliveries describe it."""

    number: int = 7
    title: str = TITLE
    body: str | None = field(default_factory=form_body)
    author: str = "Codertocat"
    labels: tuple[str, ...] = ("mlops:train",)

    def delivery(self, action: str, variant: str = "") -> dict[str, Any]:
        """GitHub's example `issues.<action>` delivery, changed to describe this issue."""
        payload = octokit("issues", variant or action)
        patch_issue(payload["issue"], self)
        if action == "labeled":
            payload["label"] = {**payload["label"], "name": "mlops:train"}
        return payload


def patch_issue(issue: dict[str, Any], spec: IssueSpec) -> None:
    template = issue["labels"][0] if issue["labels"] else {"id": 1, "name": "", "color": "ededed", "default": False}
    issue.update(number=spec.number, title=spec.title, body=spec.body)
    issue["user"] = {**issue["user"], "login": spec.author}
    issue["labels"] = [{**template, "name": name} for name in spec.labels]
    issue["html_url"] = f"https://github.com/Codertocat/Hello-World/issues/{spec.number}"


@dataclass(repr=False)
class ActionResult:
    mode: str
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str

    @property
    def errors(self) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith("::error")]

    def __repr__(self) -> str:
        return (
            f"python -m mlops.action {self.mode} -> {self.returncode}, outputs {self.outputs}\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


class ActionRunner:
    """`python -m mlops.action <mode>` in a subprocess with the environment GitHub Actions sets, a persistent
    MLOPS_HOME (a self-hosted runner's) and the loopback fake GitHub as GITHUB_API_URL."""

    def __init__(self, root: Path, fake: FakeGitHub) -> None:
        self.root, self.fake = root, fake
        self.home, self.history, self.workspace = root / "home", root / "history", root / "workspace"
        self.workspace.mkdir(parents=True, exist_ok=True)
        self._count = 0

    def env(self, event_name: str, event_path: Path, job: Path, **extra: str) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLOPS_", "RUNNER_"))}
        return {
            **inherited,
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_REPOSITORY": self.fake.repository,
            "GITHUB_API_URL": self.fake.url,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_OUTPUT": str(job / "output"),
            "GITHUB_STEP_SUMMARY": str(job / "summary.md"),
            "GITHUB_ACTOR": "Codertocat",
            "GITHUB_TOKEN": "ghs_fake_installation_token",
            "MLOPS_HOME": str(self.home),
            "MLOPS_HISTORY_DIR": str(self.history),
            "MLOPS_RETRY_DELAY": "0.01",
            "MLOPS_GITHUB_BACKOFF": "0.05",
            **extra,
        }

    def start(
        self, mode: str, event_name: str, payload: dict[str, Any], *, python: tuple[str, ...] = (), **extra: str
    ) -> Started:
        self._count += 1
        job = self.root / "jobs" / f"{self._count:02d}-{mode}"
        job.mkdir(parents=True)
        (job / "output").touch()
        (job / "summary.md").touch()
        event_path = job / "event.json"
        event_path.write_text(json.dumps(payload), encoding="utf-8")
        process = subprocess.Popen(
            [sys.executable, *python, "-m", "mlops.action", mode],
            cwd=self.workspace,
            env=self.env(event_name, event_path, job, **extra),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        return Started(mode, job, process)

    def run(
        self, mode: str, event_name: str, payload: dict[str, Any], *, python: tuple[str, ...] = (), **extra: str
    ) -> ActionResult:
        return self.start(mode, event_name, payload, python=python, **extra).wait()

    def open_issue(self, spec: IssueSpec) -> IssueSpec:
        """The issue as it exists on GitHub (the action reads labels, comments and permissions from there)."""
        self.fake.add_issue(spec.number, title=spec.title, body=spec.body, author=spec.author, labels=spec.labels)
        return spec

    # deliveries -------------------------------------------------------------------------------------------

    def issue(self, spec: IssueSpec, action: str = "opened", variant: str = "", **extra: str) -> ActionResult:
        return self.run("start", "issues", spec.delivery(action, variant), **extra)

    def comment(
        self, spec: IssueSpec, body: str, *, author: str = "Codertocat", variant: str = "created", **extra: str
    ) -> ActionResult:
        """`author` comments `body` on the issue; the `issue_comment` delivery goes to `comment` mode."""
        return self.run("comment", "issue_comment", self.comment_delivery(spec, body, author, variant), **extra)

    def comment_delivery(self, spec: IssueSpec, body: str, author: str, variant: str = "created") -> dict[str, Any]:
        payload = octokit("issue_comment", variant)
        patch_issue(payload["issue"], spec)
        comment_id = self.post_comment(spec.number, body)
        payload["comment"].update(id=comment_id, body=body)
        payload["comment"]["user"] = {**payload["comment"]["user"], "login": author}
        payload["sender"] = {**payload["sender"], "login": author}
        return payload

    def post_comment(self, number: int, body: str) -> int:
        """The person's comment, made through the fake's REST API (the fake books it to the token's bot)."""
        answer = requests.post(
            f"{self.fake.url}/repos/{self.fake.repository}/issues/{number}/comments",
            json={"body": body},
            headers={"Authorization": "token person"},
            timeout=30,
        )
        answer.raise_for_status()
        return int(answer.json()["id"])

    # what the repository shows ------------------------------------------------------------------------------

    def bot_comments(self, number: int, marker: str = "<!-- mlops:") -> list[dict[str, Any]]:
        return [c for c in self.fake.comments(number) if marker in c["body"]]

    def status_comment(self, number: int) -> str:
        (comment,) = self.bot_comments(number, "<!-- mlops:status ")
        return str(comment["body"])


@dataclass
class Started:
    mode: str
    job: Path
    process: subprocess.Popen[str]

    def wait(self) -> ActionResult:
        stdout, stderr = self.process.communicate(timeout=TIMEOUT)
        result = ActionResult(
            self.mode,
            self.process.returncode,
            stdout,
            stderr,
            parse_outputs((self.job / "output").read_text(encoding="utf-8")),
            (self.job / "summary.md").read_text(encoding="utf-8"),
        )
        assert "Traceback" not in stdout + stderr, result
        return result


def parse_outputs(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT as the runner reads it: `name=value` lines and `name<<DELIMITER` ... `DELIMITER` blocks."""
    outputs, lines = {}, iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value = []
            for inner in lines:
                if inner == delimiter:
                    break
                value.append(inner)
            outputs[name] = "\n".join(value)
        elif "=" in line:
            name, value_text = line.split("=", 1)
            outputs[name] = value_text
    return outputs


def copy_served(served: Path, runner: ActionRunner) -> None:
    shutil.copytree(served / "home", runner.home, dirs_exist_ok=True)
    shutil.copytree(served / "history", runner.history, dirs_exist_ok=True)


def checkout_history(fake: FakeGitHub, into: Path) -> Path:
    """`training_history/` as the default branch holds it now, written to `into` (a checkout of that folder)."""
    paths = {path for commit in fake.commits() for path in commit["paths"] if path.startswith("training_history/")}
    for path in paths:
        content = fake.file(path)
        if content is not None:
            (into / path).parent.mkdir(parents=True, exist_ok=True)
            (into / path).write_bytes(content)
    return into / "training_history"


def history_commits(fake: FakeGitHub) -> list[dict[str, Any]]:
    """The default branch's commits that touched `training_history/`, newest first."""
    return [c for c in fake.commits() if any(p.startswith("training_history/") for p in c["paths"])]
