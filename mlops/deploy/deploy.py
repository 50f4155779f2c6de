"""`mlops aws deploy`: from the templates and this checkout's code to both stacks, in order.

1. the deployment bucket (made on first use), 2. the Lambda bundle, the training source bundle, the state machine
definition and the two templates, uploaded under content-addressed keys, 3. the pipeline stack, 4. the GitHub OIDC
stack with the pipeline stack's outputs as its parameters, 5. the repository variables the workflows read.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.backends.aws.clients import AwsClients, aws_call
from mlops.deploy import stacks
from mlops.deploy.artifacts import DeploymentBucket, Uploaded, deployment_bucket_name
from mlops.deploy.bundle import build_lambda_bundle, reproducible_tarball
from mlops.deploy.changesets import ChangeSetDeployer, StackResult, StackSpec
from mlops.errors import DeployError, UsageError

Say = Callable[[str], None]
SourceBuilder = Callable[[Path], Path]

PIPELINE_TEMPLATE = "mlops-pipeline.yml"
OIDC_TEMPLATE = "github-oidc.yml"
STATE_MACHINE = "state-machine.asl.json"
TEMPLATE_FILES = (PIPELINE_TEMPLATE, OIDC_TEMPLATE, STATE_MACHINE)
OIDC_STACK_SUFFIX = "-github"
GITHUB_OIDC_URL = "token.actions.githubusercontent.com"
DEPLOYMENT_TAG = "mlops-issueops:deployment"  # on both stacks: `mlops aws status` finds them by it
REPOSITORY = re.compile(r"(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/(?P<name>[A-Za-z0-9._-]{1,100})")
STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,118}")  # leaves room for the OIDC stack's suffix


@dataclass(frozen=True)
class DeployOptions:
    stack: str
    repository: str  # owner/name
    branch: str | None = None  # None: the template's default (main), or what the stack has
    environment: str | None = None
    notification_email: str | None = None
    cloudtrail: bool | None = None  # None: the template's default (on), or what the stack has
    manage_sagemaker_log_group: bool | None = None  # None: the template's default (off), or what the stack has
    wheelhouse: Path | None = None
    templates: Path | None = None

    @property
    def oidc_stack(self) -> str:
        return f"{self.stack}{OIDC_STACK_SUFFIX}"


@dataclass(frozen=True)
class DeployResult:
    bucket: str
    artifacts: dict[str, Uploaded]
    stacks: tuple[StackResult, ...]
    variables: dict[str, str]


def validate(options: DeployOptions) -> None:
    """Every usage problem at once, before anything is built or called."""
    problems = []
    if not STACK_NAME.fullmatch(options.stack):
        problems.append(f"--stack: '{options.stack}' is not a stack name: a letter, then letters, digits and "
                        "hyphens, at most 119 characters")
    if not REPOSITORY.fullmatch(options.repository):
        problems.append(f"--repository: '{options.repository}' is not OWNER/NAME as GitHub spells it, "
                        "e.g. octo-org/models")
    if options.branch is not None and options.environment is not None:
        problems.append("--branch, --environment: the role trusts one of them, not both; give one")
    if problems:
        raise UsageError(problems[0], problems)
    template_dir(options.templates)


def template_dir(given: Path | None) -> Path:
    """Where the templates are: --templates, else infra/cloudformation/ in this checkout or the working directory."""
    candidates = [given] if given else [Path("infra/cloudformation"),
                                        Path(__file__).resolve().parents[2] / "infra" / "cloudformation"]
    for directory in candidates:
        if all((directory / name).is_file() for name in TEMPLATE_FILES):
            return directory
    where = f"'{given}'" if given else "infra/cloudformation/ (in the working directory or beside the package)"
    raise UsageError(f"--templates: {where} does not hold {', '.join(TEMPLATE_FILES)}; run from a checkout of "
                     "mlops-issueops or pass --templates DIR")


class Deployment:
    def __init__(self, options: DeployOptions, clients: AwsClients, say: Say, *,
                 source_builder: SourceBuilder | None = None, poll_seconds: float = 5.0) -> None:
        self.options, self.clients, self.say = options, clients, say
        self.region = str(clients.settings.region)
        self.source_builder = source_builder or _engine_source_builder
        self.deployer = ChangeSetDeployer(clients.client("cloudformation"), say, poll_seconds=poll_seconds)

    def run(self) -> DeployResult:
        validate(self.options)
        account = self._account()
        bucket = DeploymentBucket(self.clients.client("s3"), deployment_bucket_name(account, self.region),
                                  account, self.region, self.say)
        bucket.ensure()
        with tempfile.TemporaryDirectory(prefix="mlops-deploy-") as work:
            artifacts = self._upload(bucket, Path(work))
        urls = {name: artifacts[name].url(bucket.name, self.region) for name in (PIPELINE_TEMPLATE, OIDC_TEMPLATE)}
        pipeline = self.deployer.deploy(self._pipeline_spec(bucket.name, artifacts, urls[PIPELINE_TEMPLATE]))
        oidc = self.deployer.deploy(self._oidc_spec(pipeline.outputs, urls[OIDC_TEMPLATE]))
        variables = repository_variables(pipeline, oidc)
        return DeployResult(bucket.name, artifacts, (pipeline, oidc), variables)

    def _account(self) -> str:
        with aws_call("finding the account of these credentials (sts:GetCallerIdentity)"):
            return str(self.clients.client("sts").get_caller_identity()["Account"])

    def _upload(self, bucket: DeploymentBucket, work: Path) -> dict[str, Uploaded]:
        templates = template_dir(self.options.templates)
        self.say("building the Lambda bundle (the mlops package and its dependencies for python3.12)")
        lambda_zip = build_lambda_bundle(work, wheelhouse=self.options.wheelhouse)
        self.say("building the training source bundle")
        source = self.source_builder(work / "training-source")
        artifacts = {
            "lambda": bucket.upload(lambda_zip, "lambda"),
            "training_source": bucket.upload(source, "training"),
        }
        for name in TEMPLATE_FILES:
            artifacts[name] = bucket.upload(templates / name, "templates")
        return artifacts

    def _pipeline_spec(self, bucket: str, artifacts: dict[str, Uploaded], url: str) -> StackSpec:
        cloudtrail = _true_false(self.options.cloudtrail)
        parameters: dict[str, str | None] = {
            "GitHubRepository": self.options.repository,
            "CodeBucket": bucket,
            "LambdaCodeKey": artifacts["lambda"].key,
            "TrainingSourceKey": artifacts["training_source"].key,
            "StateMachineDefinitionKey": artifacts[STATE_MACHINE].key,
            "TrainingInstanceType": None,
            "NotificationEmail": self.options.notification_email,
            "CreateCloudTrail": cloudtrail,
            "AuditRetentionDays": None,
            "ManageSageMakerLogGroup": _true_false(self.options.manage_sagemaker_log_group),
        }
        _check_parameters(parameters, stacks.PIPELINE_PARAMETERS, PIPELINE_TEMPLATE)
        return StackSpec(self.options.stack, url, parameters, {DEPLOYMENT_TAG: self.options.stack})

    def _oidc_spec(self, pipeline_outputs: dict[str, str], url: str) -> StackSpec:
        missing = [name for name in stacks.GITHUB_OIDC_RESOURCE_PARAMETERS if not pipeline_outputs.get(name)]
        if missing:
            raise DeployError(f"stack {self.options.stack}: no output {', '.join(missing)}; the OIDC stack needs "
                              "it (is the pipeline template older than this mlops?)")
        parameters: dict[str, str | None] = {
            **{key: pipeline_outputs[key] for key in stacks.GITHUB_OIDC_RESOURCE_PARAMETERS},
            **self._trust_parameters(),
        }
        _check_parameters(parameters, (*stacks.GITHUB_OIDC_TRUST_PARAMETERS,
                                       *stacks.GITHUB_OIDC_RESOURCE_PARAMETERS), OIDC_TEMPLATE)
        return StackSpec(self.options.oidc_stack, url, parameters, {DEPLOYMENT_TAG: self.options.stack})

    def _trust_parameters(self) -> dict[str, str | None]:
        """Who may assume the role: the repository, and its branch or environment (None: as deployed)."""
        owner, name = self.options.repository.split("/")
        branch, environment = self.options.branch, self.options.environment
        if environment is None and branch is not None:
            environment = ""  # a branch given now replaces an environment trusted before
        return {"GitHubOwner": owner, "GitHubRepo": name, "GitHubBranch": branch, "GitHubEnvironment": environment,
                "ExistingOidcProviderArn": self._existing_provider()}

    def _existing_provider(self) -> str | None:
        """On the first deploy, GitHub's OIDC provider if the account has one (an account holds one per URL);
        afterwards None: the stack keeps what it had (the provider it made, or the one it reuses)."""
        if self.deployer.describe(self.options.oidc_stack) is not None:
            return None
        with aws_call("looking for GitHub's OIDC provider (iam:ListOpenIDConnectProviders)"):
            arns = [p["Arn"] for p in self.clients.client("iam").list_open_id_connect_providers()
                    ["OpenIDConnectProviderList"]]
        found = next((arn for arn in arns if arn.endswith(f"oidc-provider/{GITHUB_OIDC_URL}")), "")
        if found:
            self.say(f"reusing the account's GitHub OIDC provider {found}")
        return found


def _check_parameters(parameters: dict[str, Any], contract: tuple[str, ...], template: str) -> None:
    """The deploy passes exactly the parameters the stack contract (mlops/deploy/stacks.py) names."""
    if set(parameters) != set(contract):
        raise DeployError(f"{template}: the deploy's parameters {sorted(parameters)} differ from the stack "
                          f"contract {sorted(contract)}")


def _true_false(option: bool | None) -> str | None:
    """A true|false template parameter from an option (None: the template's default, or what the stack has)."""
    return None if option is None else str(option).lower()


def repository_variables(pipeline: StackResult, oidc: StackResult) -> dict[str, str]:
    """The repository variables the workflows read, from the stacks' outputs (mapped in mlops/deploy/stacks.py)."""
    variables = {"MLOPS_BACKEND": "aws"}
    missing = []
    for stack, mapping in ((pipeline, stacks.PIPELINE_OUTPUTS), (oidc, stacks.GITHUB_OIDC_OUTPUTS)):
        for output, variable in mapping.items():
            if variable is None:
                continue
            if stack.outputs.get(output):
                variables[variable] = stack.outputs[output]
            else:
                missing.append(f"stack {stack.name}: no output {output} (for {variable})")
    if missing:
        raise DeployError(missing[0], missing)
    return dict(sorted(variables.items()))


def _engine_source_builder(dest: Path) -> Path:
    """The engine's sourcedir.tar.gz, made reproducible (the same source must get the same key)."""
    from mlops.backends.aws.training_source import build_source_bundle

    return reproducible_tarball(build_source_bundle(dest))
