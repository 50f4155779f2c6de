"""How fast the action starts a request on AWS: `python -m mlops.action start` with MLOPS_BACKEND=aws, from process
start to the execution started (the StartExecution request reaching Step Functions), against loopback fakes: a
moto server (moto.server.ThreadedMotoServer, holding the committed state machine) and the fake GitHub
(tests/github/fake_github.py). Target: within 1 second.

    python benchmarks/bench_action_start_aws.py [--repeat 9]

Each try is a fresh process given GitHub's own `issues.opened` example delivery for a new issue with a valid
request: it validates the request with the repository's form, reads the author's permission, removes an invalid
label if any, starts the execution, posts the status comment and labels the issue `mlops:running`. Printed: the
medians of the time to the execution started and to the process's exit, and what that path imports (top packages
by cumulative import time, from `python -X importtime`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "github"), str(REPO / "tests" / "github" / "action")]

from action_harness import IssueSpec  # noqa: E402
from fake_github import FakeGitHub  # noqa: E402

from tests.aws.action_on_aws import (  # noqa: E402
    ACTION_KEY,
    MotoServer,
    aws_env,
    create_state_machine,
    moto_server,
    substituted_definition,
)


def environment(work: Path, fake: FakeGitHub, event: Path, moto: MotoServer, machine: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLOPS_", "AWS_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # compiled modules are cached on a runner too
    return {
        **env,
        "GITHUB_EVENT_NAME": "issues",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": fake.repository,
        "GITHUB_API_URL": fake.url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "1",
        "GITHUB_TOKEN": "ghs_benchmark",
        "GITHUB_OUTPUT": str(work / "output"),
        "GITHUB_STEP_SUMMARY": str(work / "summary.md"),
        "GITHUB_WORKSPACE": str(work),
        "MLOPS_HOME": str(work / "home"),
        **aws_env(moto, machine),
    }


def one_start(work: Path, fake: FakeGitHub, moto: MotoServer, machine: str, number: int,
              python: list[str]) -> tuple[float, float, float, str]:
    """(seconds to StartExecution received, to the process's exit, the CPU seconds the process used, its stderr),
    one fresh process. The CPU time barely moves with the machine's load; the wall-clock times do."""
    spec = IssueSpec(number=number)
    fake.add_issue(number, title=spec.title, body=spec.body, author=spec.author, labels=spec.labels)
    event = work / "event.json"
    payload: dict[str, Any] = spec.delivery("opened")
    event.write_text(json.dumps(payload))
    moto.recorder.calls.clear()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *python, "-m", "mlops.action", "start"],
        env=environment(work, fake, event, moto, machine),
        cwd=work,
        capture_output=True,
        text=True,
    )
    ended = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    starts = [c.at for c in moto.recorder.calls if c.key == ACTION_KEY and c.operation == "StartExecution"]
    if done.returncode != 0 or not starts:
        sys.exit(f"the action failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")
    return starts[0] - started, ended - started, cpu, done.stderr


def import_profile(log: str, top: int = 15) -> list[tuple[str, float]]:
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
    with tempfile.TemporaryDirectory(prefix="bench-start-aws-") as tmp, FakeGitHub() as fake, moto_server() as moto:
        work = Path(tmp)
        (work / "output").touch()
        (work / "summary.md").touch()
        machine = create_state_machine(moto, substituted_definition())
        numbers = iter(range(100, 100 + args.repeat + 2))
        one_start(work, fake, moto, machine, next(numbers), [])  # warm-up: compiles the modules, makes the labels
        tries = [one_start(work, fake, moto, machine, next(numbers), []) for _ in range(args.repeat)]
        profile = import_profile(one_start(work, fake, moto, machine, next(numbers), ["-X", "importtime"])[3])
        if fake.problems:
            sys.exit("the fake GitHub saw requests its description does not allow:\n" + "\n".join(fake.problems))
    print(f"python -m mlops.action start, backend aws, {args.repeat} fresh processes (seconds):")
    for label, index in (("execution started", 0), ("process exited", 1), ("CPU time (user+sys)", 2)):
        times = [t[index] for t in tries]
        print(f"  {label:<20} median {statistics.median(times):.3f}  min {min(times):.3f}  max {max(times):.3f}")
    print("  target: execution started within 1 s")
    print(f"  load average now: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print("what the path imports (top packages, cumulative import time):")
    for name, seconds in profile:
        print(f"  {name:<28} {seconds:.3f} s")


if __name__ == "__main__":
    main()
