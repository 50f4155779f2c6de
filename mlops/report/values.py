"""How metric values, thresholds, hyperparameters, times and durations are written in a report."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from mlops.metric_specs import METRICS
from mlops.report.markdown import escape


def format_value(value: Any) -> str:
    """A metric value: four decimals (as in the specification's `0.87`, one digit more), small ones in g."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return escape(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.4g}"


def format_threshold(value: float) -> str:
    return f"{value:g}"


def format_param(value: Any) -> str:
    """A hyperparameter as the user would write it in the request's YAML (null, true, 0.1, sqrt)."""
    return escape(value) if isinstance(value, str) else escape(json.dumps(value, default=str))


def format_time(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60:02d}m"


def metric_label(name: str) -> str:
    spec = METRICS.get(name)
    return spec.label if spec else escape(name)


def ordered_metrics(metrics: Mapping[str, float]) -> list[str]:
    """The catalog's order (accuracy, precision, recall, F1, ...) first, anything else after, by name."""
    known = [name for name in METRICS if name in metrics]
    return known + sorted(name for name in metrics if name not in METRICS)
