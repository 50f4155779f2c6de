"""The training request: what a data scientist writes in an issue, validated strictly.

`validate_request` collects EVERY problem before failing, so the author gets one reply listing all of them, each
as `<field>: <what is wrong and how to fix it>`, quoting at most about 80 characters of what was written. Given
the datasets that exist where the request is read, an unknown dataset is one of those problems too. Nothing
here imports scikit-learn: it runs in the GitHub Action.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from hashlib import sha256
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlops.data import DATASET_ID_RULE, is_dataset_id
from mlops.errors import InvalidRequest
from mlops.learners.catalog import ALGORITHMS, TASKS_BY_LEARNING_TYPE, AlgorithmSpec, Param, algorithms_for
from mlops.metric_specs import DEFAULT_METRIC, METRICS, metrics_for
from mlops.resources import ResourceRequest, resource_problems
from mlops.scalars import clip, hint, shown
from mlops.suggest import did_you_mean

MODEL_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")  # valid as a SageMaker model package group
VERSION = re.compile(r"^v?(\d{1,6})\.(\d{1,6})\.(\d{1,6})$")  # the one definition of a semantic version
TITLE_PREFIX = re.compile(r"^\s*\[MLOps\]\s*(?:モデル学習リクエスト|model training request)?\s*[:：]?\s*", re.I)


class Datasets(Protocol):
    """The datasets that exist where a request is read (the local store; later the S3 bucket)."""

    def problem(self, dataset_id: str) -> str | None:
        """Why a well-formed `dataset_id` cannot be used here (it does not exist, say), or None."""
        ...

    def task(self, dataset_id: str) -> str | None:
        """The task the dataset says it is for, or None when it does not say."""
        ...


class TuningSpec(BaseModel):
    """Room for hyperparameter tuning (FR-007); the engines reject it until a later release implements it."""

    model_config = ConfigDict(extra="allow")
    strategy: Literal["grid", "random", "bayesian"] = "bayesian"


class TrainingRequest(BaseModel):
    """A validated request. `task` and `evaluation_metric` may be None until the dataset tells the task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    learning_type: Literal["supervised", "unsupervised", "reinforcement"]
    algorithm: str
    dataset_id: str | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    evaluation_threshold: float = Field(strict=True)  # strict: `true` is not a threshold
    max_retry: int = Field(3, ge=0, le=10, strict=True)
    model_id: str | None = None
    task: str | None = None
    evaluation_metric: str | None = None
    environment: str | None = None
    version: str | None = None
    report_lang: Literal["ja", "en"] | None = None
    tuning: TuningSpec | None = None
    resources: ResourceRequest | None = None  # what the job runs on (AWS); unset: the deployment's settings

    @property
    def spec(self) -> AlgorithmSpec:
        return ALGORITHMS[self.algorithm]

    @property
    def metric(self) -> str | None:
        """The gate's metric: the one asked for, else the task's default."""
        return self.evaluation_metric or (DEFAULT_METRIC[self.task] if self.task else None)

    def effective_hyperparameters(self) -> dict[str, Any]:
        return {**self.spec.default_params(), **self.hyperparameters}

    def with_task(self, task: str) -> TrainingRequest:
        """This request with its task settled (from the dataset), re-validated."""
        return validate_request({**self.model_dump(exclude_none=True), "task": task})

    def with_overrides(self, overrides: Mapping[str, Any]) -> TrainingRequest:
        """This request with an operator's `key=value` overrides merged in, validated like a new request.
        Every problem is reported at once: the unknown keys and what is wrong with the others."""
        merged, problems = merge_overrides(self, overrides)
        try:
            request = validate_request(merged)
        except InvalidRequest as exc:
            problems += exc.problems
        if problems:
            raise InvalidRequest("the retrain command has problems", problems)
        return request


FIELDS = tuple(TrainingRequest.model_fields)
# Fields an operator may change on a paused run; the rest define which run it is.
OVERRIDABLE = ("algorithm", "evaluation_threshold", "evaluation_metric", "environment", "task")


def validate_request(raw: Any, title: str | None = None, datasets: Datasets | None = None) -> TrainingRequest:
    """Validate a raw request mapping (from an issue body or YAML) into a TrainingRequest, or InvalidRequest.

    With `datasets`, the dataset must exist, and when the request leaves the task open for an algorithm that
    does several, the dataset's own task settles it, so the metric and threshold are checked against it now."""
    if not isinstance(raw, Mapping):
        raise InvalidRequest("request: expected a mapping of fields such as 'algorithm: random_forest'")
    problems = _unknown_keys(raw)
    fields = {k: v for k, v in raw.items() if k in FIELDS}
    problems += _resources_problems(fields)
    if title and not fields.get("model_id"):
        fields["model_id"] = model_id_from_title(title)
    fields = _with_dataset_task(fields, datasets)
    request = _typed(fields, problems)
    broken = {_field_of(problem) for problem in problems}
    semantic = _semantic_problems(request or _partial(fields, broken), datasets)
    problems += [problem for problem in semantic if _field_of(problem) not in broken]  # each field said once
    if problems or request is None:
        raise InvalidRequest(f"the request has {len(problems)} problem(s)", problems)
    return _complete(request)


def _with_dataset_task(fields: dict[str, Any], datasets: Datasets | None) -> dict[str, Any]:
    """The fields with the task the dataset describes, when the request leaves it open between several."""
    algorithm, dataset_id = fields.get("algorithm"), fields.get("dataset_id")
    spec = ALGORITHMS.get(algorithm) if isinstance(algorithm, str) else None
    if datasets is None or spec is None or len(spec.tasks) < 2 or fields.get("task") is not None:
        return fields
    if not is_dataset_id(dataset_id) or datasets.problem(dataset_id) is not None:
        return fields
    task = datasets.task(dataset_id)
    return {**fields, "task": task} if task else fields


def model_id_from_title(title: str) -> str | None:
    """`[MLOps] モデル学習リクエスト: Iris Classifier` -> `iris-classifier` (ASCII, SageMaker-safe)."""
    name = TITLE_PREFIX.sub("", title).strip()
    if not name:
        return None
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:63].strip("-")
    # A name with no ASCII letters (e.g. all Japanese) still needs a stable id.
    return slug or "model-" + sha256(name.encode()).hexdigest()[:10]


def merge_overrides(request: TrainingRequest, overrides: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Apply `key=value` overrides (a bare key names a hyperparameter or an overridable field): the merged raw
    request, and the keys that could not be applied."""
    merged = request.model_dump(exclude_none=True)
    merged["hyperparameters"] = dict(request.hyperparameters)
    algorithm = ALGORITHMS.get(str(overrides.get("algorithm", request.algorithm)), request.spec)
    if "algorithm" in overrides and overrides["algorithm"] != request.algorithm:
        merged["hyperparameters"] = {}  # another algorithm's parameters would not apply
    problems = [p for key, value in overrides.items() if (p := _apply_override(merged, key, value, algorithm))]
    return merged, problems


def _apply_override(merged: dict[str, Any], key: str, value: Any, spec: AlgorithmSpec) -> str | None:
    name = key.removeprefix("hyperparameters.")
    if key == "hyperparameters":
        return "hyperparameters: set them one at a time, e.g. /mlops retrain n_estimators=300 max_depth=12"
    if name in spec.params and (key != name or name not in OVERRIDABLE):
        merged["hyperparameters"][name] = value
    elif key in OVERRIDABLE:
        merged[key] = value
    elif key in FIELDS:
        return f"{key}: cannot be changed on a paused run (file a new request instead)"
    else:
        return f"{key}: not a hyperparameter of {spec.name} nor a field that can be changed" + did_you_mean(
            key, [*spec.params, *OVERRIDABLE]
        )
    return None


def _resources_problems(fields: dict[str, Any]) -> list[str]:
    """Problems with the optional `resources` mapping; a broken one is left out so it is reported only once."""
    raw = fields.get("resources")
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        problems = [f"resources: expected a mapping such as 'instance_type: ml.m5.xlarge' (got {shown(raw)})"]
    else:
        problems = [f"resources.{problem}" for problem in resource_problems(raw)]
    if problems:
        del fields["resources"]
    return problems


def _unknown_keys(raw: Mapping[Any, Any]) -> list[str]:
    return [f"{clip(str(key))}: unknown field{did_you_mean(str(key), FIELDS)}" for key in raw if key not in FIELDS]


def _typed(fields: dict[str, Any], problems: list[str]) -> TrainingRequest | None:
    try:
        return TrainingRequest.model_validate(fields)
    except ValidationError as exc:
        problems.extend(filter(None, map(_describe_pydantic_error, exc.errors())))
        return None


def _field_of(problem: str) -> str:
    """The top-level field a problem line is about: `hyperparameters.max_depth: ...` -> hyperparameters."""
    return problem.split(":", 1)[0].split(".", 1)[0]


def _partial(fields: dict[str, Any], broken: set[str]) -> TrainingRequest:
    """The fields that did validate, so the semantic checks can still report on them in the same reply."""
    good = {k: v for k, v in fields.items() if k not in broken}
    defaults = {name: None for name, info in TrainingRequest.model_fields.items() if info.is_required()}
    return TrainingRequest.model_construct(**{**defaults, **good})


def _describe_pydantic_error(err: Mapping[str, Any]) -> str:
    field = ".".join(str(part) for part in err["loc"]) or "request"
    if err["type"] == "missing" and field == "learning_type":
        return ""  # reported by _learning_type_problems, which can say which type the algorithm needs
    if err["type"] == "missing":
        return f"{field}: required field is missing; add '{field}: ...'"
    value = err.get("input")
    text_wanted = err["type"] == "string_type" and isinstance(value, (int, float))
    advice = "; put it in quotes to keep it as text" if text_wanted else hint(value)
    return f"{field}: {err['msg']} (got {shown(value)}){advice}"


def _semantic_problems(req: TrainingRequest, datasets: Datasets | None) -> list[str]:
    if req.algorithm is None:
        missing = "learning_type: required field is missing; add 'learning_type: supervised' (or unsupervised, "
        return [missing + "reinforcement)"] if req.learning_type is None else []
    spec = ALGORITHMS.get(req.algorithm)
    if spec is None:  # still report what can be checked without knowing the algorithm
        unknown = f"algorithm: unknown algorithm {shown(req.algorithm)}{did_you_mean(req.algorithm, ALGORITHMS)}"
        return [unknown, *_dataset_problems(req, None, datasets), *_identity_problems(req, None)]
    checks = (
        _learning_type_problems,
        _task_problems,
        _hyperparameter_problems,
        lambda req, spec: _dataset_problems(req, spec, datasets),
        _metric_problems,
        _environment_problems,
        _identity_problems,
    )
    return [problem for check in checks for problem in check(req, spec)]


def _learning_type_problems(req: TrainingRequest, spec: AlgorithmSpec) -> list[str]:
    if req.learning_type is None:
        return [
            f"learning_type: required field is missing; add 'learning_type: {spec.learning_type}' "
            f"({req.algorithm} is {spec.learning_type})"
        ]
    if spec.learning_type == req.learning_type:
        return []
    same_type = ", ".join(algorithms_for(req.learning_type))
    return [
        f"algorithm: '{req.algorithm}' is a {spec.learning_type} algorithm but learning_type is "
        f"'{req.learning_type}'; set learning_type: {spec.learning_type} or pick one of: {same_type}"
    ]


def _task_problems(req: TrainingRequest, spec: AlgorithmSpec) -> list[str]:
    if req.task is None or req.task in spec.tasks:
        return []
    valid = TASKS_BY_LEARNING_TYPE[spec.learning_type]
    if req.task not in valid:
        return [f"task: {shown(req.task)} is not a {spec.learning_type} task{did_you_mean(req.task, valid)}"]
    return [f"task: {req.algorithm} does not do {req.task}; it does {', '.join(spec.tasks)}"]


def _hyperparameter_problems(req: TrainingRequest, spec: AlgorithmSpec) -> list[str]:
    problems = []
    for name, value in req.hyperparameters.items():
        param = spec.params.get(name)
        if param is None:
            problems.append(
                f"hyperparameters.{clip(name)}: not a hyperparameter of {req.algorithm}"
                f"{did_you_mean(name, spec.params)}"
            )
        elif (problem := param_problem(param, value)) is not None:
            problems.append(f"hyperparameters.{name}: {problem}")
    return problems


def param_problem(param: Param, value: Any) -> str | None:
    """Why `value` does not fit `param`, or None when it does."""
    if value is None:
        return None if param.nullable else f"must be {param.describe()}, not null"
    if not _has_kind(param.kind, value):
        return f"must be {param.describe()} (got {shown(value)}){hint(value, boolean=param.kind == 'bool')}"
    if param.choices and value not in param.choices:
        return f"{shown(value)} is not allowed{did_you_mean(str(value), map(str, param.choices))}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number (got {value})"
    low, high = param.minimum, param.maximum
    if param.kind in ("int", "float") and ((low is not None and value < low) or (high is not None and value > high)):
        return f"{value} is out of range; must be {param.describe()}"
    return None


def _has_kind(kind: str, value: Any) -> bool:
    if isinstance(value, bool):
        return kind == "bool"
    expected = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}[kind]
    return isinstance(value, expected)


def _dataset_problems(req: TrainingRequest, spec: AlgorithmSpec | None, datasets: Datasets | None) -> list[str]:
    if req.dataset_id is None:
        needs = (spec.learning_type if spec else req.learning_type) != "reinforcement"
        return ["dataset_id: required field is missing; name a dataset such as 'iris'"] if needs else []
    if not is_dataset_id(req.dataset_id):
        shape = f"use {DATASET_ID_RULE}, e.g. dataset-20250110-001"
        return [f"dataset_id: {shown(req.dataset_id)} is not a dataset id; {shape}"]
    problem = datasets.problem(req.dataset_id) if datasets is not None else None
    return [f"dataset_id: {problem}"] if problem else []


def _metric_problems(req: TrainingRequest, spec: AlgorithmSpec) -> list[str]:
    tasks = (req.task,) if req.task in spec.tasks else spec.tasks  # a wrong task is _task_problems' to report
    allowed = [m for task in tasks for m in metrics_for(task)]
    if req.evaluation_metric is not None and req.evaluation_metric not in allowed:
        return [
            f"evaluation_metric: {shown(req.evaluation_metric)} does not apply to {req.algorithm} "
            f"({'/'.join(tasks)}){did_you_mean(req.evaluation_metric, allowed)}"
        ]
    return _threshold_problems(req, tasks)


def _threshold_problems(req: TrainingRequest, tasks: tuple[str, ...]) -> list[str]:
    value = req.evaluation_threshold
    if value is None:
        return []
    if not math.isfinite(value):
        return [f"evaluation_threshold: must be a finite number (got {value})"]
    # Until the dataset settles the task, a threshold that fits any of the algorithm's tasks is accepted.
    names = [req.evaluation_metric] if req.evaluation_metric else [DEFAULT_METRIC[t] for t in tasks]
    specs = [METRICS[name] for name in names]
    if any(spec.minimum <= value <= spec.maximum for spec in specs):
        return []
    spec = specs[0]
    return [
        f"evaluation_threshold: {value} is outside the range of {spec.name} "
        f"({spec.minimum} to {spec.maximum}); e.g. 0.85 for {spec.name} {spec.comparison} 0.85"
    ]


def _environment_problems(req: TrainingRequest, spec: AlgorithmSpec) -> list[str]:
    if req.environment is None or req.environment in spec.environments:
        return []
    if not spec.environments:
        return [f"environment: only reinforcement learning takes an environment; remove it for {req.algorithm}"]
    return [
        f"environment: {req.algorithm} supports {', '.join(spec.environments)}"
        f"{did_you_mean(req.environment, spec.environments)}"
    ]


def _identity_problems(req: TrainingRequest, spec: AlgorithmSpec | None) -> list[str]:
    problems = []
    if req.model_id is not None and not MODEL_ID.match(req.model_id):
        problems.append(
            f"model_id: {shown(req.model_id)} must be lower-case letters, digits and '-' "
            "(at most 63, starting and ending with a letter or digit), e.g. iris-classifier"
        )
    if req.version is not None and not VERSION.match(req.version):
        problems.append(f"version: {shown(req.version)} is not a semantic version; write it like v1.2.0")
    if req.tuning is not None:
        problems.append("tuning: hyperparameter tuning is not available in this release; remove 'tuning'")
    return problems


def _complete(req: TrainingRequest) -> TrainingRequest:
    """Fill what follows from the rest: the task when the algorithm has only one, the model id."""
    updates: dict[str, Any] = {}
    if req.task is None and len(req.spec.tasks) == 1:
        updates["task"] = req.spec.tasks[0]
    if req.learning_type == "reinforcement" and req.environment is None:
        updates["environment"] = req.spec.environments[0]
    if req.model_id is None:
        source = req.dataset_id or updates.get("environment") or req.environment
        updates["model_id"] = f"{req.algorithm.replace('_', '-')}-{source}"
        updates["model_id"] = re.sub(r"[^a-z0-9-]+", "-", updates["model_id"].lower()).strip("-")[:63]
    return req.model_copy(update=updates) if updates else req
