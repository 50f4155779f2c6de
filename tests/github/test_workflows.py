"""GIVEN the workflows in .github/workflows/ and the action in action/, WHEN GitHub would read them, THEN each job
runs for exactly the events the contract names, with the least permissions it needs, on the runner the repository
variables choose, with every third-party action pinned and no expression inside a shell script.

The jobs' `if:` conditions, concurrency groups and `runs-on` are evaluated, not string-matched: a small evaluator
of GitHub's expression language (at the end of this file) runs them against events shaped like GitHub's.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
ACTION = REPO / "action" / "action.yml"
RUNNER = "${{ vars.MLOPS_RUNNER || 'self-hosted' }}"
FULL_SHA = re.compile(r"[0-9a-f]{40}")


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in document:  # YAML 1.1 reads the key `on` as the boolean true
        document["on"] = document.pop(True)
    return dict(document)


def workflow(name: str) -> dict[str, Any]:
    return load(WORKFLOWS / name)


def all_workflows() -> dict[str, dict[str, Any]]:
    return {path.name: load(path) for path in sorted(WORKFLOWS.glob("*.yml"))}


def action_step(job: dict[str, Any]) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if s.get("uses") == "./action"]
    return step


# ------------------------------------------------------------------ which jobs run for which event


def issue_event(action: str, labels: tuple[str, ...] = ("mlops:train",), added: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "action": action,
        "issue": {"number": 7, "labels": [{"name": n} for n in labels], "body": "learning_type: supervised"},
    }
    if added is not None:
        event["label"] = {"name": added}
    return event


def comment_event(body: str, *, user_type: str = "User", labels: tuple[str, ...] = ("mlops:train",),
                  pull_request: bool = False, comment_id: int = 492700400) -> dict[str, Any]:
    issue: dict[str, Any] = {"number": 7, "labels": [{"name": n} for n in labels]}
    if pull_request:
        issue["pull_request"] = {"url": "https://api.github.com/repos/o/r/pulls/7"}
    return {
        "action": "created",
        "issue": issue,
        "comment": {"id": comment_id, "body": body, "user": {"login": "octocat", "type": user_type}},
    }


def jobs_run(name: str, event_name: str, event: dict[str, Any], variables: dict[str, str] | None = None) -> set[str]:
    """The jobs of workflow `name` that GitHub would run for this event (trigger, then each job's `if:`)."""
    document = workflow(name)
    trigger = document["on"].get(event_name, "absent")
    if trigger == "absent" or not _trigger_matches(event_name, trigger or {}, event):
        return set()
    context = contexts(event_name, event, variables)
    return {job_id for job_id, job in document["jobs"].items() if truthy(evaluate(job.get("if", "true"), context))}


def _trigger_matches(event_name: str, trigger: dict[str, Any], event: dict[str, Any]) -> bool:
    types = trigger.get("types")
    return types is None or event.get("action") in types


def contexts(event_name: str, event: dict[str, Any], variables: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "github": {"event_name": event_name, "event": event, "run_id": "1001"},
        "vars": variables or {},
        "inputs": event.get("inputs", {}),
    }


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (issue_event("opened"), {"start"}),
        (issue_event("labeled", added="mlops:train"), {"start"}),
        (issue_event("edited"), {"start"}),
        (issue_event("labeled", labels=("mlops:train", "mlops:running"), added="mlops:running"), set()),
        (issue_event("labeled", labels=("bug",), added="bug"), set()),
        (issue_event("opened", labels=()), set()),
        (issue_event("closed"), set()),
        (issue_event("unlabeled", labels=()), set()),
    ],
    ids=["opened", "labeled-train", "edited", "our-own-label", "other-label", "no-label", "closed", "unlabeled"],
)
def test_a_training_request_starts_only_for_issues_carrying_the_trigger_label(event: dict, expected: set) -> None:
    assert jobs_run("mlops-train.yml", "issues", event) == expected


def test_with_the_aws_backend_the_request_runs_in_the_job_that_may_request_an_oidc_token() -> None:
    assert jobs_run("mlops-train.yml", "issues", issue_event("opened"), {"MLOPS_BACKEND": "aws"}) == {"start-aws"}
    assert jobs_run("mlops-train.yml", "issues", issue_event("opened"), {"MLOPS_BACKEND": "local"}) == {"start"}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (comment_event("/mlops retrain n_estimators=300"), {"comment"}),
        (comment_event("/mlops status"), {"comment"}),
        (comment_event("/MLOPS help"), {"comment"}),  # GitHub's contains() ignores case, as the parser does
        (comment_event("Looks good to me"), set()),
        # The parser reads the first line starting with /mlops anywhere in the comment: the job must run for it.
        (comment_event("Thanks, the metrics look fine.\n\n/mlops approve"), {"comment"}),
        # Mid-line it is no command: the job runs, and the action ignores it (tests/github/action/test_comment.py)
        (comment_event("please run /mlops retrain"), {"comment"}),
        (comment_event("/mlops status", user_type="Bot"), set()),
        (comment_event("/mlops approve", pull_request=True), set()),
        (comment_event("/mlops status", labels=("bug",)), set()),
    ],
    ids=[
        "retrain", "status", "any-case", "plain", "after-text", "mid-line", "bot", "pull-request",
        "not-a-training-issue",
    ],
)
def test_a_comment_is_answered_only_when_it_is_an_mlops_command_by_a_person_on_a_training_issue(
    event: dict, expected: set
) -> None:
    assert jobs_run("mlops-callback.yml", "issue_comment", event) == expected


def test_an_edited_comment_is_not_a_new_command() -> None:
    edited = {**comment_event("/mlops abort"), "action": "edited"}
    assert jobs_run("mlops-callback.yml", "issue_comment", edited) == set()


@pytest.mark.parametrize(
    ("variables", "job", "backend"),
    [
        ({}, "record", "local"),
        ({"MLOPS_BACKEND": "local"}, "record", "local"),
        ({"MLOPS_BACKEND": "aws"}, "record-aws", "aws"),
    ],
    ids=["unset", "local", "aws"],
)
def test_the_run_finished_dispatch_records_the_run_with_the_repository_s_backend_and_nothing_else_does(
    variables: dict[str, str], job: str, backend: str
) -> None:
    # GIVEN the dispatch the AWS engine sends, or a person after a local run's failed history commit
    finished = {"action": "mlops-run-finished", "client_payload": {"training_id": "train-20250110-123456-1a2b3c4d"}}
    # THEN one record job runs, with the backend the repository variable names (local when unset)
    assert jobs_run("mlops-callback.yml", "repository_dispatch", finished, variables) == {job}
    step = action_step(workflow("mlops-callback.yml")["jobs"][job])
    assert render(step["with"]["backend"], contexts("repository_dispatch", finished, variables)) == backend
    other = {"action": "on-demand-test", "client_payload": {"unit": False}}
    assert jobs_run("mlops-callback.yml", "repository_dispatch", other, variables) == set()


def test_a_rollback_is_a_workflow_dispatch_with_the_model_a_version_and_a_reason() -> None:
    inputs = workflow("mlops-rollback.yml")["on"]["workflow_dispatch"]["inputs"]
    assert set(workflow("mlops-rollback.yml")["on"]) == {"workflow_dispatch"}
    assert inputs["model_id"]["required"] is True
    assert inputs["reason"]["required"] is True
    assert inputs["version"]["required"] is False and inputs["version"]["default"] == ""
    event = {"inputs": {"model_id": "iris-classifier", "version": "", "reason": "drift"}}
    assert jobs_run("mlops-rollback.yml", "workflow_dispatch", event) == {"rollback"}
    assert jobs_run("mlops-rollback.yml", "workflow_dispatch", event, {"MLOPS_BACKEND": "aws"}) == {"rollback-aws"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mlops-train.yml", {"start": "start", "start-aws": "start"}),
        (
            "mlops-callback.yml",
            {"comment": "comment", "comment-aws": "comment", "record": "record", "record-aws": "record"},
        ),
        ("mlops-rollback.yml", {"rollback": "rollback", "rollback-aws": "rollback"}),
    ],
)
def test_each_job_runs_the_action_in_its_mode_with_the_backend_its_condition_chose(name: str, expected: dict) -> None:
    jobs = workflow(name)["jobs"]
    assert {job_id: action_step(job)["with"]["mode"] for job_id, job in jobs.items()} == expected
    for job_id, job in jobs.items():
        expected_backend = "aws" if job_id.endswith("-aws") else "${{ vars.MLOPS_BACKEND || 'local' }}"
        assert action_step(job)["with"]["backend"] == expected_backend, f"{name} {job_id}"


def test_the_local_jobs_hand_the_backend_variable_to_the_action_which_rejects_a_misspelt_one() -> None:
    """`MLOPS_BACKEND=sagemaker` must not quietly train on the runner: the local job passes it on, unchanged."""
    step = action_step(workflow("mlops-train.yml")["jobs"]["start"])
    context = contexts("issues", issue_event("opened"), {"MLOPS_BACKEND": "sagemaker"})
    assert render(step["with"]["backend"], context) == "sagemaker"
    assert render(step["with"]["backend"], contexts("issues", issue_event("opened"))) == "local"


# ------------------------------------------------------------------ permissions


EXPECTED_PERMISSIONS = {
    "mlops-train.yml": {
        "start": {"contents": "write", "issues": "write"},
        "start-aws": {"contents": "read", "issues": "write", "id-token": "write"},
    },
    "mlops-callback.yml": {
        "comment": {"contents": "write", "issues": "write"},
        "comment-aws": {"contents": "read", "issues": "write", "id-token": "write"},
        "record": {"contents": "write", "issues": "write"},
        "record-aws": {"contents": "write", "issues": "write", "id-token": "write"},
    },
    "mlops-rollback.yml": {
        "rollback": {"contents": "write"},
        "rollback-aws": {"contents": "write", "id-token": "write"},
    },
    "ci.yml": {"test": {"contents": "read"}},
    "mlops-deploy.yml": {"deploy": {"contents": "read", "id-token": "write"}},
}


def test_every_workflow_grants_nothing_at_the_top_and_each_job_only_what_it_uses() -> None:
    documents = all_workflows()
    assert set(documents) == set(EXPECTED_PERMISSIONS)
    for name, document in documents.items():
        assert document["permissions"] == {}, name
        assert {job_id: job["permissions"] for job_id, job in document["jobs"].items()} == EXPECTED_PERMISSIONS[name]


def test_only_jobs_that_run_with_the_aws_backend_may_request_an_oidc_token() -> None:
    for name, document in all_workflows().items():
        for job_id, job in document["jobs"].items():
            if name == "mlops-deploy.yml":
                continue  # the deploy (test_the_deploy_workflow_...) runs no action, it deploys the AWS stacks
            if "id-token" in job["permissions"]:
                backend = action_step(job)["with"]["backend"]
                assert backend == "aws", f"{name} {job_id}"


AWS_INPUTS = {
    "aws-region": "${{ vars.MLOPS_AWS_REGION }}",
    "state-machine-arn": "${{ vars.MLOPS_STATE_MACHINE_ARN }}",
    "bucket": "${{ vars.MLOPS_BUCKET }}",
    "run-table": "${{ vars.MLOPS_RUN_TABLE }}",
    "kms-key-id": "${{ vars.MLOPS_KMS_KEY_ID }}",
}


def test_every_aws_job_assumes_the_role_through_oidc_before_the_action_and_passes_the_stack_s_outputs() -> None:
    aws_jobs = [
        (name, job_id, job)
        for name, document in all_workflows().items()
        for job_id, job in document["jobs"].items()
        if job_id.endswith("-aws")
    ]
    assert len(aws_jobs) == 4
    for name, job_id, job in aws_jobs:
        uses = [step.get("uses", "") for step in job["steps"]]
        credentials = next(s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", ""))
        assert uses.index(credentials["uses"]) == uses.index("./action") - 1, f"{name} {job_id}"
        assert credentials["with"]["role-to-assume"] == "${{ vars.MLOPS_AWS_ROLE_ARN }}"
        assert credentials["with"]["aws-region"] == "${{ vars.MLOPS_AWS_REGION }}"
        assert "aws-access-key-id" not in credentials["with"]  # OIDC only: no stored keys
        with_ = action_step(job)["with"]
        assert {key: with_[key] for key in AWS_INPUTS} == AWS_INPUTS, f"{name} {job_id}"
        # only the rollback writes the history (and so its audit copy) from a job
        assert ("audit-bucket" in with_) == (job_id == "rollback-aws"), f"{name} {job_id}"
        # and only the rollback names the registry's groups (the stack's prefix)
        assert ("model-package-group-prefix" in with_) == (job_id == "rollback-aws"), f"{name} {job_id}"
    rollback = action_step(workflow("mlops-rollback.yml")["jobs"]["rollback-aws"])["with"]
    assert rollback["audit-bucket"] == "${{ vars.MLOPS_AUDIT_BUCKET }}"
    assert rollback["model-package-group-prefix"] == "${{ vars.MLOPS_MODEL_PACKAGE_GROUP_PREFIX }}"


# ------------------------------------------------------------------ concurrency and runners


def group_of(name: str, job_id: str, event_name: str, event: dict[str, Any]) -> str:
    concurrency = workflow(name)["jobs"][job_id]["concurrency"]
    assert concurrency["cancel-in-progress"] is False, "a run that trains must never be cancelled"
    return render(concurrency["group"], contexts(event_name, event))


def test_the_deliveries_of_one_issue_queue_in_one_group_and_other_issues_do_not_wait() -> None:
    opened, labeled = issue_event("opened"), issue_event("labeled", added="mlops:train")
    other = {**opened, "issue": {**opened["issue"], "number": 8}}
    for job in ("start", "start-aws"):
        assert group_of("mlops-train.yml", job, "issues", opened) == group_of("mlops-train.yml", job, "issues", labeled)
        assert group_of("mlops-train.yml", job, "issues", opened) != group_of("mlops-train.yml", job, "issues", other)


def test_no_operator_command_can_be_cancelled_by_a_later_one_while_it_waits() -> None:
    """GitHub keeps one pending run per group and cancels the older: two comments never share a group."""
    first, second = comment_event("/mlops abort", comment_id=1), comment_event("/mlops retrain x=1", comment_id=2)
    for job in ("comment", "comment-aws"):
        groups = [group_of("mlops-callback.yml", job, "issue_comment", e) for e in (first, second)]
        assert groups[0] != groups[1]
        assert all("issue-7-" in group for group in groups)  # the issue is in the name, for the Actions tab


def test_a_redelivered_dispatch_waits_for_the_record_of_the_same_run() -> None:
    finished = {"action": "mlops-run-finished", "client_payload": {"training_id": "train-1"}}
    other = {"action": "mlops-run-finished", "client_payload": {"training_id": "train-2"}}
    for job in ("record", "record-aws"):
        assert group_of("mlops-callback.yml", job, "repository_dispatch", finished) == "mlops-record-train-1"
        assert group_of("mlops-callback.yml", job, "repository_dispatch", other) == "mlops-record-train-2"


def test_rollbacks_of_one_model_run_one_at_a_time() -> None:
    event = {"inputs": {"model_id": "iris-classifier", "version": "", "reason": "drift"}}
    for job in ("rollback", "rollback-aws"):
        assert group_of("mlops-rollback.yml", job, "workflow_dispatch", event) == "mlops-rollback-iris-classifier"


def test_the_repository_variable_chooses_the_runner_and_self_hosted_is_the_default() -> None:
    for name, document in all_workflows().items():
        for job_id, job in document["jobs"].items():
            if name in ("ci.yml", "mlops-deploy.yml"):  # no state of their own: GitHub's runners will do
                assert job["runs-on"] == "ubuntu-latest"
                continue
            assert job["runs-on"] == RUNNER, f"{name} {job_id}"
    assert render(RUNNER, contexts("issues", {})) == "self-hosted"
    assert render(RUNNER, contexts("issues", {}, {"MLOPS_RUNNER": "gpu-box"})) == "gpu-box"


def test_the_project_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command = 'pip install -e ".[dev]" && python -m pytest'
    assert command in readme
    runs = [step.get("run", "") for step in workflow("ci.yml")["jobs"]["test"]["steps"]]
    assert command in runs


# ------------------------------------------------------------------ pins and scripts


def uses_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if "uses:" in line]


def test_every_third_party_action_is_pinned_to_a_commit_with_its_version_alongside() -> None:
    pins: dict[str, set[str]] = {}
    for path in [*sorted(WORKFLOWS.glob("*.yml")), ACTION]:
        for line in uses_lines(path):
            match = re.fullmatch(r"-?\s*uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<version>\S+))?", line)
            assert match, f"{path.name}: unexpected uses line {line!r}"
            if match["ref"].startswith("./"):
                continue
            action, _, sha = match["ref"].partition("@")
            assert FULL_SHA.fullmatch(sha), f"{path.name}: {action} is not pinned to a full commit SHA"
            assert match["version"] and re.fullmatch(r"v\d+\.\d+\.\d+", match["version"]), line
            pins.setdefault(action, set()).add(line.partition("@")[2])
    assert set(pins) == {"actions/checkout", "actions/setup-python", "aws-actions/configure-aws-credentials"}
    assert all(len(lines) == 1 for lines in pins.values()), f"one pin per action everywhere: {pins}"


def run_scripts(document: dict[str, Any]) -> list[str]:
    steps = [step for job in document.get("jobs", {}).values() for step in job.get("steps", [])]
    steps += document.get("runs", {}).get("steps", [])
    return [step["run"] for step in steps if "run" in step]


def test_no_shell_script_contains_an_expression_values_come_through_the_environment() -> None:
    documents = [*all_workflows().values(), load(ACTION)]
    scripts = [script for document in documents for script in run_scripts(document)]
    assert len(scripts) >= 4  # the CI's command and the action's three steps
    assert not [script for script in scripts if "${{" in script]


def test_the_action_passes_every_input_to_its_scripts_through_env() -> None:
    action = load(ACTION)
    steps = {step.get("name"): step for step in action["runs"]["steps"]}
    run = steps["Run python -m mlops.action"]
    assert run["env"] == {
        "MODE": "${{ inputs.mode }}",
        "GITHUB_TOKEN": "${{ inputs.github-token }}",
        "MLOPS_BACKEND": "${{ inputs.backend }}",
        "MLOPS_HOME": "${{ inputs.mlops-home }}",
        "MLOPS_STATE_MACHINE_ARN": "${{ inputs.state-machine-arn }}",
        "MLOPS_BUCKET": "${{ inputs.bucket }}",
        "MLOPS_RUN_TABLE": "${{ inputs.run-table }}",
        "MLOPS_KMS_KEY_ID": "${{ inputs.kms-key-id }}",
        "MLOPS_AUDIT_BUCKET": "${{ inputs.audit-bucket }}",
        "MLOPS_MODEL_PACKAGE_GROUP_PREFIX": "${{ inputs.model-package-group-prefix }}",
        "MLOPS_AWS_REGION": "${{ inputs.aws-region }}",
    }
    assert 'python" -m mlops.action "$MODE"' in run["run"]
    # an empty aws-region input must not blank the AWS_REGION configure-aws-credentials exported
    assert 'if [ -n "$MLOPS_AWS_REGION" ]; then export AWS_REGION="$MLOPS_AWS_REGION"; fi' in run["run"]
    assert '"${MLOPS_HOME:-$HOME/.mlops}"' in run["run"]  # empty: a home that outlasts the job


def test_the_action_declares_the_contract_s_inputs_and_maps_its_outputs_from_the_python_step() -> None:
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) == {"mode", "github-token", "backend", "mlops-home", "state-machine-arn",
                                     "python-version", "aws-region", "bucket", "run-table", "kms-key-id",
                                     "audit-bucket", "model-package-group-prefix"}
    assert action["inputs"]["mode"]["required"] is True
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"
    assert action["inputs"]["backend"]["default"] == "local"
    assert action["inputs"]["python-version"]["default"] == "3.11"
    outputs = {"training-id", "status", "model-id", "model-version", "execution-arn"}
    assert {name: spec["value"] for name, spec in action["outputs"].items()} == {
        name: f"${{{{ steps.run.outputs.{name} }}}}" for name in outputs
    }


def test_the_action_describes_the_training_id_as_the_engine_makes_it() -> None:
    from mlops.pipeline.models import new_training_id

    description = load(ACTION)["outputs"]["training-id"]["description"]
    (shape,) = re.findall(r"train-[A-Za-z-]+", description)
    pattern = shape.replace("YYYYMMDD", r"\d{8}").replace("HHMMSS", r"\d{6}").replace("x", "[0-9a-f]")
    assert re.fullmatch(pattern, new_training_id()), (shape, new_training_id())


def test_the_action_installs_the_training_extra_only_for_the_local_backend() -> None:
    install = next(s for s in load(ACTION)["runs"]["steps"] if s.get("name") == "Install mlops-issueops")
    assert install["env"] == {"MLOPS_BACKEND": "${{ inputs.backend }}"}
    assert 'if [ "$MLOPS_BACKEND" = local ]; then package="$package[train]"; fi' in install["run"]
    setup = next(s for s in load(ACTION)["runs"]["steps"] if "setup-python" in s.get("uses", ""))
    assert setup["with"]["cache"] == "pip"
    assert setup["with"]["cache-dependency-path"] == ".mlops-action/pyproject.toml"


# ------------------------------------------------------------------ GitHub's expression language, in small


class Filtered(list[Any]):
    """The result of a `.*` filter: property access maps over the elements."""


def evaluate(expression: str, context: dict[str, Any]) -> Any:
    text = expression.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    return _Parser(text, context).parse()


def render(template: str, context: dict[str, Any]) -> str:
    """A string with `${{ }}` parts, as GitHub renders it (`runs-on:`, `concurrency.group`, `with:` values)."""
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: as_string(evaluate(m[1], context)), template)


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, "") and not (isinstance(value, float) and math.isnan(value))


def as_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def as_number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool | int | float):
        return float(value)
    try:
        return float(value.strip() or 0) if isinstance(value, str) else math.nan
    except ValueError:
        return math.nan


def equal(left: Any, right: Any) -> bool:
    """GitHub's `==`: strings compare ignoring case; values of different types compare as numbers."""
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if type(left) is type(right):
        return bool(left == right)
    return as_number(left) == as_number(right)


FUNCTIONS = {
    "contains": lambda haystack, needle: (
        any(equal(item, needle) for item in haystack)
        if isinstance(haystack, list)
        else as_string(needle).casefold() in as_string(haystack).casefold()
    ),
    "startswith": lambda text, prefix: as_string(text).casefold().startswith(as_string(prefix).casefold()),
}
TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<string>'(?:[^']|'')*')|(?P<op>&&|\|\||==|!=|[!().,*\[\]])"
                   r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))")


class _Parser:
    def __init__(self, text: str, context: dict[str, Any]) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while text[position:].strip():
            match = TOKEN.match(text, position)
            assert match, f"cannot read the expression at {text[position:]!r}"
            kind = match.lastgroup or ""
            self.tokens.append((kind, match[kind]))
            position = match.end()
        self.context, self.position = context, 0

    def parse(self) -> Any:
        value = self._or()
        assert self.position == len(self.tokens), f"unexpected {self.tokens[self.position:]}"
        return value

    def _peek(self, *values: str) -> bool:
        return self.position < len(self.tokens) and self.tokens[self.position][1] in values

    def _take(self) -> tuple[str, str]:
        self.position += 1
        return self.tokens[self.position - 1]

    def _or(self) -> Any:
        value = self._and()
        while self._peek("||"):
            self._take()
            right = self._and()
            value = value if truthy(value) else right
        return value

    def _and(self) -> Any:
        value = self._not()
        while self._peek("&&"):
            self._take()
            right = self._not()
            value = right if truthy(value) else value
        return value

    def _not(self) -> Any:
        if self._peek("!"):
            self._take()
            return not truthy(self._not())
        left = self._primary()
        if self._peek("==", "!="):
            negate = self._take()[1] == "!="
            return equal(left, self._primary()) != negate
        return left

    def _primary(self) -> Any:
        kind, text = self._take()
        if text == "(":
            value = self._or()
            assert self._take()[1] == ")"
            return value
        if kind == "number":
            return float(text)
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if self._peek("("):
            return self._call(text)
        return self._properties(self.context.get(text))

    def _call(self, name: str) -> Any:
        self._take()
        arguments = [self._or()]
        while self._peek(","):
            self._take()
            arguments.append(self._or())
        assert self._take()[1] == ")"
        return FUNCTIONS[name.lower()](*arguments)

    def _properties(self, value: Any) -> Any:
        while self._peek(".", "["):
            if self._take()[1] == "[":
                key = self._or()
                assert self._take()[1] == "]"
            else:
                key = self._take()[1]
            value = _property(value, key)
        return value


def _property(value: Any, key: str) -> Any:
    if key == "*":
        return Filtered(value.values() if isinstance(value, dict) else value or [])
    if isinstance(value, Filtered):
        return Filtered(item.get(key) for item in value if isinstance(item, dict) and key in item)
    return value.get(key) if isinstance(value, dict) else None


def test_the_evaluator_follows_github_s_rules_for_the_expressions_these_workflows_use() -> None:
    """The evaluator's own check, on GitHub's documented examples, so the tests above rest on something."""
    context = {"github": {"event": {"issue": {"labels": [{"name": "bug"}, {"name": "Mlops:Train"}]}}}, "vars": {}}
    assert evaluate("contains(github.event.issue.labels.*.name, 'mlops:train')", context) is True
    assert evaluate("contains(github.event.issue.labels.*.name, 'mlops:running')", context) is False
    assert evaluate("startsWith('Hello world', 'he')", context) is True
    assert evaluate("vars.MISSING || 'fallback'", context) == "fallback"
    assert evaluate("vars.MISSING != 'aws' && !github.event.issue.pull_request", context) is True
    assert evaluate("'abc' == 'ABC' && 1 == '1' && null == 0 && !('a' == 'b')", context) is True
    assert render("group-${{ github.event.issue.missing || 'none' }}", context) == "group-none"


# ------------------------------------------------------------------ the deploy workflow


def test_the_deploy_workflow_assumes_the_deploy_role_through_oidc_and_runs_the_deploy_command() -> None:
    document = workflow("mlops-deploy.yml")
    assert set(document["on"]) == {"workflow_dispatch"}
    assert set(document["on"]["workflow_dispatch"]["inputs"]) == {"stack", "region"}
    job = document["jobs"]["deploy"]
    assert job["environment"] == "mlops-deploy"  # the deploy role trusts this environment's subject only
    uses = [step.get("uses", "") for step in job["steps"]]
    credentials = next(s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    assert credentials["with"] == {"role-to-assume": "${{ vars.MLOPS_AWS_DEPLOY_ROLE_ARN }}",
                                   "aws-region": "${{ inputs.region }}"}  # OIDC only: no stored keys
    deploy = job["steps"][-1]
    assert uses.index(credentials["uses"]) == len(uses) - 2
    assert 'mlops aws deploy "$@"' in deploy["run"] and '--stack "$STACK"' in deploy["run"]
    assert deploy["env"]["STACK"] == "${{ inputs.stack }}"
    assert render(job["concurrency"]["group"], contexts("workflow_dispatch", {
        "inputs": {"stack": "mlops", "region": "eu-west-1"}})) == "mlops-deploy-mlops-eu-west-1"
