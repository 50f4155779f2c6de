"""The `mlops` subcommands: each parses its arguments, calls the core, and prints for people or machines."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, Literal

from mlops.cli_aws import register_aws
from mlops.cli_common import EXIT_FOR_STATUS, emit, require_file
from mlops.cli_init import register_init
from mlops.commands import parse_command
from mlops.errors import UsageError
from mlops.pipeline.models import IssueRef, OperatorDecision, RunState, new_training_id
from mlops.settings import Settings


def tabulate(*args: Any, **kwargs: Any) -> str:
    """tabulate's own, imported when first used: `run` prints its table only once the work is done."""
    from tabulate import tabulate as render

    return render(*args, **kwargs)


def register_commands(commands: Any) -> None:
    _validate(commands)
    _run(commands)
    _resume(commands)
    _status(commands)
    _runs(commands)
    _models(commands)
    _rollback(commands)
    _history(commands)
    _datasets(commands)
    register_init(commands)
    register_aws(commands)


def _command(commands: Any, name: str, help_text: str, example: str, handler: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help_text,
        description=f"{help_text}\n\nexample:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document for machines")
    parser.set_defaults(handler=handler)
    return parser


def _request_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="an issue body (form-rendered or YAML) or a request YAML")
    parser.add_argument("--title", help="the issue title; names the model: '[MLOps] モデル学習リクエスト: <name>'")
    parser.add_argument(
        "--template",
        help="the issue form a form-rendered body came from (default: the bundled .github/ISSUE_TEMPLATE form)",
    )


# --- validate ---------------------------------------------------------------------------------------------


def _validate(commands: Any) -> None:
    parser = _command(
        commands,
        "validate",
        "check a training request without running it",
        "mlops validate mlops/examples/iris-issue.md --json",
        _do_validate,
    )
    _request_args(parser)


def _do_validate(args: argparse.Namespace, settings: Settings) -> int:
    request = _read_request(args, settings)
    data = request.model_dump(mode="json", exclude_none=True)
    emit(args, data, lambda: "valid request\n" + tabulate(_flatten(data).items(), tablefmt="plain"))
    return 0


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# --- run / resume / status --------------------------------------------------------------------------------


def _run(commands: Any) -> None:
    parser = _command(
        commands,
        "run",
        "run the whole pipeline on this machine for one training request",
        "mlops run mlops/examples/iris-request.yml",
        _do_run,
    )
    _request_args(parser)
    parser.add_argument("--issue", type=int, help="the issue number the request came from (for the report)")
    parser.add_argument("--repository", help="owner/name of the repository the issue is in")


def _read_request(args: argparse.Namespace, settings: Settings) -> Any:
    from mlops.intake import request_from_file

    return request_from_file(
        require_file(args.path), title=args.title, template=args.template, dataset_root=settings.store_dir
    )


def _do_run(args: argparse.Namespace, settings: Settings) -> int:
    request = _read_request(args, settings)
    services = _services(args, settings)
    run = RunState(
        training_id=new_training_id(),
        request=request,
        source=args.path,
        issue=IssueRef(title=args.title, number=args.issue, repository=args.repository),
    )
    _say(args, f"{run.training_id}: {request.algorithm} on {request.dataset_id or request.environment}")
    return _walk(args, services, lambda: services.runner.start(run))


def _resume(commands: Any) -> None:
    parser = _command(
        commands,
        "resume",
        "continue a paused or interrupted run",
        'mlops resume train-20250110-123456-1a2b "/mlops retrain n_estimators=300"',
        _do_resume,
    )
    parser.add_argument("training_id", metavar="TRAINING_ID")
    parser.add_argument(
        "command",
        nargs="?",
        metavar="COMMAND",
        help='the operator\'s answer: "/mlops retrain key=value ..." or "/mlops abort [reason]"; '
        "omit it to continue a run that was interrupted",
    )
    parser.add_argument("--actor", default=None, help="who answers (recorded in the history)")


def _do_resume(args: argparse.Namespace, settings: Settings) -> int:
    decision = _decision(args.command, args.actor) if args.command else None
    services = _services(args, settings)
    return _walk(args, services, lambda: services.runner.resume(args.training_id, decision))


def _decision(comment: str, actor: str | None) -> OperatorDecision:
    command = parse_command(comment if comment.lstrip().startswith("/mlops") else f"/mlops {comment}")
    if command.name not in ("retrain", "abort"):
        raise UsageError(f"COMMAND: '{command.name}' does not continue a run; use retrain or abort")
    action: Literal["retrain", "abort"] = "retrain" if command.name == "retrain" else "abort"
    return OperatorDecision(action=action, overrides=command.overrides, reason=command.reason, actor=actor)


def _status(commands: Any) -> None:
    parser = _command(commands, "status", "show where a run is", "mlops status train-20250110-123456-1a2b", _do_status)
    parser.add_argument("training_id", metavar="TRAINING_ID")


def _do_status(args: argparse.Namespace, settings: Settings) -> int:
    run, next_state = _services(args, settings, quiet=True).runs.load(args.training_id)
    emit(args, {**run_summary(run), "next_state": next_state}, lambda: _describe_run(run, next_state))
    return 0


def _services(args: argparse.Namespace, settings: Settings, quiet: bool = False, writes: bool = False) -> Any:
    from mlops.services import build_services

    if quiet:
        return build_services(settings, writes_history=writes, read_only=not writes)
    return build_services(
        settings,
        progress=lambda line: _progress(line),
        on_step=lambda state, run: _say(args, f"  → {state}"),
        writes_history=True,
        standby=getattr(args, "training_worker", None),
    )


def _progress(line: str) -> None:
    if line.startswith("[mlops]"):
        print(f"    {line}", file=sys.stderr, flush=True)


def _say(args: argparse.Namespace, message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _walk(args: argparse.Namespace, services: Any, walk: Callable[[], RunState]) -> int:
    """Walk a run as far as it goes, print where it got to, then tidy up (once the user has the result)."""
    try:
        run = walk()
        emit(args, run_summary(run), lambda: _describe_run(run, None))
        services.tidy()
        return EXIT_FOR_STATUS[run.status]
    finally:
        services.close()


def run_summary(run: RunState) -> dict[str, Any]:
    attempt = run.attempt
    return {
        "training_id": run.training_id,
        "status": run.status,
        "model_id": run.request.model_id,
        "version": run.registered.version if run.registered and not run.rolled_back_to else None,
        "metrics": attempt.metrics if attempt else {},
        "gate": run.gate.model_dump() if run.gate else None,
        "attempts": len(run.attempts),
        "report": run.report,
        "error": run.error.message if run.error else None,
        "rolled_back_to": run.rolled_back_to,
        "created_at": run.created_at.isoformat(),
    }


def _describe_run(run: RunState, next_state: str | None) -> str:
    summary = run_summary(run)
    rows = [(k, v) for k, v in summary.items() if k not in ("metrics", "gate") and v is not None]
    rows += [(f"metric {name}", f"{value:.4f}") for name, value in summary["metrics"].items()]
    text = tabulate(rows, tablefmt="plain")
    if run.status == "awaiting_operator":
        text += (
            f"\n\nThe run is waiting for an operator. Continue it with:\n"
            f'  mlops resume {run.training_id} "/mlops retrain key=value ..."\n'
            f'  mlops resume {run.training_id} "/mlops abort reason"'
        )
    return text


# --- runs / models / rollback / history / datasets ----------------------------------------------------------


def _runs(commands: Any) -> None:
    parser = _command(commands, "runs", "list runs, oldest first", "mlops runs list --json", _do_runs)
    parser.add_argument("action", choices=["list"], nargs="?", default="list")


def _do_runs(args: argparse.Namespace, settings: Settings) -> int:
    runs = [run_summary(run) for run in _services(args, settings, quiet=True).runs.runs()]
    columns = ("training_id", "status", "model_id", "version", "attempts", "created_at")
    emit(
        args,
        runs,
        lambda: tabulate([[r[c] for c in columns] for r in runs], headers=columns) if runs else "no runs yet",
    )
    return 0


def _models(commands: Any) -> None:
    parser = _command(
        commands,
        "models",
        "list models and their versions, or show one version",
        "mlops models list iris-classifier",
        _do_models,
    )
    parser.add_argument("action", choices=["list", "show"])
    parser.add_argument("model_id", nargs="?", metavar="MODEL_ID")
    parser.add_argument("version", nargs="?", metavar="VERSION", help="with show: the version (default: current)")


def _do_models(args: argparse.Namespace, settings: Settings) -> int:
    registry = _services(args, settings, quiet=True).ports.registry
    if args.action == "show":
        if not args.model_id:
            raise UsageError("MODEL_ID: say which model to show, e.g. mlops models show iris-classifier")
        record = registry.show(args.model_id, args.version)
        emit(args, record, lambda: tabulate(_flatten(record).items(), tablefmt="plain"))
    elif args.model_id:
        versions = registry.versions(args.model_id)
        emit(args, versions, lambda: _versions_table(versions))
    else:
        models = registry.models()
        emit(args, models, lambda: tabulate(models, headers="keys") if models else "no models registered yet")
    return 0


def _versions_table(versions: list[dict[str, Any]]) -> str:
    rows = [
        (
            "*" if v["current"] else "",
            v["version"],
            v.get("status"),
            v.get("training_id"),
            _metric_text(v),
            v.get("created_at"),
        )
        for v in versions
    ]
    return tabulate(rows, headers=("current", "version", "status", "training_id", "metric", "created_at"))


def _metric_text(version: dict[str, Any]) -> str:
    metric = version.get("metric")
    value = (version.get("metrics") or {}).get(metric)
    return f"{metric}={value:.4f}" if isinstance(value, float) else ""


def _rollback(commands: Any) -> None:
    parser = _command(
        commands,
        "rollback",
        "make an earlier version of a model current again",
        'mlops rollback iris-classifier --to v1.0.0 --reason "accuracy dropped"',
        _do_rollback,
    )
    parser.add_argument("model_id", metavar="MODEL_ID")
    parser.add_argument("--to", metavar="VERSION", help="the version to make current (default: the previous one)")
    parser.add_argument("--reason", default="", help="why (recorded in the history)")
    parser.add_argument("--actor", default=None, help="who (default: the current user)")


def _do_rollback(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    services = _services(args, settings, quiet=True, writes=True)
    actor = args.actor or getpass.getuser()
    record = services.ports.registry.rollback(args.model_id, args.to, actor=actor, reason=args.reason)
    path = services.ports.history.record_rollback(record, lang=settings.report_lang)
    record = {**record, "history": str(path)}
    emit(
        args,
        record,
        lambda: (
            f"{record['model_id']}: {record['from_version']} -> {record['to_version']} is current (recorded in {path})"
        ),
    )
    return 0


def _history(commands: Any) -> None:
    parser = _command(
        commands,
        "history",
        "list the training history or verify it has not been tampered with",
        "mlops history verify",
        _do_history,
    )
    parser.add_argument("action", choices=["list", "verify"])
    parser.add_argument(
        "--expect-head",
        metavar="SHA256",
        help="with verify: the newest record's sha256 as you noted it earlier (verify prints it); "
        "catches a deleted newest record, which the chain alone cannot",
    )


def _do_history(args: argparse.Namespace, settings: Settings) -> int:
    from mlops.history import HistoryLog

    log = HistoryLog(settings.history_dir)
    if args.action == "list":
        entries = log.entries()
        emit(args, entries, lambda: tabulate(entries, headers="keys") if entries else "no history yet")
        return 0
    problems, head = log.verify(expect_head=args.expect_head), log.head()
    records = len(log.entries())
    intact = f"history intact: {records} record(s) verified; head sha256 {head['sha256'] if head else '-'}"
    emit(
        args,
        {"ok": not problems, "problems": problems, "records": records, "head": head},
        lambda: "\n".join(problems) if problems else intact,
    )
    return 1 if problems else 0


def _datasets(commands: Any) -> None:
    parser = _command(commands, "datasets", "list the datasets a request can name", "mlops datasets list", _do_datasets)
    parser.add_argument("action", choices=["list"], nargs="?", default="list")


def _do_datasets(args: argparse.Namespace, settings: Settings) -> int:
    from mlops import data

    ids = data.list_datasets(settings.store_dir)
    rows = [
        {
            "dataset_id": i,
            "bundled": i in data.BUNDLED,
            "task": data.BUNDLED[i][1] if i in data.BUNDLED else None,
        }
        for i in ids
    ]
    emit(args, rows, lambda: tabulate(rows, headers="keys"))
    return 0
