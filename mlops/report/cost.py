"""The report's cost section: only for a run whose training ran as a SageMaker job (the local engine bills nothing,
and its reports stay as they were). The estimate is mlops.cost's, with the price table's date and region."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops.cost import DEFAULT_REGION, Assumptions, Estimate, Usage, estimate, price_table, ran_on_sagemaker, usage_of
from mlops.pipeline.models import RunState
from mlops.report.markdown import escape, item, section
from mlops.report.strings import strings_for


def cost_sections(run: RunState, lang: str, extra: Mapping[str, Any]) -> list[str]:
    """The section, or nothing for a run SageMaker did not train. `extra["region"]` names the run's region
    (else DEFAULT_REGION, which the line then names)."""
    if not ran_on_sagemaker(run):
        return []
    t, region = strings_for(lang), extra.get("region")
    region = region if isinstance(region, str) and region else DEFAULT_REGION
    if region not in price_table().regions:
        return [section(t["h.cost"], [t["cost.no_prices"].format(region=escape(region))])]
    assume, usage = Assumptions(), usage_of(run)
    priced = estimate(usage, region)
    lines = [item(t["cost.estimated"], _estimate_text(priced, t)), item(t["cost.basis"], _basis_text(usage, assume, t))]
    if priced.missing:
        lines.append("- " + t["cost.missing"].format(names=", ".join(escape(name) for name in priced.missing)))
    return [section(t["h.cost"], lines)]


def _estimate_text(priced: Estimate, t: dict[str, str]) -> str:
    return t["cost.breakdown"].format(
        total=("≥ " if priced.missing else "") + usd(priced.total),
        sagemaker=usd(priced.sagemaker),
        step_functions=usd(priced.step_functions),
        aws_lambda=usd(priced.aws_lambda),
        storage=usd(priced.storage),
        date=priced.prices_read_on,
        region=escape(priced.region),
    )


def _basis_text(usage: Usage, assume: Assumptions, t: dict[str, str]) -> str:
    instances = ", ".join(sorted({f"{job.instance_count} × {escape(job.instance_type)}" for job in usage.training}))
    return t["cost.counted"].format(
        transitions=usage.transitions,
        invocations=usage.lambda_invocations,
        seconds=f"{usage.billable_seconds:,.0f}",
        jobs=_jobs_text(usage, t),
        instances=instances,
        memory=assume.lambda_memory_mb,
        duration=f"{assume.lambda_seconds:g}",
    ) + ("" if all(job.recorded for job in usage.training) else t["cost.earlier"])


def _jobs_text(usage: Usage, t: dict[str, str]) -> str:
    """Which jobs the seconds are: training, and the verification job when the run got that far."""
    verification = usage.verification_seconds
    text = t["cost.training_seconds"].format(seconds=f"{usage.billable_seconds - verification:,.0f}")
    if any(job.verification for job in usage.training):
        text += t["cost.verification_seconds"].format(seconds=f"{verification:,.0f}")
    return text


def usd(amount: float) -> str:
    """Dollars with enough digits for a run's cents and fractions of them."""
    if amount == 0:
        return "$0"
    if amount < 0.00005:
        return "<$0.0001"
    return f"${amount:,.4f}" if amount < 1 else f"${amount:,.2f}"
