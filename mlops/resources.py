"""What a training job runs on, as a request may ask for it (the optional `resources:` mapping), and the rules
every value must follow. Engine-neutral: the request validator (which runs in the GitHub Action) and the AWS
backend share these rules; only the AWS engine acts on most of them (the local engine honours
`max_runtime_seconds` alone)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from mlops.scalars import clip, shown
from mlops.suggest import did_you_mean

INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")  # e.g. ml.m5.large, ml.g4dn.xlarge
MAX_INSTANCE_COUNT = 100  # a guard against typos; the account's service quota is the real limit
MAX_VOLUME_GB = 16384  # SageMaker's largest ML storage volume
MAX_RUNTIME_SECONDS = 28 * 24 * 3600  # SageMaker's longest MaxRuntimeInSeconds
MAX_WARM_POOL_SECONDS = 3600  # SageMaker's longest KeepAlivePeriodInSeconds


class ResourceRequest(BaseModel):
    """The resources a request asks for; what it leaves out, the deployment's settings decide."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    instance_type: str | None = None
    instance_count: int | None = None
    volume_gb: int | None = None
    max_runtime_seconds: int | None = None
    spot: bool | None = None  # managed spot training: cheaper, may be interrupted (resumes from checkpoints)
    max_wait_seconds: int | None = None  # spot only: runtime plus time waiting for capacity
    warm_pool_seconds: int | None = None  # keep the instance for the next job (not with spot)


RESOURCE_FIELDS = tuple(ResourceRequest.model_fields)
_RANGES = {
    "instance_count": (1, MAX_INSTANCE_COUNT),
    "volume_gb": (1, MAX_VOLUME_GB),
    "max_runtime_seconds": (1, MAX_RUNTIME_SECONDS),
    "max_wait_seconds": (1, MAX_RUNTIME_SECONDS),
    "warm_pool_seconds": (0, MAX_WARM_POOL_SECONDS),
}


def resource_problems(raw: Mapping[Any, Any]) -> list[str]:
    """Every problem with a `resources` mapping, each as `<field>: <what is wrong>` (the caller adds its prefix)."""
    unknown = [f"{clip(str(key))}: not a training resource{did_you_mean(str(key), RESOURCE_FIELDS)}"
               for key in raw if key not in RESOURCE_FIELDS]
    values = {key: value for key, value in raw.items() if key in RESOURCE_FIELDS and value is not None}
    problems = [problem for key, value in values.items() if (problem := _value_problem(key, value))]
    broken = {problem.split(":", 1)[0] for problem in problems}
    return unknown + problems + _combination_problems({k: v for k, v in values.items() if k not in broken})


def _value_problem(key: str, value: Any) -> str | None:
    if key == "instance_type":
        ok = isinstance(value, str) and INSTANCE_TYPE.match(value)
        return None if ok else f"{key}: {shown(value)} is not a SageMaker instance type such as ml.m5.large"
    if key == "spot":
        return None if isinstance(value, bool) else f"{key}: must be true or false (got {shown(value)})"
    low, high = _RANGES[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"{key}: must be a whole number from {low} to {high} (got {shown(value)})"
    return None


def _combination_problems(values: Mapping[str, Any]) -> list[str]:
    spot, problems = values.get("spot", False), []
    if spot and values.get("warm_pool_seconds"):
        problems.append("warm_pool_seconds: warm pools do not work with spot; remove one of them")
    if not spot and "max_wait_seconds" in values:
        problems.append("max_wait_seconds: only applies with 'spot: true'")
    runtime, wait = values.get("max_runtime_seconds"), values.get("max_wait_seconds")
    if spot and runtime is not None and wait is not None and wait < runtime:
        problems.append(f"max_wait_seconds: with spot, at least max_runtime_seconds ({runtime})")
    return problems
