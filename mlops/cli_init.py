"""`mlops init [PATH]`: the command line of mlops/init_repo.py (registered by mlops/cli_commands.py)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import Any

from mlops.cli_common import emit
from mlops.init_repo import ACTION_REPOSITORY, DEFAULT_REF, VARIABLES, InitResult, init_repository
from mlops.settings import Settings

DESCRIPTION = f"""\
set a repository up for mlops-issueops: copy the Issue Form (.github/ISSUE_TEMPLATE/) and the workflows
(.github/workflows/mlops-*.yml) into it, with the action pinned to --action-ref, and list the repository
variables to set. A file that exists and differs is left alone (exit 2) unless --force.

examples:
  mlops init
  mlops init ../my-models --action-ref 0123456789abcdef0123456789abcdef01234567
  mlops init --action-ref my-org/mlops-issueops@{DEFAULT_REF} --json"""


def register_init(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "init",
        help="set a repository up: the Issue Form, the workflows, the pinned action",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document for machines")
    parser.add_argument("path", nargs="?", default=".", metavar="PATH", help="the repository (default: .)")
    parser.add_argument("--force", action="store_true", help="overwrite files that differ from the bundled ones")
    parser.add_argument(
        "--action-ref",
        default=DEFAULT_REF,
        metavar="REF",
        help=f"the action's version: a commit SHA (recommended), a tag or a branch of {ACTION_REPOSITORY}, "
        f"or OWNER/REPO@REF for a fork (default: {DEFAULT_REF})",
    )
    parser.set_defaults(handler=_do_init)


def _do_init(args: argparse.Namespace, settings: Settings) -> int:
    result = init_repository(args.path, force=args.force, action_ref=args.action_ref)
    warnings = [] if result.pinned else [_unpinned_warning(result)]
    problems = [
        f"{path}: differs from the bundled file and was left as it is; compare them, then rerun with --force "
        "to overwrite it"
        for path in result.left_alone
    ]
    emit(args, _document(result, warnings, problems), lambda: _describe(result))
    for line in (*(f"warning: {w}" for w in warnings), *problems):  # after the listing, where people look
        print(line, file=sys.stderr)
    return 2 if problems else 0


def _unpinned_warning(result: InitResult) -> str:
    repository, _, ref = result.action.partition("/action@")
    return (
        f"the workflows use {result.action}, which is not pinned to a commit: a tag or branch can be moved to "
        "other code, and zizmor reports it (unpinned-uses). Pin the commit it points to: "
        f"`git ls-remote https://github.com/{repository} {ref}`, then "
        "`mlops init --force --action-ref <that 40-character SHA>`"
    )


def _document(result: InitResult, warnings: list[str], problems: list[str]) -> dict[str, Any]:
    return {
        "path": str(result.root.resolve()),
        "action": result.action,
        "pinned": result.pinned,
        "files": [asdict(f) for f in result.files],
        "variables": [asdict(v) for v in VARIABLES],
        "warnings": warnings,
        "problems": problems,
    }


def _describe(result: InitResult) -> str:
    width = max(len(v.name) for v in VARIABLES)
    lines = [f"{result.root.resolve()}:"]
    lines += [f"  {f.status:<16} {f.path}" for f in result.files]
    lines += ["", f"The workflows use the action {result.action}.", "", "Still to do:"]
    lines += [
        "  1. Set the repository variables the workflows read (Settings > Secrets and variables > Actions >",
        "     Variables, or `gh variable set NAME --body VALUE`); unset, each takes its default:",
    ]
    lines += [f"       {v.name:<{width}}  {v.meaning} (default: {v.default})" for v in VARIABLES]
    lines += [
        "     With MLOPS_BACKEND=aws, also the AWS stacks' outputs (mlops-issueops docs/aws-deploy.md):",
        "       MLOPS_AWS_ROLE_ARN, MLOPS_AWS_REGION, MLOPS_STATE_MACHINE_ARN, MLOPS_BUCKET, MLOPS_RUN_TABLE,",
        "       MLOPS_KMS_KEY_ID, MLOPS_AUDIT_BUCKET and MLOPS_MODEL_PACKAGE_GROUP_PREFIX",
        "       (`mlops aws deploy --set-variables` sets them all).",
        "  2. Commit .github/ and push it to the default branch.",
        "  3. Start a self-hosted runner (local backend; with aws, MLOPS_RUNNER=ubuntu-latest will do) and let the",
        "     workflows commit training_history/ to the default branch",
        "     (mlops-issueops docs/github.md: the runner, branch protection and the security model).",
    ]
    return "\n".join(lines)
