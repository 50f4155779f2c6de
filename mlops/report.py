"""Training reports: the Markdown of requirements §7.2 (Japanese by default, English on request), its JSON
twin, a short summary for issue comments and Actions job summaries, and the Markdown of a rollback record.

Every user-facing string lives in `STRINGS`, one small table per language. Everything a user could have
typed (model names, reasons, overrides, error messages, issue titles) goes through `escape` or `code` before
it reaches Markdown, so a hostile value cannot open HTML, break a table, or mention (and so notify) anyone.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from tabulate import tabulate

from mlops.learners.catalog import ALGORITHMS
from mlops.metric_specs import METRICS
from mlops.pipeline.models import Attempt, RunState

STRINGS: dict[str, dict[str, str]] = {
    "ja": {
        "title": "学習結果レポート",
        "h.basic": "基本情報",
        "h.dataset": "データセット",
        "h.hyperparameters": "ハイパーパラメータ",
        "h.evaluation": "評価結果",
        "h.model": "モデル情報",
        "h.status": "ステータス",
        "h.attempts": "試行履歴",
        "h.plots": "プロット",
        "h.timeline": "タイムライン",
        "supervised": "教師あり学習",
        "unsupervised": "教師なし学習",
        "reinforcement": "強化学習",
        "training_id": "Training ID",
        "learning_type": "学習方式",
        "algorithm": "アルゴリズム",
        "executed_at": "実行日時",
        "task": "タスク",
        "issue": "Issue",
        "run_url": "実行ログ",
        "dataset_id": "Dataset ID",
        "rows_train": "学習データサイズ",
        "rows_test": "評価データサイズ",
        "rows": "{n:,}件",
        "target": "目的変数",
        "digest": "データダイジェスト (SHA-256)",
        "environment": "環境",
        "eval_episodes": "評価エピソード数",
        "model_id": "Model ID",
        "version": "Model Version",
        "s3_path": "S3 Path",
        "store_path": "Store Path",
        "registry_arn": "Model Registry ARN",
        "registry_id": "Model Registry ID",
        "not_registered": "登録なし",
        "current_version": "現在のバージョン",
        "rolled_back_mark": "{version}（自動ロールバック）",
        "none": "（なし）",
        "gate_mark": "（判定指標: {comparison} {threshold}）",
        "s.succeeded": "✅ 学習成功（閾値: {threshold}をクリア）",
        "s.awaiting_operator": "⏸ オペレータの判断待ち"
        "（閾値: {threshold}に未達: {metric} {value}、残りの再学習: {left}回）",
        "s.awaiting_hint": "`/mlops retrain key=value ...` で設定を変えて再学習、"
        "`/mlops abort [理由]` で中止します。",
        "s.running": "⏳ 実行中",
        "s.exhausted": "❌ 学習失敗"
        "（閾値: {threshold}に未達: {metric} {value}、再学習 {used}/{max}回を使い切りました）",
        "s.aborted": "❌ オペレータにより中止（理由: {reason}、実行者: {actor}）",
        "s.training_failed": "❌ 学習失敗（{state}でエラー: {error}）",
        "s.verification_failed": "❌ 検証失敗のため自動ロールバック"
        "（{version} を破棄、現在のバージョン: {current}）",
        "s.verify_detail": "検証結果: {detail}",
        "s.failed": "❌ 失敗",
        "no_reason": "理由の記載なし",
        "unknown": "不明",
        "no_previous": "なし（以前のバージョンがありません）",
        "t.attempt": "試行",
        "t.overrides": "変更内容",
        "t.value": "{metric}",
        "t.result": "判定",
        "t.duration": "所要時間",
        "t.tries": "起動回数",
        "first_attempt": "初回",
        "pass": "✅ 合格",
        "miss": "❌ 未達",
        "error": "⚠️ エラー",
        "summary.metric": "指標",
        "summary.value": "値",
        "summary.threshold": "閾値",
        "summary.result": "判定",
        "summary.history": "学習履歴",
        "rb.title": "ロールバック記録",
        "rb.sentence": "{actor} が {model} を {from_version} から {to_version} にロールバックしました。",
        "rb.sentence_automatic": "登録後の検証に失敗したため、{model} を {from_version} から {to_version} に"
        "自動でロールバックしました。",
        "rb.automatic": "自動（登録後の検証に失敗）",
        "rb.model": "モデル",
        "rb.from": "ロールバック元",
        "rb.to": "ロールバック先",
        "rb.actor": "実行者",
        "rb.reason": "理由",
        "rb.at": "日時",
    },
    "en": {
        "title": "Training Report",
        "h.basic": "Basic information",
        "h.dataset": "Dataset",
        "h.hyperparameters": "Hyperparameters",
        "h.evaluation": "Evaluation",
        "h.model": "Model",
        "h.status": "Status",
        "h.attempts": "Attempts",
        "h.plots": "Plots",
        "h.timeline": "Timeline",
        "supervised": "Supervised learning",
        "unsupervised": "Unsupervised learning",
        "reinforcement": "Reinforcement learning",
        "training_id": "Training ID",
        "learning_type": "Learning type",
        "algorithm": "Algorithm",
        "executed_at": "Run at",
        "task": "Task",
        "issue": "Issue",
        "run_url": "Run log",
        "dataset_id": "Dataset ID",
        "rows_train": "Training data size",
        "rows_test": "Evaluation data size",
        "rows": "{n:,} rows",
        "target": "Target",
        "digest": "Data digest (SHA-256)",
        "environment": "Environment",
        "eval_episodes": "Evaluation episodes",
        "model_id": "Model ID",
        "version": "Model Version",
        "s3_path": "S3 Path",
        "store_path": "Store Path",
        "registry_arn": "Model Registry ARN",
        "registry_id": "Model Registry ID",
        "not_registered": "Not registered",
        "current_version": "Current version",
        "rolled_back_mark": "{version} (rolled back automatically)",
        "none": "(none)",
        "gate_mark": " (gate: {comparison} {threshold})",
        "s.succeeded": "✅ Training succeeded (threshold {threshold} met)",
        "s.awaiting_operator": "⏸ Awaiting an operator (threshold {threshold} missed: {metric} {value}; "
        "retrains left: {left})",
        "s.awaiting_hint": "Reply `/mlops retrain key=value ...` to retrain with new settings, or "
        "`/mlops abort [reason]` to stop.",
        "s.running": "⏳ Running",
        "s.exhausted": "❌ Training failed (threshold {threshold} missed: {metric} {value}; all {used}/{max} "
        "retrains used)",
        "s.aborted": "❌ Aborted by an operator (reason: {reason}; by {actor})",
        "s.training_failed": "❌ Training failed (error in {state}: {error})",
        "s.verification_failed": "❌ Verification failed and the model was rolled back automatically "
        "({version} discarded; current version: {current})",
        "s.verify_detail": "Verification: {detail}",
        "s.failed": "❌ Failed",
        "no_reason": "no reason given",
        "unknown": "unknown",
        "no_previous": "none (there was no earlier version)",
        "t.attempt": "Attempt",
        "t.overrides": "Overrides",
        "t.value": "{metric}",
        "t.result": "Result",
        "t.duration": "Duration",
        "t.tries": "Tries",
        "first_attempt": "first",
        "pass": "✅ pass",
        "miss": "❌ miss",
        "error": "⚠️ error",
        "summary.metric": "Metric",
        "summary.value": "Value",
        "summary.threshold": "Threshold",
        "summary.result": "Result",
        "summary.history": "History",
        "rb.title": "Rollback record",
        "rb.sentence": "{actor} rolled {model} back from {from_version} to {to_version}.",
        "rb.sentence_automatic": "{model} was rolled back automatically from {from_version} to {to_version} "
        "because its verification after registration failed.",
        "rb.automatic": "automatic (verification after registration failed)",
        "rb.model": "Model",
        "rb.from": "From version",
        "rb.to": "To version",
        "rb.actor": "By",
        "rb.reason": "Reason",
        "rb.at": "At",
    },
}

EXTRA_KEYS = ("store_uri", "run_url")  # the keys of render_report's `extra` that have a place of their own
SHORT_LIMIT = 120  # names, ids, override values
LONG_LIMIT = 500  # reasons and error messages: enough to act on, short enough to keep a table readable
_UNSAFE_URL = re.compile(r"[\s<>()\[\]\"'`\\|]")
_BACKSLASH_ESCAPED = str.maketrans({c: "\\" + c for c in "\\`*[]|~"})
_HTML_ESCAPED = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape(value: Any, limit: int = SHORT_LIMIT) -> str:
    """`value` as inert Markdown text on one line: no HTML, no links, no table breaks, no @-mentions."""
    text = _truncate(_clean(str(value)), limit)
    text = text.translate(_BACKSLASH_ESCAPED).translate(_HTML_ESCAPED)
    # A zero-width joiner after `@` keeps the text readable but stops GitHub from notifying the user or team.
    return text.replace("@", "@\u200d")


def code(value: Any, limit: int = SHORT_LIMIT) -> str:
    """`value` as an inline code span: nothing inside one is Markdown, HTML or a mention."""
    return "`" + _truncate(_clean(str(value)).replace("`", "'"), limit) + "`"


def _clean(text: str) -> str:
    """Drop control and format characters (bidi overrides, zero-width tricks); fold whitespace to spaces."""
    kept = (" " if ch.isspace() else ch for ch in text if ch.isspace() or not _is_control(ch))
    return " ".join("".join(kept).split())


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn")


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_url(url: Any) -> str | None:
    """`url` when it is a plain http(s) URL that cannot break out of a Markdown link, else None."""
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return None
    return None if _UNSAFE_URL.search(url) or any(_is_control(ch) for ch in url) else url


def outcome(run: RunState) -> str:
    """What became of the run, as one word the status lines, the summary and the JSON twin all agree on."""
    if run.status != "failed":
        return run.status
    if run.operator is not None and run.operator.action == "abort":
        return "aborted"
    if run.rolled_back_to or run.registered is not None or (run.verify is not None and not run.verify.ok):
        return "verification_failed"  # only a failed Verify leaves a failed run with a registered model
    if run.gate is not None and run.gate.decision == "exhausted":
        return "exhausted"
    return "training_failed" if run.error is not None else "failed"


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


def _ordered_metrics(metrics: Mapping[str, float]) -> list[str]:
    """The catalog's order (accuracy, precision, recall, F1, ...) first, anything else after, by name."""
    known = [name for name in METRICS if name in metrics]
    return known + sorted(name for name in metrics if name not in METRICS)


def _item(label: str, value: str) -> str:
    return f"- {label}: {value}"


def _section(title: str, lines: Iterable[str]) -> str:
    return "\n".join([f"## {title}", "", *lines])


def _strings(lang: str) -> dict[str, str]:
    """The table for `lang` ("ja", "en", "en-US"); Japanese, the specification's language, otherwise."""
    return STRINGS.get(lang.lower()[:2], STRINGS["ja"])


def render_report(
    run: RunState, lang: str = "ja", plots: Sequence[str] = (), extra: Mapping[str, Any] | None = None
) -> str:
    """The run's Markdown report, §7.2 section for section, then attempts, plots and the timeline.

    `plots` are image paths relative to the report (see mlops.history.plot_links). `extra` may carry
    `store_uri` (e.g. s3://bucket, prefixed to the model's store key), `run_url` (the Actions run); any other
    key is listed under the basic information as `- key: value`.
    """
    t, extra = _strings(lang), extra or {}
    sections = [
        f"# {t['title']}",
        _section(t["h.basic"], _basic_lines(run, t, extra)),
        _section(t["h.dataset"], _dataset_lines(run, t)),
        _section(t["h.hyperparameters"], _hyperparameter_lines(run, t)),
        _section(t["h.evaluation"], _evaluation_lines(run, t)),
        _section(t["h.model"], _model_lines(run, t, extra.get("store_uri"))),
        _section(t["h.status"], status_lines(run, lang)),
        _section(t["h.attempts"], _attempt_table(run, t)),
    ]
    if plots:
        sections.append(_section(t["h.plots"], _plot_lines(plots)))
    sections.append(_section(t["h.timeline"], _timeline_lines(run, t)))
    return "\n\n".join(sections) + "\n"


def _basic_lines(run: RunState, t: dict[str, str], extra: Mapping[str, Any]) -> list[str]:
    request = run.request
    lines = [
        _item(t["training_id"], escape(run.training_id)),
        _item(t["learning_type"], t.get(request.learning_type, escape(request.learning_type))),
        _item(t["algorithm"], escape(_algorithm_summary(request.algorithm))),
        _item(t["executed_at"], format_time(run.created_at)),
    ]
    if request.task:
        lines.append(_item(t["task"], escape(request.task)))
    lines += _link_lines(run, t, extra)
    return lines


def _algorithm_summary(name: str) -> str:
    spec = ALGORITHMS.get(name)
    return (spec.summary or name) if spec else name


def _link_lines(run: RunState, t: dict[str, str], extra: Mapping[str, Any]) -> list[str]:
    lines = []
    if (issue := _issue_text(run)) is not None:
        lines.append(_item(t["issue"], issue))
    if url := safe_url(extra.get("run_url")):
        lines.append(_item(t["run_url"], url))
    others = {key: value for key, value in extra.items() if key not in EXTRA_KEYS}
    return lines + [_item(escape(key), escape(value, LONG_LIMIT)) for key, value in others.items()]


def _issue_text(run: RunState) -> str | None:
    issue = run.issue
    if issue.number is None and not issue.url:
        return None
    name = f"{issue.repository or ''}#{issue.number}" if issue.number is not None else "issue"
    title = f" {escape(issue.title)}" if issue.title else ""
    url = safe_url(issue.url)
    return (f"[{escape(name)}]({url})" if url else escape(name)) + title


def _dataset_lines(run: RunState, t: dict[str, str]) -> list[str]:
    if run.request.learning_type == "reinforcement":
        return _environment_lines(run, t)
    lines = [_item(t["dataset_id"], escape(run.request.dataset_id or t["unknown"]))]
    data = run.data
    if data is None:
        return lines
    lines.append(_item(t["rows_train"], t["rows"].format(n=data.rows_train)))
    lines.append(_item(t["rows_test"], t["rows"].format(n=data.rows_test)))
    if data.target:
        lines.append(_item(t["target"], escape(data.target)))
    if data.digest:
        lines.append(_item(t["digest"], code(data.digest)))
    return lines


def _environment_lines(run: RunState, t: dict[str, str]) -> list[str]:
    lines = [_item(t["environment"], escape(run.request.environment or t["unknown"]))]
    episodes = _effective_hyperparameters(run).get("eval_episodes")
    if isinstance(episodes, int):
        lines.append(_item(t["eval_episodes"], f"{episodes:,}"))
    return lines


def _effective_hyperparameters(run: RunState) -> dict[str, Any]:
    """What the final attempt trained with; before any attempt, what the request would train with."""
    if run.attempt is not None:
        return run.attempt.hyperparameters
    try:
        return run.request.effective_hyperparameters()
    except KeyError:  # an algorithm this release does not know: show what was asked for
        return dict(run.request.hyperparameters)


def _hyperparameter_lines(run: RunState, t: dict[str, str]) -> list[str]:
    params = _effective_hyperparameters(run)
    return [_item(escape(name), format_param(value)) for name, value in params.items()] or [t["none"]]


def _evaluation_lines(run: RunState, t: dict[str, str]) -> list[str]:
    metrics = run.attempt.metrics if run.attempt else {}
    gate_metric = _gate_metric(run)
    lines = []
    for name in _ordered_metrics(metrics):
        mark = _gate_mark(run, t) if name == gate_metric else ""
        lines.append(_item(metric_label(name), format_value(metrics[name]) + mark))
    return lines or [t["none"]]


def _gate_metric(run: RunState) -> str | None:
    if run.gate is not None:
        return run.gate.metric
    return run.attempt.metric if run.attempt and run.attempt.metric else run.request.metric


def _gate_mark(run: RunState, t: dict[str, str]) -> str:
    spec = METRICS.get(_gate_metric(run) or "")
    comparison = run.gate.comparison if run.gate else (spec.comparison if spec else ">=")
    return t["gate_mark"].format(comparison=comparison, threshold=format_threshold(_threshold(run)))


def _threshold(run: RunState) -> float:
    return run.gate.threshold if run.gate is not None else run.request.evaluation_threshold


def _model_lines(run: RunState, t: dict[str, str], store_uri: Any) -> list[str]:
    model = run.registered
    if model is None:
        return [t["not_registered"]]
    lines = [_item(t["model_id"], escape(model.model_id)), _item(t["version"], escape(model.version))]
    lines.append(_store_line(model.artifact_key, store_uri, t))
    if model.registry_id:
        label = t["registry_arn"] if model.registry_id.startswith("arn:") else t["registry_id"]
        lines.append(_item(label, escape(model.registry_id, LONG_LIMIT)))
    if outcome(run) == "verification_failed":
        current = t["rolled_back_mark"].format(version=_current_version(run, t))
        lines.append(_item(t["current_version"], current))
    return lines


def _store_line(artifact_key: str, store_uri: Any, t: dict[str, str]) -> str:
    key = artifact_key if artifact_key.endswith("/") else artifact_key + "/"
    if isinstance(store_uri, str) and store_uri:
        label = t["s3_path"] if store_uri.startswith("s3://") else t["store_path"]
        return _item(label, escape(f"{store_uri.rstrip('/')}/{key}", LONG_LIMIT))
    return _item(t["store_path"], escape(key, LONG_LIMIT))


def _current_version(run: RunState, t: dict[str, str]) -> str:
    return escape(run.rolled_back_to) if run.rolled_back_to else t["no_previous"]


def status_lines(run: RunState, lang: str = "ja") -> list[str]:
    """The status: one line saying what became of the run, plus what to do next when it waits."""
    t, kind = _strings(lang), outcome(run)
    line = t[f"s.{kind}"].format(**_status_fields(run, t))
    if kind == "awaiting_operator":
        return [line, "", t["s.awaiting_hint"]]
    if kind == "verification_failed" and run.verify is not None:
        return [line, "", t["s.verify_detail"].format(detail=escape(run.verify.detail, LONG_LIMIT))]
    return [line]


def _status_fields(run: RunState, t: dict[str, str]) -> dict[str, Any]:
    decision = run.operator
    return {
        "threshold": format_threshold(_threshold(run)),
        "metric": metric_label(_gate_metric(run) or ""),
        "value": format_value(run.gate.value) if run.gate else "-",
        "used": run.retrains_used,
        "max": run.request.max_retry,
        "left": max(0, run.request.max_retry - run.retrains_used),
        "reason": escape(decision.reason, LONG_LIMIT) if decision and decision.reason else t["no_reason"],
        "actor": escape(decision.actor) if decision and decision.actor else t["unknown"],
        "state": escape(run.error.state) if run.error and run.error.state else t["unknown"],
        "error": _error_text(run),
        "version": escape(run.registered.version) if run.registered else "-",
        "current": _current_version(run, t),
    }


def _error_text(run: RunState) -> str:
    if run.error is None:
        return "-"
    return escape(f"{run.error.type}: {run.error.message}", LONG_LIMIT)


def _attempt_table(run: RunState, t: dict[str, str]) -> list[str]:
    if not run.attempts:
        return [t["none"]]
    metric = _gate_metric(run)
    headers = [
        t["t.attempt"],
        t["t.overrides"],
        t["t.value"].format(metric=metric_label(metric or "")),
        t["t.result"],
        t["t.duration"],
        t["t.tries"],
    ]
    rows = [_attempt_row(attempt, metric, t) for attempt in run.attempts]
    return [tabulate(rows, headers, tablefmt="github", disable_numparse=True)]


def _attempt_row(attempt: Attempt, metric: str | None, t: dict[str, str]) -> list[str]:
    value = attempt.value if attempt.value is not None else attempt.metrics.get(metric or "")
    return [
        str(attempt.number),
        _overrides_text(attempt.overrides) if attempt.overrides else t["first_attempt"],
        format_value(value) if value is not None else "-",
        _attempt_result(attempt, t),
        format_duration(attempt.duration_seconds),
        str(attempt.tries),
    ]


def _overrides_text(overrides: Mapping[str, Any]) -> str:
    pairs = (
        f"{key}={value if isinstance(value, str) else json.dumps(value, default=str)}"
        for key, value in overrides.items()
    )
    return escape(", ".join(pairs), LONG_LIMIT)


def _attempt_result(attempt: Attempt, t: dict[str, str]) -> str:
    if attempt.error:
        return t["error"]
    if attempt.passed is None:
        return "-"
    return t["pass"] if attempt.passed else t["miss"]


def _plot_lines(plots: Sequence[str]) -> list[str]:
    return [f"![{escape(PurePosixPath(path).stem)}]({quote(str(path))})" for path in plots]


def _timeline_lines(run: RunState, t: dict[str, str]) -> list[str]:
    lines = [
        f"- {format_time(e.at)} **{escape(e.state)}** {escape(e.message, LONG_LIMIT)}" for e in run.events
    ]
    return lines or [t["none"]]


def render_summary(run: RunState, lang: str = "ja", history_url: str | None = None) -> str:
    """A short status block for the issue's status comment and the Actions job summary."""
    t = _strings(lang)
    blocks = ["### " + status_lines(run, lang)[0], *_summary_table(run, t)]
    facts = [_item(t["training_id"], code(run.training_id))]
    if run.registered is not None:
        facts.append(
            _item(t["version"], f"{escape(run.registered.version)} ({escape(run.registered.model_id)})")
        )
    facts.append(_item(t["summary.history"], _history_link(run, history_url)))
    return "\n\n".join([*blocks, "\n".join(facts)]) + "\n"


def _summary_table(run: RunState, t: dict[str, str]) -> list[str]:
    gate = run.gate
    if gate is None:
        return []
    headers = [t["summary.metric"], t["summary.value"], t["summary.threshold"], t["summary.result"]]
    row = [
        metric_label(gate.metric),
        format_value(gate.value),
        f"{gate.comparison} {format_threshold(gate.threshold)}",
        t["pass"] if gate.passed else t["miss"],
    ]
    return [tabulate([row], headers, tablefmt="github", disable_numparse=True)]


def _history_link(run: RunState, history_url: str | None) -> str:
    path = run.report or f"training_history/{run.training_id}.md"
    url = safe_url(history_url)
    return f"[{escape(path, LONG_LIMIT)}]({url})" if url else code(path, LONG_LIMIT)


def report_json(run: RunState) -> dict[str, Any]:
    """The report's essentials as plain JSON (finite floats only, ISO timestamps), for tools and the chain."""
    document = {
        "training_id": run.training_id,
        "status": run.status,
        "outcome": outcome(run),
        "request": run.request.model_dump(mode="json", exclude_none=True),
        "issue": run.issue.model_dump(mode="json", exclude_none=True) or None,
        "metrics": dict(run.attempt.metrics) if run.attempt else {},
        "gate": _dump(run.gate),
        "model": _model_json(run),
        "data": _data_json(run),
        "attempts": [_attempt_json(attempt) for attempt in run.attempts],
        "verify": _dump(run.verify),
        "operator": _dump(run.operator),
        "error": _dump(run.error),
        "created_at": _iso(run.created_at),
        "finished_at": _iso(run.finished_at),
    }
    return _finite(document)


def _dump(model: Any) -> Any:
    return None if model is None else model.model_dump(mode="json")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _model_json(run: RunState) -> dict[str, Any] | None:
    if run.registered is None and run.rolled_back_to is None:
        return None
    return {
        **(_dump(run.registered) or {}),
        "previous_version": run.previous_version,
        "rolled_back_to": run.rolled_back_to,
    }


def _data_json(run: RunState) -> dict[str, Any] | None:
    data = run.data
    if data is None:
        return {"environment": run.request.environment} if run.request.environment else None
    return {
        "dataset_id": data.dataset_id,
        "task": data.task,
        "target": data.target,
        "digest": data.digest,
        "rows_train": data.rows_train,
        "rows_test": data.rows_test,
    }


def _attempt_json(attempt: Attempt) -> dict[str, Any]:
    fields = (
        "number",
        "overrides",
        "hyperparameters",
        "algorithm",
        "metric",
        "value",
        "passed",
        "tries",
        "duration_seconds",
        "started_at",
        "finished_at",
        "error",
    )
    return attempt.model_dump(mode="json", include=set(fields))


def _finite(value: Any) -> Any:
    """NaN and infinity are not JSON: they become null, so every consumer (and the hash chain) parses it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def render_rollback(rollback: Mapping[str, Any], lang: str = "ja") -> str:
    """The Markdown of a rollback record: who rolled which model back, from and to which version, and why."""
    t, fields = _strings(lang), _rollback_fields(rollback, _strings(lang))
    sentence = t["rb.sentence_automatic" if rollback.get("automatic") else "rb.sentence"].format(**fields)
    labels = {
        "model": "rb.model",
        "from_version": "rb.from",
        "to_version": "rb.to",
        "actor": "rb.actor",
        "reason": "rb.reason",
        "at": "rb.at",
    }
    lines = [_item(t[label], fields[key]) for key, label in labels.items()]
    return "\n\n".join([f"# {t['rb.title']}", sentence, "\n".join(lines)]) + "\n"


def _rollback_fields(rollback: Mapping[str, Any], t: dict[str, str]) -> dict[str, str]:
    automatic = bool(rollback.get("automatic"))
    return {
        "model": escape(rollback.get("model_id") or t["unknown"]),
        "from_version": escape(rollback.get("from_version") or "-"),
        # an automatic rollback of a first version leaves no version current
        "to_version": escape(rollback.get("to_version") or t["no_previous"]),
        "actor": t["rb.automatic"] if automatic else escape(rollback.get("actor") or t["unknown"]),
        "reason": escape(rollback.get("reason") or t["no_reason"], LONG_LIMIT),
        "at": _rollback_time(rollback.get("at")),
    }


def _rollback_time(at: Any) -> str:
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            return escape(at)
    return format_time(at if isinstance(at, datetime) else None)
