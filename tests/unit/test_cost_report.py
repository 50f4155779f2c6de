"""The cost section of the run report: in every report of a run SageMaker trained, in Japanese and English, with
the price table's date and the run's region; never in a local run's report."""

from __future__ import annotations

from pathlib import Path

from mlops.cost import estimate, usage_of
from mlops.pipeline.models import RunState, VerifyResult
from mlops.report import render_report
from mlops.report.cost import usd
from tests.unit.test_cost import sagemaker_run
from tests.unit.test_report import attempt, gate, passed_run, section, training_failed_run

# sagemaker_run: iris, passed first time: a 120-second training job and a 120-second verification job, each on one
# ml.m5.large. By hand, at us-east-1's prices of the table:
#   SageMaker 240/3600 h * $0.115 = $0.0076667
#   Step Functions 11 transitions * $0.000025 = $0.000275
#   Lambda 16 invocations (6 agents + 5 progress events * 2 jobs) * $0.0000002 = $0.0000032
#          + 16 GB-s (512 MB * 2 s each) * $0.0000166667 = $0.0002667; together $0.0002699
#   S3 19 PUT * $0.000005 = $0.000095 + 17 GET * $0.0000004 = $0.0000068; DynamoDB (6 agents, a document under
#   2 KB: 6 * 2 + 4 = 16 WRU, 6 RRU) 16 * $0.000000625 = $0.00001 + 6 * $0.000000125 = $0.00000075; KMS 6 *
#   $0.000003 = $0.000018; together $0.0001306
# Total $0.0076667 + $0.000275 + $0.0002699 + $0.0001306 = $0.0083422.
EN_LINE = (
    "- Estimated cost: $0.0083 (SageMaker $0.0077, Step Functions $0.0003, Lambda $0.0003, S3/DynamoDB $0.0001; "
    "prices of 2026-12-02, us-east-1)"
)
JA_LINE = (
    "- 推定コスト: $0.0083（SageMaker $0.0077、Step Functions $0.0003、Lambda $0.0003、S3/DynamoDB $0.0001。"
    "2026-12-02 時点の us-east-1 の価格）"
)


def test_an_aws_report_carries_the_estimate_in_english_and_japanese() -> None:
    run = sagemaker_run()
    en = section(render_report(run, "en", extra={"region": "us-east-1"}), "## Cost estimate")
    ja = section(render_report(run, "ja", extra={"region": "us-east-1"}), "## コスト見積もり")
    assert EN_LINE in en.splitlines() and JA_LINE in ja.splitlines()
    # AND it says what was counted and what assumed
    assert "11 state transitions and 16 Lambda invocations" in en
    assert "240 billable SageMaker seconds (training 120 s, verification 120 s; 1 × ml.m5.large)" in en
    assert "512 MB for 2 s per Lambda invocation (x86_64)" in en
    assert "状態遷移 11 回" in ja and "Lambda 呼び出し 16 回" in ja
    assert "課金対象時間 240 秒（学習 120 秒、検証 120 秒。1 × ml.m5.large）" in ja


def test_the_section_follows_the_status_and_precedes_the_attempts() -> None:
    headings = [line for line in render_report(sagemaker_run(), "en").splitlines() if line.startswith("## ")]
    assert headings[headings.index("## Status") + 1] == "## Cost estimate"
    assert headings[headings.index("## Cost estimate") + 1] == "## Attempts"


def test_without_a_region_the_default_is_priced_and_named() -> None:
    assert EN_LINE in render_report(sagemaker_run(), "en").splitlines()


def test_a_price_the_table_lacks_makes_the_total_a_lower_bound_and_is_named() -> None:
    en = section(render_report(sagemaker_run(), "en", extra={"region": "ap-northeast-1"}), "## Cost estimate")
    # Step Functions $0.000275 + Lambda $0.0002699 + KMS $0.000018 (see EN_LINE); S3 and DynamoDB unpriced
    assert "- Estimated cost: ≥ $0.0006 (SageMaker $0, " in en and "prices of 2026-12-02, ap-northeast-1)" in en
    assert "- No price in the table for: SageMaker ml.m5.large, S3 PUT/LIST requests" in en
    assert "so the total is a lower bound" in en


def test_a_region_without_prices_says_so_and_cannot_inject_markdown() -> None:
    en = section(render_report(sagemaker_run(), "en", extra={"region": "eu-<b>west</b>-1"}), "## Cost estimate")
    assert en.strip() == "No prices for eu-&lt;b&gt;west&lt;/b&gt;-1 in the price table: no estimate."


def test_retrained_runs_say_earlier_jobs_are_priced_by_training_time() -> None:
    run = sagemaker_run()
    run.attempts = [run.attempts[0].model_copy(update={"number": 1, "duration_seconds": 60.0}), run.attempts[0]]
    en = render_report(run, "en")
    # 60 s (attempt 1's training time) + 120 s billed for training + 120 s for the verification job
    assert "300 billable SageMaker seconds (training 180 s, verification 120 s; 1 × ml.m5.large)" in en
    assert "Earlier attempts' jobs are priced by their training time in place of billable time." in en


def test_local_runs_have_no_cost_section() -> None:
    for run in (passed_run(), training_failed_run()):
        for lang in ("ja", "en"):
            report = render_report(run, lang, extra={"region": "ap-northeast-1"})
            assert "## Cost estimate" not in report and "## コスト見積もり" not in report


def test_dollars_are_written_with_enough_digits_for_a_run() -> None:
    assert [usd(0), usd(0.00001), usd(0.00457), usd(0.736), usd(12.3456)] == [
        "$0", "<$0.0001", "$0.0046", "$0.7360", "$12.35",
    ]


def test_a_run_that_never_verified_names_its_training_seconds_only() -> None:
    en = render_report(exhausted_after(0), "en")
    assert "120 billable SageMaker seconds (training 120 s; 1 × ml.m5.large)" in en


def exhausted_after(retrains: int) -> RunState:
    run = sagemaker_run()
    run.attempts = [attempt(number, 0.80) for number in range(1, retrains + 2)]
    for each in run.attempts:
        each.duration_seconds = 120.0  # the earlier jobs' training time stands in for their billable time
    run.gate, run.status, run.registered, run.verify = gate(0.80, "exhausted"), "failed", None, None
    run.verification = None  # never got to Verify
    return run


def rolled_back_after(retrains: int) -> RunState:
    """The most a run can cost: every retrain used, the last attempt passes, its verification fails."""
    run = sagemaker_run()
    run.attempts = [attempt(number, 0.80 if number <= retrains else 0.87) for number in range(1, retrains + 2)]
    for each in run.attempts:
        each.duration_seconds = 120.0
    run.status, run.gate = "failed", gate(0.87, "pass")
    run.verify = VerifyResult(ok=False, detail="the artifact does not load")
    run.previous_version, run.rolled_back_to = "v1.2.2", "v1.2.2"
    return run


def test_the_runs_priced_on_paper_in_the_docs_are_what_the_estimate_says() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "aws.md").read_text(encoding="utf-8")
    cost_section = docs.split("\n## Cost\n", 1)[1]
    first_time = estimate(usage_of(sagemaker_run()), "us-east-1")
    assert f"| total | | about {usd(first_time.total)} |" in cost_section
    # k retrains, none left: 7 + 7k transitions, (4 + 4k) agents + 5 progress events * (k + 1) jobs
    for retrains, transitions, invocations in ((3, 28, 36), (2, 21, 27), (1, 14, 18)):
        used = usage_of(exhausted_after(retrains))
        assert (used.transitions, used.lambda_invocations) == (transitions, invocations)
        priced = usd(estimate(used, "us-east-1").total)
        assert f"| {priced} ({transitions} transitions, {invocations} invocations, {retrains + 1} jobs) |" in (
            cost_section
        ), priced
    # k retrains, the last passes, verification fails: 12 + 7k transitions, (7 + 4k) agents + 5 progress events *
    # (k + 2) jobs (k + 1 training jobs and the verification job)
    for retrains, transitions, invocations in ((3, 33, 44), (2, 26, 35), (1, 19, 26)):
        used = usage_of(rolled_back_after(retrains))
        assert (used.transitions, used.lambda_invocations) == (transitions, invocations)
        priced = usd(estimate(used, "us-east-1").total)
        assert f"| {priced} ({transitions} transitions, {invocations} invocations, {retrains + 2} jobs) |" in (
            cost_section
        ), priced
