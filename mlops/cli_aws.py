"""`mlops aws deploy` and `mlops aws status`: the command line of mlops/deploy/ (registered by mlops/cli_commands.py).

Nothing AWS is imported until one of them runs: every other command's start-up stays as it was.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from mlops.cli_common import emit
from mlops.errors import UsageError
from mlops.settings import Settings

DEPLOY_DESCRIPTION = """\
deploy mlops-issueops to AWS: build the Lambda and training source bundles, upload them to the deployment bucket
(mlops-deploy-<account>-<region>, made on first use), create or update the pipeline stack (NAME) and the GitHub
OIDC stack (NAME-github) through change sets, showing CloudFormation's events, then print the repository variables
the workflows read (or set them with --set-variables). Run it from a checkout of mlops-issueops, with AWS
credentials that may create the stacks' resources (IAM roles included). Exit 0 deployed (or nothing to change),
1 a stack failed (its reasons are printed), 2 usage.

examples:
  mlops aws deploy --stack mlops --repository octo-org/models --region eu-west-1
  GITHUB_TOKEN=... mlops aws deploy --stack mlops --repository o/models --set-variables --store-github-token
  mlops aws deploy --stack mlops --repository octo-org/models --environment production --no-cloudtrail"""

STATUS_DESCRIPTION = """\
show each stack of a deployment: its state, when it last changed, and its outputs. Without --stack, every
deployment in the region. Exit 0 when every stack is CREATE_COMPLETE or UPDATE_COMPLETE, 1 otherwise.

examples:
  mlops aws status --stack mlops
  mlops aws status --region eu-west-1 --json"""


def register_aws(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "aws", help="deploy to AWS and show the deployment", description="deploy to AWS and show the deployment",
    )
    parser.set_defaults(handler=lambda args, settings: _usage(parser))
    subcommands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _deploy_parser(subcommands)
    _status_parser(subcommands)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _subcommand(subcommands: Any, name: str, help_text: str, description: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        name, help=help_text, description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document for machines")
    parser.add_argument("--region", help="the AWS region (default: AWS_REGION / AWS_DEFAULT_REGION)")
    return parser


def _deploy_parser(subcommands: Any) -> None:
    parser = _subcommand(subcommands, "deploy", "create or update the stacks", DEPLOY_DESCRIPTION)
    parser.add_argument("--stack", required=True, metavar="NAME",
                        help="the pipeline stack's name; the OIDC stack is NAME-github")
    parser.add_argument("--repository", required=True, metavar="OWNER/NAME",
                        help="the GitHub repository whose workflows may use the stacks")
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument("--branch", metavar="B",
                       help="the branch whose workflows may assume the role (default: main, or as deployed)")
    trust.add_argument("--environment", metavar="E",
                       help="trust jobs of this GitHub environment instead of a branch")
    parser.add_argument("--notification-email", metavar="E", help="subscribe this address to the SNS topic")
    parser.add_argument("--no-cloudtrail", dest="cloudtrail", action="store_const", const=False, default=None,
                        help="create no CloudTrail trail (the account has an organisation trail)")
    parser.add_argument("--manage-sagemaker-log-group", action=argparse.BooleanOptionalAction, default=None,
                        help="create /aws/sagemaker/TrainingJobs in the stack with a 90-day retention (only in an "
                        "account and region where no training job ran yet; see docs/aws-deploy.md)")
    parser.add_argument("--set-variables", action="store_true",
                        help="set the repository variables through the GitHub API (token: GITHUB_TOKEN or GH_TOKEN)")
    parser.add_argument("--store-github-token", action="store_true",
                        help="put GITHUB_TOKEN (or GH_TOKEN) into the stack's secret: the token the Lambdas comment "
                        "and commit with")
    parser.add_argument("--wheelhouse", type=Path, metavar="DIR",
                        help="install the Lambda's dependencies from these wheels only (pip --no-index)")
    parser.add_argument("--templates", type=Path, metavar="DIR",
                        help="the directory of the templates (default: infra/cloudformation/ of this checkout)")
    parser.set_defaults(handler=_do_deploy)


def _status_parser(subcommands: Any) -> None:
    parser = _subcommand(subcommands, "status", "show the stacks' state and outputs", STATUS_DESCRIPTION)
    parser.add_argument("--stack", metavar="NAME", help="the deployment (the pipeline stack's name)")
    parser.set_defaults(handler=_do_status)


def _clients(args: argparse.Namespace, settings: Settings) -> Any:
    from mlops.backends.aws.clients import AwsClients

    aws = replace(settings.aws, region=args.region) if args.region else settings.aws
    return AwsClients(aws)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _do_deploy(args: argparse.Namespace, settings: Settings) -> int:
    from mlops.deploy.deploy import Deployment, DeployOptions, validate

    options = DeployOptions(
        stack=args.stack, repository=args.repository, branch=args.branch, environment=args.environment,
        notification_email=args.notification_email, cloudtrail=args.cloudtrail,
        manage_sagemaker_log_group=args.manage_sagemaker_log_group, wheelhouse=args.wheelhouse,
        templates=args.templates,
    )
    validate(options)
    # a missing token is said before anything is deployed
    token = _github_token(args) if args.set_variables or args.store_github_token else None
    clients = _clients(args, settings)
    result = Deployment(options, clients, _say).run()
    if args.store_github_token and token:
        _store_token(clients, result, token)
    variables_set = _set_variables(args.repository, result.variables, token) if args.set_variables and token else {}
    emit(args, _deploy_document(result, variables_set), lambda: _describe_deploy(args, result, variables_set))
    return 0


def _github_token(args: argparse.Namespace) -> str:
    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if not token:
        option = "--set-variables" if args.set_variables else "--store-github-token"
        raise UsageError(f"{option}: no token; set GITHUB_TOKEN or GH_TOKEN to a token of the repository (to set "
                         "variables: Variables read and write; for the Lambdas: Issues and Contents read and write)")
    return token


def _store_token(clients: Any, result: Any, token: str) -> None:
    from mlops.deploy.secrets import store_github_token

    arn = store_github_token(clients.client("secretsmanager"), result.stacks[0].outputs, token)
    _say(f"stored the GitHub token in {arn}")


def _set_variables(repository: str, variables: dict[str, str], token: str) -> dict[str, str]:
    from mlops.github.client import Connection, GitHubClient

    api_url = os.environ.get("GITHUB_API_URL") or "https://api.github.com"
    client = GitHubClient(Connection(token=token, api_url=api_url, repository=repository))
    return {name: client.set_variable(name, value) for name, value in variables.items()}


def _deploy_document(result: Any, variables_set: dict[str, str]) -> dict[str, Any]:
    return {
        "bucket": result.bucket,
        "artifacts": {name: {"key": a.key, "sha256": a.sha256, "uploaded": a.uploaded}
                      for name, a in result.artifacts.items()},
        "stacks": [{"stack": s.name, "stack_id": s.stack_id, "action": s.action, "status": s.status,
                    "outputs": s.outputs} for s in result.stacks],
        "variables": result.variables,
        "variables_set": variables_set,
    }


def _describe_deploy(args: argparse.Namespace, result: Any, variables_set: dict[str, str]) -> str:
    lines = [f"{s.name}: {s.action} ({s.status})" for s in result.stacks]
    if variables_set:
        lines += ["", f"Repository variables of {args.repository}:"]
        lines += [f"  {name} = {result.variables[name]} ({state})" for name, state in variables_set.items()]
        return "\n".join(lines)
    lines += ["", f"Set these repository variables of {args.repository} (or rerun with --set-variables):"]
    lines += [f"  gh variable set {name} --repo {args.repository} --body '{value}'"
              for name, value in result.variables.items()]
    return "\n".join(lines)


def _do_status(args: argparse.Namespace, settings: Settings) -> int:
    from mlops.deploy.status import describe, healthy, stack_status

    stacks = stack_status(_clients(args, settings).client("cloudformation"), args.stack)
    emit(args, {"stacks": stacks, "healthy": healthy(stacks)}, lambda: describe(stacks))
    return 0 if healthy(stacks) else 1
