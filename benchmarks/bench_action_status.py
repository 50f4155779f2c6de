"""How fast the action answers `/mlops status`: `python -m mlops.action comment`, from process start to the reply
posted, against the loopback fake GitHub (tests/github/fake_github.py). Target: within 1 second.

    python benchmarks/bench_action_status.py [--repeat 9]

The issue has a paused run in a persistent MLOPS_HOME, as on a self-hosted runner. Each try is a fresh process
given an `issue_comment.created` delivery (GitHub's own example, changed to say `/mlops status`); it reacts 👀,
reads the run, finds the status comment, posts the reply and reacts 👍. Printed: the medians of the time to the
reply and to the process's exit, and what that path imports (top packages by cumulative import time, from
`python -X importtime`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "github")]

from fake_github import FakeGitHub  # noqa: E402

from mlops.backends.local.issue_runs import IssueRun, IssueRuns  # noqa: E402
from mlops.backends.local.runs_db import SqliteRunStore  # noqa: E402
from mlops.pipeline.models import Attempt, GateResult, RunState, new_training_id  # noqa: E402
from mlops.request import validate_request  # noqa: E402

EXAMPLE = REPO / "tests/fixtures/third_party/octokit-webhooks/payload-examples/api.github.com"
ISSUE = 7


def paused_run(home: Path, repository: str) -> str:
    """A run that missed its threshold and waits for an operator, claimed by issue #7 (no training needed)."""
    request = validate_request(
        {
            "learning_type": "supervised",
            "algorithm": "decision_tree",
            "dataset_id": "iris",
            "task": "classification",
            "hyperparameters": {"max_depth": 1},
            "evaluation_threshold": 0.9,
            "model_id": "iris-tree",
        }
    )
    run = RunState(training_id=new_training_id(), request=request, status="awaiting_operator")
    run.attempts.append(
        Attempt(
            number=1,
            hyperparameters={"max_depth": 1},
            algorithm="decision_tree",
            metrics={"accuracy": 0.6667},
            metric="accuracy",
            value=0.6667,
            passed=False,
        )
    )
    run.gate = GateResult(
        metric="accuracy", value=0.6667, threshold=0.9, comparison=">=", passed=False, decision="retrain"
    )
    store = SqliteRunStore(home / "mlops.db")
    store.create(run, "AwaitOperator")
    store.checkpoint(run, "OperatorChoice")
    IssueRuns(home / "mlops.db").claim(IssueRun(repository, ISSUE, run.training_id, "digest", "started"))
    return run.training_id


def delivery(fake: FakeGitHub) -> dict[str, Any]:
    """GitHub's example comment delivery, saying `/mlops status` on issue #7, for a comment that exists."""
    import requests

    answer = requests.post(
        f"{fake.url}/repos/{fake.repository}/issues/{ISSUE}/comments",
        json={"body": "/mlops status"},
        headers={"Authorization": "token person"},
        timeout=30,
    )
    answer.raise_for_status()
    payload: dict[str, Any] = json.loads((EXAMPLE / "issue_comment" / "created.payload.json").read_text())
    payload["issue"]["number"] = ISSUE
    payload["comment"].update(id=answer.json()["id"], body="/mlops status")
    return payload


def environment(work: Path, fake: FakeGitHub, event: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLOPS_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # compiled modules are cached on a runner too
    return {
        **env,
        "GITHUB_EVENT_NAME": "issue_comment",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": fake.repository,
        "GITHUB_API_URL": fake.url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "1",
        "GITHUB_TOKEN": "ghs_benchmark",
        "GITHUB_OUTPUT": str(work / "output"),
        "GITHUB_STEP_SUMMARY": str(work / "summary.md"),
        "MLOPS_HOME": str(work / "home"),
    }


def one_answer(work: Path, fake: FakeGitHub, python: list[str]) -> tuple[float, float, float, str]:
    """(seconds to the first API call, to the reply posted, to the process's exit, its stderr), one fresh process."""
    event = work / "event.json"
    event.write_text(json.dumps(delivery(fake)))
    first: list[float] = []
    posted: list[float] = []
    fake.before("POST", "/reactions", lambda: first.append(time.perf_counter()))
    fake.before("POST", f"/issues/{ISSUE}/comments", lambda: posted.append(time.perf_counter()))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *python, "-m", "mlops.action", "comment"],
        env=environment(work, fake, event),
        cwd=work,
        capture_output=True,
        text=True,
    )
    ended = time.perf_counter()
    if done.returncode != 0 or not posted or not first:
        sys.exit(f"the action failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")
    return first[0] - started, posted[0] - started, ended - started, done.stderr


def import_profile(log: str, top: int = 12) -> list[tuple[str, float]]:
    """Packages by their largest cumulative import time (seconds) in a `-X importtime` log."""
    totals: dict[str, float] = {}
    for line in log.splitlines():
        fields = line.split(":", 1)[-1].split("|")
        if line.startswith("import time:") and len(fields) == 3 and fields[1].strip().isdigit():
            package = fields[2].strip().split(".")[0]
            totals[package] = max(totals.get(package, 0.0), int(fields[1]) / 1e6)
    return sorted(totals.items(), key=lambda item: -item[1])[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-action-") as tmp, FakeGitHub() as fake:
        work = Path(tmp)
        (work / "output").touch()
        (work / "summary.md").touch()
        fake.add_issue(
            ISSUE,
            title="[MLOps] モデル学習リクエスト: Iris Tree",
            body="",
            author="Codertocat",
            labels=["mlops:train", "mlops:awaiting-operator"],
        )
        paused_run(work / "home", fake.repository)
        one_answer(work, fake, [])  # warm-up: compiles the modules, creates the labels' and the database's files
        tries = [one_answer(work, fake, []) for _ in range(args.repeat)]
        profile = import_profile(one_answer(work, fake, ["-X", "importtime"])[3])
        if fake.problems:
            sys.exit("the fake GitHub saw requests its description does not allow:\n" + "\n".join(fake.problems))
    print(f"/mlops status answered by python -m mlops.action comment, {args.repeat} fresh processes (seconds):")
    for label, index in (("first API call (the 👀)", 0), ("reply posted", 1), ("process exited", 2)):
        times = [t[index] for t in tries]
        print(f"  {label:<24} median {statistics.median(times):.3f}  min {min(times):.3f}  max {max(times):.3f}")
    print("  target: reply posted within 1 s")
    print("what the path imports (top packages, cumulative import time):")
    for name, seconds in profile:
        print(f"  {name:<28} {seconds:.3f} s")


if __name__ == "__main__":
    main()
