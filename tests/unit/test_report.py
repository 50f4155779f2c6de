"""Training reports: the §7.2 Markdown in Japanese and English, the summary, the JSON twin, and escaping."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import pytest

from mlops.pipeline.models import (
    Attempt,
    DataManifest,
    ErrorInfo,
    Event,
    GateResult,
    IssueRef,
    ModelRef,
    OperatorDecision,
    RunState,
    VerifyResult,
)
from mlops.report import outcome, render_report, render_rollback, render_summary, report_json, status_lines
from mlops.request import TrainingRequest, validate_request

START = datetime(2025, 1, 10, 12, 34, 56, tzinfo=timezone.utc)
JA_HEADINGS = [
    "## 基本情報",
    "## データセット",
    "## ハイパーパラメータ",
    "## 評価結果",
    "## モデル情報",
    "## ステータス",
]
EN_HEADINGS = [
    "## Basic information",
    "## Dataset",
    "## Hyperparameters",
    "## Evaluation",
    "## Model",
    "## Status",
]


def classification_request(**fields: Any) -> TrainingRequest:
    raw = {
        "learning_type": "supervised",
        "algorithm": "random_forest",
        "dataset_id": "dataset-20250110-001",
        "hyperparameters": {"n_estimators": 100, "max_depth": 10},
        "evaluation_threshold": 0.85,
        "max_retry": 3,
        "model_id": "model-001",
        "task": "classification",
    }
    return validate_request({**raw, **fields})


def attempt(number: int, accuracy: float, threshold: float = 0.85, **fields: Any) -> Attempt:
    metrics = {"accuracy": accuracy, "precision": 0.85, "recall": 0.89, "f1": 0.87}
    params = {"n_estimators": 100, "max_depth": 10, **fields.pop("overrides", {})}
    started = START + timedelta(minutes=10 * (number - 1))
    return Attempt(
        number=number,
        hyperparameters=params,
        overrides={k: v for k, v in params.items() if number > 1 and k == "n_estimators"},
        algorithm="random_forest",
        started_at=started,
        finished_at=started + timedelta(seconds=83),
        duration_seconds=83.0,
        tries=1,
        metrics=metrics,
        metric="accuracy",
        value=accuracy,
        passed=accuracy >= threshold,
        **fields,
    )


def gate(
    value: float, decision: Literal["pass", "retrain", "exhausted"], threshold: float = 0.85
) -> GateResult:
    passed = value >= threshold
    return GateResult(
        metric="accuracy", value=value, threshold=threshold, comparison=">=", passed=passed, decision=decision
    )


def base_run(**fields: Any) -> RunState:
    data = DataManifest(
        dataset_id="dataset-20250110-001",
        task="classification",
        target="label",
        rows_train=10_000,
        rows_test=2_000,
        digest="ab" * 32,
    )
    run = RunState(
        training_id="train-20250110-123456",
        request=classification_request(),
        issue=IssueRef(repository="acme/models", number=42, url="https://github.com/acme/models/issues/42"),
        created_at=START,
        data=data,
        events=[Event(at=START, state="PrepareData", message="data ready")],
    )
    return run.model_copy(update=fields)


def registered(version: str = "v1.2.3") -> ModelRef:
    return ModelRef(
        model_id="model-001",
        version=version,
        artifact_key=f"models/model-001/{version}/",
    )


def passed_run() -> RunState:
    return base_run(
        status="succeeded",
        attempts=[attempt(1, 0.87)],
        gate=gate(0.87, "pass"),
        registered=registered(),
        verify=VerifyResult(ok=True, detail="holdout agrees"),
    )


def retrained_run() -> RunState:
    attempts = [attempt(1, 0.81), attempt(2, 0.88, overrides={"n_estimators": 300})]
    return base_run(status="succeeded", attempts=attempts, gate=gate(0.88, "pass"), registered=registered())


def exhausted_run() -> RunState:
    attempts = [attempt(n, 0.80) for n in range(1, 5)]
    return base_run(status="failed", attempts=attempts, gate=gate(0.80, "exhausted"))


def aborted_run(reason: str = "data is stale", actor: str = "alice") -> RunState:
    decision = OperatorDecision(action="abort", actor=actor, reason=reason, at=START)
    return base_run(
        status="failed", attempts=[attempt(1, 0.81)], gate=gate(0.81, "retrain"), operator=decision
    )


def awaiting_run() -> RunState:
    return base_run(status="awaiting_operator", attempts=[attempt(1, 0.81)], gate=gate(0.81, "retrain"))


def training_failed_run() -> RunState:
    crashed = Attempt(
        number=1,
        hyperparameters={"n_estimators": 100},
        algorithm="random_forest",
        started_at=START,
        tries=4,
    )
    error = ErrorInfo(state="Train", type="TrainingCrashed", message="trainer exited with code 137 (4 tries)")
    return base_run(status="failed", attempts=[crashed], error=error)


def rolled_back_run() -> RunState:
    return base_run(
        status="failed",
        attempts=[attempt(1, 0.87)],
        gate=gate(0.87, "pass"),
        registered=registered("v1.2.3"),
        previous_version="v1.2.2",
        verify=VerifyResult(ok=False, detail="the artifact does not load: bad pickle"),
        rolled_back_to="v1.2.2",
    )


def rl_run() -> RunState:
    request = validate_request(
        {
            "learning_type": "reinforcement",
            "algorithm": "q_learning",
            "environment": "FrozenLake-v1",
            "evaluation_threshold": 0.7,
            "evaluation_metric": "success_rate",
            "hyperparameters": {"episodes": 5000},
        }
    )
    rl_attempt = Attempt(
        number=1,
        hyperparameters=request.effective_hyperparameters(),
        algorithm="q_learning",
        started_at=START,
        metrics={"mean_return": 0.74, "std_return": 0.44, "success_rate": 0.74},
        metric="success_rate",
        value=0.74,
        passed=True,
        duration_seconds=12.5,
        tries=1,
    )
    result = GateResult(
        metric="success_rate", value=0.74, threshold=0.7, comparison=">=", passed=True, decision="pass"
    )
    return RunState(
        training_id="train-20250110-999999",
        request=request,
        status="succeeded",
        created_at=START,
        attempts=[rl_attempt],
        gate=result,
        registered=registered(),
    )


def section(markdown: str, heading: str) -> str:
    """The body of one `## heading` section."""
    after = markdown.split(heading + "\n", 1)[1]
    return after.split("\n## ", 1)[0]


def test_japanese_report_has_the_specification_sections_in_order_with_their_values() -> None:
    # GIVEN a classification run that passed its threshold the first time
    run = passed_run()
    # WHEN its report is rendered in the default language
    markdown = render_report(run, extra={"store_uri": "s3://mlops-bucket"})
    # THEN it follows requirements §7.2 section for section
    assert markdown.startswith("# 学習結果レポート\n")
    positions = [markdown.index(heading + "\n") for heading in JA_HEADINGS]
    assert positions == sorted(positions)
    # AND shows the values the specification shows, in its format
    for line in [
        "- Training ID: train-20250110-123456",
        "- 学習方式: 教師あり学習",
        "- アルゴリズム: Random Forest",
        "- 実行日時: 2025-01-10 12:34:56 UTC",
        "- Dataset ID: dataset-20250110-001",
        "- 学習データサイズ: 10,000件",
        "- 評価データサイズ: 2,000件",
        "- n_estimators: 100",
        "- max_depth: 10",
        "- Precision: 0.8500",
        "- Recall: 0.8900",
        "- F1-Score: 0.8700",
        "- Model Version: v1.2.3",
        "- S3 Path: s3://mlops-bucket/models/model-001/v1.2.3/",
        "✅ 学習成功（閾値: 0.85をクリア）",
    ]:
        assert line in markdown.splitlines() or line in markdown, line
    assert re.search(r"^- Accuracy: 0\.8700（判定指標: >= 0\.85）$", markdown, re.M)
    assert "ab" * 32 in section(markdown, "## データセット")


ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/model-001/3"


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_version_in_the_sagemaker_registry_is_named_by_its_arn(lang: str) -> None:
    # GIVEN a run whose version the SageMaker Model Registry holds (AWS)
    run = passed_run()
    run.registered = registered().model_copy(update={"registry_arn": ARN})
    # WHEN its report and JSON twin are made
    model = section(render_report(run, lang=lang, extra={"store_uri": "s3://mlops-bucket"}), "## " + (
        "モデル情報" if lang == "ja" else "Model"))
    # THEN the model section ends with the package's ARN, after the S3 path, as requirements §7.2 shows it
    assert model.splitlines()[-2:] == ["- S3 Path: s3://mlops-bucket/models/model-001/v1.2.3/",
                                        f"- Model Registry ARN: {ARN}"]
    assert report_json(run)["model"]["registry_arn"] == ARN
    # AND a local run (no ARN) has no such line and no such field
    assert "Model Registry ARN" not in render_report(passed_run(), lang=lang)
    assert "registry_arn" not in report_json(passed_run())["model"]

def test_report_links_the_issue_and_the_run_and_lists_the_timeline() -> None:
    # GIVEN a run that came from an issue, with an Actions run URL
    run = passed_run()
    # WHEN rendered
    markdown = render_report(run, extra={"run_url": "https://github.com/acme/models/actions/runs/7"})
    # THEN the issue and the run are linked, and the events are listed with their times
    assert "- Issue: [acme/models#42](https://github.com/acme/models/issues/42)" in markdown
    assert "- 実行ログ: https://github.com/acme/models/actions/runs/7" in markdown
    assert "- 2025-01-10 12:34:56 UTC **PrepareData** data ready" in section(markdown, "## タイムライン")


def test_english_report_uses_english_headings_and_status() -> None:
    # GIVEN the same passed run
    # WHEN rendered with lang="en"
    markdown = render_report(passed_run(), lang="en")
    # THEN every heading and the status are in English
    assert markdown.startswith("# Training Report\n")
    positions = [markdown.index(heading + "\n") for heading in [*EN_HEADINGS, "## Attempts", "## Timeline"]]
    assert positions == sorted(positions)
    assert "- Learning type: Supervised learning" in markdown
    assert "- Training data size: 10,000 rows" in markdown
    assert "✅ Training succeeded (threshold 0.85 met)" in markdown
    assert not re.search(r"[\u3040-\u30ff]", markdown), "no Japanese left in the English report"


def test_attempts_table_shows_each_attempt_with_overrides_value_and_result() -> None:
    # GIVEN a run that missed, was retrained with n_estimators=300, and passed
    run = retrained_run()
    # WHEN rendered
    table = section(render_report(run), "## 試行履歴")
    # THEN the table has a header and one row per attempt, the final hyperparameters are the retrain's
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert len(rows) == 4  # header, separator, two attempts
    assert re.match(r"\| 試行 +\| 変更内容 +\| Accuracy +\| 判定 +\| 所要時間 +\| 起動回数 +\|", rows[0])
    assert re.match(r"\| 1 +\| 初回 +\| 0\.8100 +\| ❌ 未達 +\| 1m 23s +\| 1 +\|", rows[2])
    assert re.match(r"\| 2 +\| n_estimators=300 +\| 0\.8800 +\| ✅ 合格 +\| 1m 23s +\| 1 +\|", rows[3])
    assert "- n_estimators: 300" in section(render_report(run), "## ハイパーパラメータ")


@pytest.mark.parametrize(
    ("build", "ja", "en"),
    [
        (
            exhausted_run,
            "❌ 学習失敗（閾値: 0.85に未達: Accuracy 0.8000、再学習 3/3回を使い切りました）",
            "❌ Training failed (threshold 0.85 missed: Accuracy 0.8000; all 3/3 retrains used)",
        ),
        (
            aborted_run,
            "❌ オペレータにより中止（理由: data is stale、実行者: alice）",
            "❌ Aborted by an operator (reason: data is stale; by alice)",
        ),
        (
            training_failed_run,
            "❌ 学習失敗（Trainでエラー: TrainingCrashed: trainer exited with code 137 (4 tries)）",
            "❌ Training failed (error in Train: TrainingCrashed: trainer exited with code 137 (4 tries))",
        ),
        (
            rolled_back_run,
            "❌ 検証失敗のため自動ロールバック（v1.2.3 を破棄、現在のバージョン: v1.2.2）",
            "❌ Verification failed and the model was rolled back automatically (v1.2.3 discarded; "
            "current version: v1.2.2)",
        ),
        (
            awaiting_run,
            "⏸ オペレータの判断待ち（閾値: 0.85に未達: Accuracy 0.8100、残りの再学習: 3回）",
            "⏸ Awaiting an operator (threshold 0.85 missed: Accuracy 0.8100; retrains left: 3)",
        ),
    ],
)
def test_status_says_what_became_of_the_run(build: Any, ja: str, en: str) -> None:
    # GIVEN a run that ended (or paused) in one of the ways the pipeline allows
    run = build()
    # WHEN its report is rendered in either language
    # THEN the status section starts with the line that says so
    assert section(render_report(run), "## ステータス").strip().splitlines()[0] == ja
    assert section(render_report(run, lang="en"), "## Status").strip().splitlines()[0] == en


def test_unregistered_run_says_so_and_a_failed_training_has_no_metrics() -> None:
    # GIVEN a run whose training crashed
    markdown = render_report(training_failed_run())
    # THEN nothing is shown as registered, and the attempt has no value and no verdict, only its four tries
    assert section(markdown, "## モデル情報").strip() == "登録なし"
    assert section(markdown, "## 評価結果").strip() == "（なし）"
    row = section(markdown, "## 試行履歴").strip().splitlines()[-1]
    assert re.split(r" *\| *", row.strip("| ")) == ["1", "初回", "-", "-", "-", "4"], row


def test_rolled_back_run_names_the_discarded_and_the_current_version() -> None:
    # GIVEN a run whose registered model failed verification and was rolled back
    markdown = render_report(rolled_back_run())
    # THEN the model section says which version is current now, and the status carries the verify detail
    assert "- 現在のバージョン: v1.2.2（自動ロールバック）" in section(markdown, "## モデル情報")
    assert "検証結果: the artifact does not load: bad pickle" in section(markdown, "## ステータス")


def test_awaiting_run_tells_the_operator_how_to_answer() -> None:
    assert "/mlops retrain key=value" in "\n".join(status_lines(awaiting_run(), "ja"))
    assert "/mlops abort" in "\n".join(status_lines(awaiting_run(), "en"))


def test_reinforcement_report_shows_the_environment_instead_of_a_dataset() -> None:
    # GIVEN a Q-learning run on FrozenLake
    markdown = render_report(rl_run())
    # THEN the data section names the environment, and the RL metrics are labelled
    data = section(markdown, "## データセット")
    assert "- 環境: FrozenLake-v1" in data
    assert "- 評価エピソード数: 100" in data
    assert "Dataset ID" not in data
    assert "- 学習方式: 強化学習" in markdown
    assert "- アルゴリズム: Tabular Q-Learning" in markdown
    assert "- Success rate: 0.7400（判定指標: >= 0.7）" in markdown
    assert "- Mean return: 0.7400" in markdown
    assert "- episodes: 5000" in markdown
    assert "✅ 学習成功（閾値: 0.7をクリア）" in markdown


def test_plots_are_linked_relative_to_the_report() -> None:
    # GIVEN plot files stored next to the report
    plots = ["train-20250110-123456/confusion_matrix.png", "train-20250110-123456/roc curve.png"]
    # WHEN rendered with them
    body = section(render_report(passed_run(), plots=plots), "## プロット")
    # THEN each is an image link, its path URL-encoded
    assert "![confusion_matrix](train-20250110-123456/confusion_matrix.png)" in body
    assert "![roc curve](train-20250110-123456/roc%20curve.png)" in body


def test_no_plots_section_without_plots() -> None:
    assert "## プロット" not in render_report(passed_run())


HOSTILE = "<script>alert(1)</script> | @org/team [x](javascript:alert(1))\n## injected\u202e"


def test_hostile_text_cannot_inject_html_break_tables_or_mention() -> None:
    # GIVEN a run aborted with a hostile reason by a hostile actor, retrained with a hostile override value
    run = aborted_run(reason=HOSTILE, actor="@org/team")
    run.attempts.append(attempt(2, 0.82, overrides={"n_estimators": HOSTILE}))
    run.events.append(Event(at=START, state="AwaitOperator", message=HOSTILE))
    # WHEN the report is rendered
    markdown = render_report(run)
    # THEN no raw HTML, no new heading, no live mention, no bidi override, and every table row keeps 6 cells
    assert "<script>" not in markdown
    assert "&lt;script&gt;" in markdown
    assert "\n## injected" not in markdown
    assert "\u202e" not in markdown
    assert not re.search(r"@[A-Za-z0-9]", markdown), "an @-mention would notify someone"
    assert "\\[x\\]" in markdown  # not a link
    table = [line for line in section(markdown, "## 試行履歴").splitlines() if line.startswith("|")]
    assert all(len(re.split(r"(?<!\\)\|", row)) == 8 for row in table)


def test_very_long_values_are_truncated() -> None:
    run = aborted_run(reason="x" * 5000)
    line = status_lines(run)[0]
    assert len(line) < 700
    assert "…" in line


def test_summary_has_status_metric_table_version_and_history_link() -> None:
    # GIVEN a passed run
    # WHEN its summary is rendered for the issue comment
    summary = render_summary(passed_run(), "ja", history_url="https://github.com/acme/models/blob/main/x.md")
    # THEN it has the status, the metric against its threshold, the version and the history link
    assert summary.startswith("### ✅ 学習成功（閾値: 0.85をクリア）")
    assert re.search(r"\| Accuracy +\| 0\.8700 +\| >= 0\.85 +\| ✅ 合格 +\|", summary)
    assert "- Model Version: v1.2.3 (model-001)" in summary
    assert (
        "[training_history/train-20250110-123456.md](https://github.com/acme/models/blob/main/x.md)"
        in summary
    )


def test_summary_in_english_without_url_names_the_history_file() -> None:
    summary = render_summary(exhausted_run(), "en")
    assert summary.startswith("### ❌ Training failed")
    assert "- History: `training_history/train-20250110-123456.md`" in summary


def test_json_twin_carries_the_essentials_and_is_plain_json() -> None:
    # GIVEN a retrained run
    # WHEN its JSON twin is built
    document = report_json(retrained_run())
    # THEN it has the run's essentials and survives a JSON round trip unchanged
    assert document["training_id"] == "train-20250110-123456"
    assert document["status"] == "succeeded"
    assert document["outcome"] == "succeeded"
    assert document["request"]["algorithm"] == "random_forest"
    assert document["metrics"]["accuracy"] == 0.88
    assert document["gate"]["threshold"] == 0.85
    assert document["model"]["version"] == "v1.2.3"
    assert document["data"]["digest"] == "ab" * 32
    assert [a["overrides"] for a in document["attempts"]] == [{}, {"n_estimators": 300}]
    assert document["created_at"] == "2025-01-10T12:34:56+00:00"
    assert json.loads(json.dumps(document, allow_nan=False)) == document


def test_json_twin_replaces_non_finite_metrics_with_null() -> None:
    run = passed_run()
    run.attempts[0].metrics["roc_auc"] = float("nan")
    assert report_json(run)["metrics"]["roc_auc"] is None


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (passed_run, "succeeded"),
        (exhausted_run, "exhausted"),
        (aborted_run, "aborted"),
        (training_failed_run, "training_failed"),
        (rolled_back_run, "verification_failed"),
        (awaiting_run, "awaiting_operator"),
    ],
)
def test_outcome_names_each_ending(build: Any, expected: str) -> None:
    assert outcome(build()) == expected


def test_rollback_markdown_says_who_rolled_what_back_and_why() -> None:
    rollback = {
        "model_id": "model-001",
        "from_version": "v1.2.3",
        "to_version": "v1.2.2",
        "actor": "@bob",
        "reason": "drift <b>",
        "automatic": False,
        "at": "2025-01-11T09:00:00+00:00",
    }
    ja = render_rollback(rollback)
    assert "@\u200dbob が model-001 を v1.2.3 から v1.2.2 にロールバックしました。" in ja
    assert "- 理由: drift &lt;b&gt;" in ja
    assert "- 日時: 2025-01-11 09:00:00 UTC" in ja
    en = render_rollback({**rollback, "automatic": True}, lang="en")
    assert "model-001 was rolled back automatically from v1.2.3 to v1.2.2 because its verification" in en
    assert "- By: automatic (verification after registration failed)" in en


def test_automatic_rollback_of_a_first_version_says_nothing_is_current() -> None:
    # GIVEN the registry's record of an automatic rollback of a model's only version
    rollback = {
        "model_id": "model-001",
        "from_version": "v1.0.0",
        "to_version": None,
        "actor": "mlops",
        "reason": "verification failed",
        "automatic": True,
        "at": "2025-01-11T09:00:00+00:00",
    }
    # WHEN rendered THEN it says that no earlier version exists rather than naming one
    assert "- ロールバック先: なし（以前のバージョンがありません）" in render_rollback(rollback)
    assert "to none (there was no earlier version)" in render_rollback(rollback, "en")


# --- approved renderings: a report, once committed to the history, must not change by accident -------------
#
# tests/fixtures/reports/ holds every rendering of the runs above, as approved. A change to a report's wording
# or layout is deliberate: regenerate them with `python tests/unit/test_report.py` and review the diff.

APPROVED = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
PLOTS = ["train-20250110-123456/confusion_matrix.png", "train-20250110-123456/roc curve.png"]
EXTRA = {
    "store_uri": "s3://mlops-bucket",
    "run_url": "https://github.com/acme/models/actions/runs/7",
    "region": "ap-northeast-1",
}
ROLLBACK = {
    "model_id": "model-001",
    "from_version": "v1.2.3",
    "to_version": "v1.2.2",
    "actor": "@bob",
    "reason": "drift <b>",
    "automatic": False,
    "at": "2025-01-11T09:00:00+00:00",
}


def hostile_run() -> RunState:
    run = aborted_run(reason=HOSTILE, actor="@org/team")
    run.attempts.append(attempt(2, 0.82, overrides={"n_estimators": HOSTILE}))
    run.events.append(Event(at=START, state="AwaitOperator", message=HOSTILE))
    return run


RUNS = {
    "passed": passed_run,
    "retrained": retrained_run,
    "exhausted": exhausted_run,
    "aborted": aborted_run,
    "awaiting": awaiting_run,
    "training-failed": training_failed_run,
    "rolled-back": rolled_back_run,
    "reinforcement": rl_run,
    "hostile": hostile_run,
}


def renderings(name: str) -> dict[str, str]:
    """File name -> content: every rendering of the run `name` (or of the rollback records)."""
    if name == "rollbacks":
        records = [ROLLBACK, {**ROLLBACK, "automatic": True}, {**ROLLBACK, "to_version": None, "automatic": True}]
        parts = [render_rollback(record, lang) for record in records for lang in ("ja", "en")]
        return {"rollbacks.md": "\n<!-- next -->\n".join(parts)}
    run = RUNS[name]()
    parts = [
        render_report(run, "ja"),
        render_report(run, "en", plots=PLOTS, extra=EXTRA),
        render_summary(run, "ja", history_url="https://github.com/acme/models/blob/main/x.md"),
        render_summary(run, "en"),
    ]
    return {
        f"{name}.md": "\n<!-- next -->\n".join(parts),
        f"{name}.json": json.dumps(report_json(run), ensure_ascii=False, indent=2) + "\n",
    }


@pytest.mark.parametrize("name", [*RUNS, "rollbacks"])
def test_reports_are_rendered_exactly_as_approved(name: str) -> None:
    # GIVEN a run (or rollback records) WHEN every report, summary and JSON twin of it is rendered
    # THEN each is, byte for byte, the approved rendering
    for file, content in renderings(name).items():
        assert content == (APPROVED / file).read_text(encoding="utf-8"), f"{file} changed"


if __name__ == "__main__":
    APPROVED.mkdir(parents=True, exist_ok=True)
    for name in [*RUNS, "rollbacks"]:
        for file, content in renderings(name).items():
            (APPROVED / file).write_text(content, encoding="utf-8")
