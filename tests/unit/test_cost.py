"""The cost estimate: the price table, pricing a run's usage (expected values computed by hand), and what a run
used, read from its document (the states it entered, its training job)."""

from __future__ import annotations

import json
import math
import re
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from mlops.cost import (
    PRICES_FILE,
    TIMEOUT_ACTOR,
    Assumptions,
    PriceTable,
    TrainingUsage,
    Usage,
    estimate,
    failed_state,
    price_table,
    ran_on_sagemaker,
    states_entered,
    usage_of,
)
from mlops.pipeline.flow import FLOW, AwaitOperator, Choice, End, Task, TrainingJob
from mlops.pipeline.models import (
    DataManifest,
    ErrorInfo,
    FileEntry,
    OperatorDecision,
    RunState,
    TrainingOutcome,
)
from tests.unit.test_report import (
    aborted_run,
    awaiting_run,
    base_run,
    exhausted_run,
    passed_run,
    retrained_run,
    rolled_back_run,
    training_failed_run,
)

# Round prices, so every expected value below is arithmetic a reader can redo.
TABLE = PriceTable(
    read_on="2026-12-02",
    regions={
        "test-1": {
            "step_functions_transition": {"usd": 0.000025},
            "lambda_request": {"usd": 0.0000002},
            "lambda_gb_second": {"usd": 0.00001},
            "sagemaker_training_hour": {"ml.m5.large": {"usd": 0.12}, "ml.g4dn.xlarge": {"usd": None}},
            "s3_put_request": {"usd": 0.000005},
            "s3_get_request": {"usd": 0.0000004},
            "dynamodb_write_request_unit": {"usd": 0.000001},
            "dynamodb_read_request_unit": {"usd": 0.0000002},
            "kms_request": {"usd": 0.000003},
        }
    },
)


# --- the price table ---------------------------------------------------------------------------------------


def test_price_table_has_its_date_both_regions_and_a_source_for_every_price() -> None:
    document = json.loads(PRICES_FILE.read_text(encoding="utf-8"))
    assert document["read_on"] == price_table().read_on == "2026-12-02"
    assert document["lambda_architecture"] == "x86_64"
    assert {"us-east-1", "ap-northeast-1"} <= set(document["regions"])
    for region, prices in document["regions"].items():
        for name, entry in _entries(prices):
            where = f"{region} {name}"
            assert entry["status"] in ("published", "secondary", "unconfirmed"), where
            assert entry["source"] and entry["per"], where
            # an unconfirmed price is missing, never a guess; a confirmed one is a positive number
            assert (entry["usd"] is None) == (entry["status"] == "unconfirmed"), where
            assert entry["usd"] is None or entry["usd"] > 0, where


def _entries(prices: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    flat = [(name, entry) for name, entry in prices.items() if name != "sagemaker_training_hour"]
    return flat + [(kind, entry) for kind, entry in prices["sagemaker_training_hour"].items()]


def test_price_table_prices_every_instance_type_the_defaults_and_examples_use() -> None:
    table = price_table()
    for instance_type in ("ml.m5.large", "ml.m5.xlarge", "ml.c5.xlarge", "ml.g4dn.xlarge"):
        assert table.price("us-east-1", "sagemaker_training_hour", instance_type) is not None, instance_type
    assert table.price("us-east-1", "sagemaker_training_hour", "ml.m5.large") == 0.115
    assert table.price("us-east-1", "step_functions_transition") == 0.000025


# --- pricing usage -----------------------------------------------------------------------------------------


def test_one_iris_run_on_ml_m5_large_for_120_billable_seconds_per_job() -> None:
    # the usage of a run that passed first time (test_usage_of_a_run_that_passed_first_time counts it)
    usage = Usage(
        transitions=11,
        lambda_invocations=16,
        lambda_gb_seconds=16.0,
        training=(TrainingUsage("ml.m5.large", 1, 120), TrainingUsage("ml.m5.large", 1, 120, verification=True)),
        s3_put_requests=19,
        s3_get_requests=17,
        dynamodb_write_units=16,
        dynamodb_read_units=6,
        kms_requests=6,
    )
    priced = estimate(usage, "test-1", TABLE)
    # (120 s training + 120 s verification) / 3600 s/h * $0.12/h
    assert priced.sagemaker == pytest.approx(0.008)
    # 11 * $0.000025
    assert priced.step_functions == pytest.approx(0.000275)
    # 16 * $0.0000002 + 16 GB-s * $0.00001
    assert priced.aws_lambda == pytest.approx(0.0000032 + 0.00016)
    # S3 19 * $0.000005 + 17 * $0.0000004; DynamoDB 16 * $0.000001 + 6 * $0.0000002; KMS 6 * $0.000003
    assert priced.storage == pytest.approx(0.000095 + 0.0000068 + 0.000016 + 0.0000012 + 0.000018)
    assert priced.total == pytest.approx(0.008 + 0.000275 + 0.0001632 + 0.000137)
    assert (priced.region, priced.prices_read_on, priced.missing) == ("test-1", "2026-12-02", ())


def test_training_is_billed_per_instance_and_an_hour_costs_the_hourly_price() -> None:
    usage = Usage(training=(TrainingUsage("ml.m5.large", 2, 3600), TrainingUsage("ml.m5.large", 1, 1800)))
    # 2 instances * 1 h * $0.12 + 1 instance * 0.5 h * $0.12
    assert estimate(usage, "test-1", TABLE).sagemaker == pytest.approx(0.24 + 0.06)


def test_a_price_the_table_lacks_is_named_and_counts_nothing() -> None:
    usage = Usage(transitions=4, training=(TrainingUsage("ml.g4dn.xlarge", 1, 600),), s3_put_requests=2)
    priced = estimate(usage, "test-1", TABLE)
    assert priced.sagemaker == 0 and priced.missing == ("SageMaker ml.g4dn.xlarge",)
    assert priced.total == pytest.approx(4 * 0.000025 + 2 * 0.000005)
    unknown_region = estimate(usage, "mars-1", TABLE)
    assert unknown_region.total == 0
    assert unknown_region.missing == ("SageMaker ml.g4dn.xlarge", "Step Functions transitions", "S3 PUT/LIST requests")


def test_tokyo_prices_what_is_confirmed_and_names_the_instance_price_it_lacks() -> None:
    usage = Usage(transitions=11, training=(TrainingUsage("ml.m5.large", 1, 120),))
    priced = estimate(usage, "ap-northeast-1")
    # 11 * $0.000025
    assert priced.step_functions == pytest.approx(0.000275) and priced.missing == ("SageMaker ml.m5.large",)


# --- the states a run entered --------------------------------------------------------------------------------

START = ["PrepareData", "BuildTrainingJob", "Train", "Evaluate", "Gate"]
PASSES = ["Register", "Verify", "RecordVerification", "VerifyChoice", "PublishSucceeded", "Succeeded"]
ASKS = ["AwaitOperator", "ApplyOperatorAnswer", "OperatorChoice"]
FAILS = ["PublishFailed", "Failed"]


def timed_out_run() -> RunState:
    run = aborted_run()
    run.operator = OperatorDecision(action="abort", actor=TIMEOUT_ACTOR, reason="no operator answer")
    return run


def verification_job_failed_run(tries: int = 4) -> RunState:
    """As on AWS: the Verify job failed every try; its Catch wrote the job's description (no state), and Rollback
    then wrote a verify result of its own."""
    run = rolled_back_run()
    description = {"TrainingJobName": f"train-x-verify-a1-t{tries}", "FailureReason": "AlgorithmError: no model"}
    run.error = ErrorInfo(type="States.TaskFailed", message=json.dumps(description))
    run.verify.detail = "AlgorithmError: no model"  # type: ignore[union-attr]
    return run


def record_raised_run() -> RunState:
    """As on AWS: the Verify job finished, RecordVerification raised; Rollback wrote a verify result."""
    run = rolled_back_run()
    run.verification = TrainingOutcome(job_name="train-x-verify-a1-t1")
    run.error = ErrorInfo(type="S3Error", message="verification.json is missing")
    return run


def register_failed_run() -> RunState:
    run = rolled_back_run()
    run.registered = run.verify = run.rolled_back_to = None
    run.error = ErrorInfo(type="AwsConflict", message="version taken")  # AWS: the Catch names no state
    return run


def prepare_failed_run() -> RunState:
    return base_run(status="failed", data=None, error=ErrorInfo(type="DatasetNotFound", message="no iris"))


PATHS = {
    "passed": (passed_run, [*START, *PASSES]),
    "retrained": (retrained_run, [*START, *ASKS, *START[1:], *PASSES]),
    "exhausted": (exhausted_run, [*START, *(ASKS + START[1:]) * 3, *FAILS]),
    "aborted": (aborted_run, [*START, *ASKS, *FAILS]),
    "timed out": (timed_out_run, [*START, "AwaitOperator", "OperatorTimedOut", *FAILS]),
    "awaiting": (awaiting_run, [*START, "AwaitOperator"]),
    "training failed": (training_failed_run, ["PrepareData", "BuildTrainingJob", "Train", "HandleFailure", *FAILS]),
    "rolled back": (rolled_back_run, [*START, *PASSES[:4], "Rollback", *FAILS]),
    "verification job failed": (verification_job_failed_run, [*START, "Register", "Verify", "Rollback", *FAILS]),
    "recording raised": (record_raised_run, [*START, "Register", "Verify", "RecordVerification", "Rollback", *FAILS]),
    "register failed": (register_failed_run, [*START, "Register", "HandleFailure", *FAILS]),
    "prepare failed": (prepare_failed_run, ["PrepareData", "HandleFailure", *FAILS]),
}


@pytest.mark.parametrize(("build", "expected"), PATHS.values(), ids=PATHS.keys())
def test_states_entered_follow_the_flow_the_run_took(build: Any, expected: list[str]) -> None:
    path = states_entered(build())
    assert path == expected
    # AND every step is one the declared flow allows (the ASL is compiled from the same declaration)
    for here, there in pairwise(path):
        assert there in _successors(here), f"{here} -> {there}"


def _successors(name: str) -> set[str]:
    state = FLOW[name]
    if isinstance(state, Choice):
        return {rule.next for rule in state.rules} | {state.default}
    if isinstance(state, End):
        return set()
    assert isinstance(state, (Task, TrainingJob, AwaitOperator))
    return {state.next, *(catch.next for catch in state.catch)}


def test_a_local_failure_names_the_verification_state_it_came_from() -> None:
    raised = record_raised_run()
    raised.verification, raised.error.state = None, "RecordVerification"  # type: ignore[union-attr]
    assert states_entered(raised)[-5:] == ["Verify", "RecordVerification", "Rollback", *FAILS]
    raised.error.state = "Verify"  # type: ignore[union-attr]
    assert states_entered(raised)[-4:] == ["Verify", "Rollback", *FAILS]
    raised.error.state = "Rollback"  # Rollback's own Catch: VerifyChoice had sent the run there
    assert states_entered(raised)[-6:] == [*PASSES[1:4], "Rollback", *FAILS]


def test_a_failure_without_a_state_name_is_placed_where_the_document_stops() -> None:
    crashed = training_failed_run()
    crashed.error = ErrorInfo(type="States.TaskFailed", message="{}")  # as Step Functions' Catch writes it
    assert failed_state(crashed) == "Train"
    crashed.training = TrainingOutcome(job_name="train-x-a1-t1")  # the job finished: Evaluate failed
    assert failed_state(crashed) == "Evaluate"
    assert states_entered(crashed)[-4:] == ["Evaluate", "HandleFailure", *FAILS]


# --- what a run used ---------------------------------------------------------------------------------------


def sagemaker_run(billable_seconds: int = 120, tries: int = 1, verification_seconds: int = 120,
                  verification_tries: int = 1) -> RunState:
    """A run that passed first time on AWS: one training job, then the job that verified the registered model."""
    run = passed_run()
    run.attempts[0].tries = tries
    run.data = DataManifest(
        dataset_id="iris",
        train=[FileEntry(key="datasets/iris/train/data.csv", size=2400, sha256=None)],
        test=[FileEntry(key="datasets/iris/test/data.csv", size=600, sha256=None)],
    )
    run.training = TrainingOutcome(
        job_name=f"train-x-a1-t{tries}",
        billable_seconds=billable_seconds,
        instance_type="ml.m5.large",
        instance_count=1,
    )
    run.verification = TrainingOutcome(
        job_name=f"train-x-verify-a1-t{verification_tries}",
        billable_seconds=verification_seconds,
        instance_type="ml.m5.large",
        instance_count=1,
    )
    return run


def test_usage_of_a_run_that_passed_first_time() -> None:
    run = sagemaker_run(verification_seconds=95)
    used = usage_of(run, Assumptions(lambda_memory_mb=512, lambda_seconds=3.0, progress_events_per_job=5))
    # 11 states; 6 of them are agents' Lambdas (PrepareData, BuildTrainingJob, Evaluate, Register,
    # RecordVerification, PublishSucceeded; Train and Verify are jobs), plus 5 progress events of each of the 2 jobs
    assert used.transitions == 11
    assert used.lambda_invocations == 6 + 2 * 5
    assert used.lambda_gb_seconds == pytest.approx(16 * 3.0 * 0.5)
    assert used.training == (TrainingUsage("ml.m5.large", 1, 120.0),
                             TrainingUsage("ml.m5.large", 1, 95.0, verification=True))
    assert (used.billable_seconds, used.verification_seconds) == (120 + 95, 95)
    # S3 PUT/LIST: PrepareData 2 + Train 2 + Evaluate 1 + Register 3 + Verify 3 + PublishSucceeded 8
    # S3 GET: PrepareData 2 + Train (1 bundle + 2 data files) + Evaluate 2 + Register 2 + Verify 5
    #         + RecordVerification 1 + Publish 2
    assert (used.s3_put_requests, used.s3_get_requests) == (19, 17)
    document_kb = len(run.model_dump_json().encode()) / 1024
    assert used.dynamodb_write_units == 6 * math.ceil(document_kb) + 4  # + the registration's transaction
    assert used.dynamodb_read_units == 6 * math.ceil(document_kb / 4)
    assert used.kms_requests == 6


def test_each_retry_of_a_training_job_is_one_more_transition_and_more_progress_events() -> None:
    once, thrice = usage_of(sagemaker_run(tries=1)), usage_of(sagemaker_run(tries=3))
    assert thrice.transitions - once.transitions == 2
    assert thrice.lambda_invocations - once.lambda_invocations == 2 * Assumptions().progress_events_per_job


def test_each_retry_of_the_verification_job_is_one_more_transition_and_more_requests() -> None:
    once, twice = usage_of(sagemaker_run()), usage_of(sagemaker_run(verification_tries=2))
    assert twice.transitions - once.transitions == 1
    assert twice.lambda_invocations - once.lambda_invocations == Assumptions().progress_events_per_job
    # each try of the Verify job: 3 PUT/LIST, 5 GET
    assert (twice.s3_put_requests - once.s3_put_requests, twice.s3_get_requests - once.s3_get_requests) == (3, 5)


def test_a_verification_job_that_failed_every_try_counts_its_tries_and_bills_none() -> None:
    run = verification_job_failed_run(tries=4)
    run.training = sagemaker_run().training  # trained by SageMaker for 120 billable seconds
    used = usage_of(run)
    # 10 states (START, Register, Verify, Rollback, PublishFailed, Failed) + 3 retries of the Verify job
    assert used.transitions == 10 + 3
    # agents: PrepareData, BuildTrainingJob, Evaluate, Register, Rollback, PublishFailed; progress events of
    # 1 training try + 4 verification tries
    assert used.lambda_invocations == 6 + 5 * (1 + 4)
    # only the training job is priced: the failed verification tries left no billable time in the document
    assert used.training == (TrainingUsage("ml.m5.large", 1, 120.0),)


def test_an_earlier_attempt_is_priced_from_its_training_time_on_the_last_job_s_instances() -> None:
    run = retrained_run()
    run.training = TrainingOutcome(job_name="j-a2-t1", billable_seconds=90, instance_type="ml.c5.xlarge",
                                   instance_count=2)
    run.verification = TrainingOutcome(job_name="j-verify-a2-t1", billable_seconds=70, instance_type="ml.c5.xlarge",
                                       instance_count=1)
    assert usage_of(run).training == (
        TrainingUsage("ml.c5.xlarge", 2, 83.0, recorded=False),  # attempt 1: 83 s of training
        TrainingUsage("ml.c5.xlarge", 2, 90.0),
        TrainingUsage("ml.c5.xlarge", 1, 70.0, verification=True),  # the verification job: its own instances
    )
    assert usage_of(run).billable_seconds == 2 * 83 + 2 * 90 + 1 * 70


def test_only_a_run_trained_by_sagemaker_has_billable_time() -> None:
    local = passed_run()
    local.training = TrainingOutcome(job_name="train-x-a1-t1")
    assert not ran_on_sagemaker(local) and usage_of(local).training == ()
    assert ran_on_sagemaker(sagemaker_run())


def test_the_lambda_assumption_is_the_template_s_memory_and_architecture() -> None:
    template = Path(__file__).resolve().parents[2] / "infra" / "cloudformation" / "mlops-pipeline.yml"
    if not template.is_file():
        pytest.skip("the pipeline stack's template is not in this tree yet")
    text = template.read_text(encoding="utf-8")
    sizes = {int(size) for size in re.findall(r"^\s+MemorySize:\s*(\d+)\s*$", text, re.MULTILINE)}
    assert sizes == {Assumptions().lambda_memory_mb}
    assert "arm64" not in text  # x86_64, Lambda's default, as the price table's lambda_architecture says
