"""SM_HPS: split the `mlops_` control keys from the algorithm's hyperparameters and decode both.

SageMaker may deliver every hyperparameter as a string ("100", "0.5", "true", "null"), so each value is
decoded by the kind its catalog `Param` declares, then checked against the declared range or choices. Keys
starting with `sagemaker_` are the SageMaker SDK's own and are ignored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops.errors import InvalidRequest
from mlops.learners.catalog import AlgorithmSpec, Param
from mlops.suggest import did_you_mean

CONTROL_PREFIX = "mlops_"
CONTROL_KEYS = (
    "mlops_algorithm",
    "mlops_task",
    "mlops_target",
    "mlops_environment",
    "mlops_metric",
    "mlops_seed",
    "mlops_fail",
    "mlops_rejection",
    "mlops_mode",
)
DEFAULT_TARGET = "target"
DEFAULT_SEED = 42
CRASH = "crash"  # the only value of the mlops_fail test hook
MODE_KEY = "mlops_mode"  # "train" (the default) or "verify"
VERIFY_MODE = "verify"  # reload the model in SM_CHANNEL_MODEL, re-check its holdout, write VERIFICATION
VERIFICATION = "verification.json"  # a verifying job's only output: {"ok": bool, "detail": str}
REJECTION_AS_OUTPUT = "output"  # mlops_rejection: report bad input in rejected.json and exit 0
NULL_WORDS = {"null", "none", ""}
TRUE_WORDS = {"true", "1", "yes"}
FALSE_WORDS = {"false", "0", "no"}


@dataclass(frozen=True)
class Control:
    """The `mlops_` keys: what to train and how, as opposed to the algorithm's own hyperparameters."""

    algorithm: str
    task: str | None = None
    target: str = DEFAULT_TARGET
    environment: str | None = None
    metric: str | None = None
    seed: int = DEFAULT_SEED
    fail: str | None = None  # TEST HOOK ONLY: "crash" makes the entry point exit 1 to simulate a crash
    algorithm_params: dict[str, Any] = field(default_factory=dict)  # still raw: decode with decode_params


def parse_hps(text: str | None) -> dict[str, Any]:
    """The SM_HPS JSON object (an empty dict when unset)."""
    if not text:
        return {}
    try:
        hps = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"SM_HPS: not valid JSON ({exc})") from None
    if not isinstance(hps, dict):
        raise InvalidRequest(f"SM_HPS: expected a JSON object, got {type(hps).__name__}")
    return hps


def split_control(hps: Mapping[str, Any]) -> Control:
    """Separate and decode the control keys; every other key (bar sagemaker_*) is an algorithm parameter."""
    control = {k: v for k, v in hps.items() if k.startswith(CONTROL_PREFIX)}
    unknown = sorted(set(control) - set(CONTROL_KEYS))
    if unknown:
        raise InvalidRequest(f"{unknown[0]}: unknown control key{did_you_mean(unknown[0], CONTROL_KEYS)}")
    algorithm = _optional_text(control.get("mlops_algorithm"))
    if algorithm is None:
        raise InvalidRequest("mlops_algorithm: required (the algorithm to train, e.g. random_forest)")
    return Control(
        algorithm=algorithm,
        task=_optional_text(control.get("mlops_task")),
        target=_optional_text(control.get("mlops_target")) or DEFAULT_TARGET,
        environment=_optional_text(control.get("mlops_environment")),
        metric=_optional_text(control.get("mlops_metric")),
        seed=_seed(control.get("mlops_seed")),
        fail=_fail_hook(control.get("mlops_fail")),
        algorithm_params={k: v for k, v in hps.items() if not k.startswith((CONTROL_PREFIX, "sagemaker_"))},
    )


def _optional_text(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in NULL_WORDS):
        return None
    return str(value).strip()


def _seed(value: Any) -> int:
    if _optional_text(value) is None:
        return DEFAULT_SEED
    return int(decode_value("mlops_seed", value, Param("int", DEFAULT_SEED, 0, 2**32 - 1)))


def _fail_hook(value: Any) -> str | None:
    hook = _optional_text(value)
    if hook not in (None, CRASH):
        raise InvalidRequest(f"mlops_fail: test hook accepts only '{CRASH}', got '{hook}'")
    return hook


def decode_params(spec: AlgorithmSpec, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The user's hyperparameters, decoded to their declared kinds and checked (InvalidRequest otherwise)."""
    unknown = sorted(set(raw) - set(spec.params))
    if unknown:
        hint = did_you_mean(unknown[0], spec.params)
        raise InvalidRequest(f"{unknown[0]}: {spec.name} has no hyperparameter '{unknown[0]}'{hint}")
    return {name: decode_value(name, value, spec.params[name]) for name, value in raw.items()}


def decode_value(name: str, value: Any, param: Param) -> Any:
    """`value` (possibly a string) as the kind `param` declares, within its range or choices."""
    if _is_null(value):
        if param.nullable:
            return None
        raise InvalidRequest(f"{name}: must be {param.describe()}, not null")
    decoded = _DECODERS[param.kind](name, value)
    _check_bounds(name, decoded, param)
    return decoded


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in NULL_WORDS)


def _decode_int(name: str, value: Any) -> int:
    number = _decode_float(name, value)
    if not number.is_integer():
        raise InvalidRequest(f"{name}: must be an integer, got '{value}'")
    return int(number)


def _decode_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise InvalidRequest(f"{name}: must be a number, got {value}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise InvalidRequest(f"{name}: must be a number, got '{value}'") from None
    if not math.isfinite(number):
        raise InvalidRequest(f"{name}: must be a finite number, got '{value}'")
    return number


def _decode_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS | FALSE_WORDS:
        return word in TRUE_WORDS
    raise InvalidRequest(f"{name}: must be true or false, got '{value}'")


def _decode_str(name: str, value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise InvalidRequest(f"{name}: must be a string, got {json.dumps(value)}")
    return str(value).strip()


_DECODERS = {"int": _decode_int, "float": _decode_float, "bool": _decode_bool, "str": _decode_str}


def _check_bounds(name: str, value: Any, param: Param) -> None:
    if param.choices and value not in param.choices:
        raise InvalidRequest(f"{name}: '{value}' is not allowed; must be {param.describe()}")
    too_low = param.minimum is not None and value < param.minimum
    too_high = param.maximum is not None and value > param.maximum
    if param.kind in ("int", "float") and (too_low or too_high):
        raise InvalidRequest(f"{name}: {value} is out of range; must be {param.describe()}")
