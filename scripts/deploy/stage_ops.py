"""A stage's life in an AWS account, from before the first deploy to after the last: the Makefile's deploy targets.

    python -m scripts.deploy.stage_ops preflight ENV       read-only: what would fail a deploy of ENV, how to fix it
    python -m scripts.deploy.stage_ops bootstrap-parameters ENV   the bootstrap's account-dependent parameters
    python -m scripts.deploy.stage_ops parameters ENV      the deploy's parameter overrides, as this account allows
    python -m scripts.deploy.stage_ops release ENV REF     the full commit of REF, once its release is in the store
    python -m scripts.deploy.stage_ops pin-release ENV --template F     pin a packaged template's artifacts (dev)
    python -m scripts.deploy.stage_ops verify-release ENV --template F [--sha256 S]   refuse what is not as pinned
    python -m scripts.deploy.stage_ops outputs ENV         the URL, the demo, the dashboard and how to fetch the key
    python -m scripts.deploy.stage_ops rotate-key ENV      a new generated API key (the old one lasts the key cache)
    python -m scripts.deploy.stage_ops destroy ENV [--purge]   app stack, then bootstrap stack (--purge: the store too)

Needs only boto3 (the SAM CLI's virtualenv has it); the region is the stage's (scripts/deploy/stage_config.py).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from scripts.deploy import releases, stage_config

PROJECT = "emotion-api"
#: The stage whose bootstrap creates the artifact store (bucket, image repository) and GitHub's OIDC provider.
FIRST_STAGE = "dev"
OIDC_HOST = "token.actions.githubusercontent.com"
RELEASE_PREFIX = f"{PROJECT}/releases"
#: Lambda keeps this much of an account's concurrency unreserved; provisioned concurrency comes out of the rest.
UNRESERVED_MINIMUM = 100
STACK_OK = re.compile(r"^(CREATE|UPDATE|IMPORT)_COMPLETE$|^UPDATE_ROLLBACK_COMPLETE$")
#: The claims GitHub's OIDC subject must carry, in this order, for the roles' trust to match (bootstrap/pipeline.yaml).
OIDC_CLAIM_KEYS = ["repo", "context", "ref", "job_workflow_ref"]
#: The one branch that deploys (the bootstrap's GitHubBranch default).
DEPLOY_BRANCH = "main"
#: The sandbox: samconfig's default environment, deployed with `sam deploy --guided` and your own credentials.
SANDBOX = "default"
#: The stack `sam deploy --resolve-s3` makes once per account and region, holding the SAM CLI's own bucket.
SAM_MANAGED_STACK = "aws-sam-cli-managed-default"
LIVE_STATUSES = (
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE",
)
Clients = Callable[[str], Any]
#: A read of GitHub's REST API (a path such as repos/o/r/environments/dev): its JSON, or None where it cannot be read.
GitHubReader = Callable[[str], Any]


class StageError(Exception):
    """Raised when a stage cannot be acted on as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Stage:
    """One environment of samconfig.toml, with the names of its two stacks and its region."""

    env: str
    region: str
    stack: str
    samconfig: Path = stage_config.SAMCONFIG

    @property
    def bootstrap_stack(self) -> str:
        return f"{PROJECT}-pipeline-{self.env}"

    @property
    def github_environment(self) -> str:
        """The GitHub environment whose jobs deploy this stage (make bootstrap's GITHUB_ENVIRONMENT)."""
        return "production" if self.env == "prod" else self.env

    @classmethod
    def of(cls, env: str, region: str | None = None, samconfig: Path = stage_config.SAMCONFIG) -> Stage:
        name = stage_config.stack_name(env, samconfig)
        return cls(env, region or stage_config.region(env, samconfig), name, samconfig)


def session_clients(region: str) -> Clients:
    session = boto3.session.Session(region_name=region)
    return lambda name: session.client(name)


def describe_stack(cloudformation: Any, name: str) -> dict[str, Any] | None:
    """The stack, or None where it does not exist (deleted stacks do not count)."""
    try:
        (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return None if stack["StackStatus"] == "DELETE_COMPLETE" else dict(stack)


def outputs_of(stack: Mapping[str, Any]) -> dict[str, str]:
    return {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}


# ------------------------------------------------------------------------------------------------------ preflight
@dataclass(frozen=True)
class Finding:
    """One check: what was found, and where it would fail the deploy, how to fix it."""

    passed: bool
    what: str
    fix: str = ""

    def __str__(self) -> str:
        return f"ok    {self.what}" if self.passed else f"FAIL  {self.what}\n      -> {self.fix}"


def preflight(
    stage: Stage,
    clients: Clients,
    environ: Mapping[str, str],
    *,
    in_pipeline: bool,
    github_repo: str = "",
    read_github: GitHubReader | None = None,
) -> list[Finding]:
    """Read-only calls that say, before anything is built, what would fail a deploy of ``stage``."""
    try:
        identity = clients("sts").get_caller_identity()
    except (ClientError, BotoCoreError) as error:
        fix = "configure credentials for the account (aws configure, aws sso login, or AWS_PROFILE)"
        return [Finding(False, f"no usable AWS credentials ({type(error).__name__})", fix)]
    findings = [Finding(True, f"account {identity['Account']} as {identity['Arn']}, region {stage.region}")]
    cloudformation = clients("cloudformation")
    findings += bootstrap_findings(stage, cloudformation, clients("ecr"), in_pipeline=in_pipeline)
    if not in_pipeline:  # the pipeline's credentials came through the provider and the trust: both are right
        findings.append(oidc_finding(clients("iam")))
        if github_repo:
            findings += github_findings(stage, github_repo, read_github or gh_api)
    overrides = stage_config.deploy_overrides(stage.env, environ, stage.samconfig)
    findings.append(concurrency_plan(clients("lambda"), overrides, environ)[1])
    findings += parameter_findings(stage, overrides, environ, in_pipeline=in_pipeline)
    findings += readable_findings(stage, cloudformation, overrides, str(identity["Account"]))
    findings += alarm_subscription_findings(stage, cloudformation, clients("sns"), overrides)
    findings.append(app_stack_finding(stage, cloudformation))
    return findings


def bootstrap_findings(stage: Stage, cloudformation: Any, ecr: Any, *, in_pipeline: bool = False) -> list[Finding]:
    bootstrap = describe_stack(cloudformation, stage.bootstrap_stack)
    order = f"make bootstrap ENV={FIRST_STAGE} first" if stage.env != FIRST_STAGE else "make bootstrap ENV=dev"
    if bootstrap is None:
        fix = f"{order}, then make bootstrap ENV={stage.env} GITHUB_REPO=owner/name (docs/deploy.md)"
        if in_pipeline:
            fix = (
                f"bootstrapped in another region? Set the GitHub variable {stage_config.REGION_VARIABLE} to it "
                f"(gh variable set {stage_config.REGION_VARIABLE} --body <region>); otherwise {fix}"
            )
        return [Finding(False, f"bootstrap stack {stage.bootstrap_stack} not found in {stage.region}", fix)]
    status = bootstrap["StackStatus"]
    if not STACK_OK.match(status):
        fix = f"see its events in the console; if its creation failed, delete it and run make bootstrap ENV={stage.env}"
        return [Finding(False, f"bootstrap stack {stage.bootstrap_stack} is {status}", fix)]
    outputs = outputs_of(bootstrap)
    needed = (
        "ArtifactsBucketName",
        "ImageRepositoryUri",
        "CloudFormationExecutionRoleArn",
        "PipelineRoleArn",
        "PermissionsBoundaryArn",
    )
    absent = [name for name in needed if not outputs.get(name) or outputs[name] == "None"]
    if absent:
        fix = f"update it: make bootstrap ENV={stage.env} GITHUB_REPO=owner/name"
        return [Finding(False, f"bootstrap stack {stage.bootstrap_stack} lacks outputs {', '.join(absent)}", fix)]
    findings = [
        Finding(True, f"bootstrap stack {stage.bootstrap_stack} ({status}), bucket {outputs['ArtifactsBucketName']}")
    ]
    repository = outputs["ImageRepositoryUri"].rsplit("/", 1)[1]
    try:
        ecr.describe_repositories(repositoryNames=[repository])
        findings.append(Finding(True, f"image repository {repository}"))
    except ClientError as error:
        if error.response["Error"]["Code"] != "RepositoryNotFoundException":
            raise
        fix = f"it belongs to {FIRST_STAGE}'s bootstrap stack: make bootstrap ENV={FIRST_STAGE} GITHUB_REPO=owner/name"
        findings.append(Finding(False, f"image repository {repository} not found", fix))
    return findings


def github_provider_arn(iam: Any) -> str | None:
    for provider in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        if provider["Arn"].endswith(f"/{OIDC_HOST}"):
            return str(provider["Arn"])
    return None


def oidc_finding(iam: Any) -> Finding:
    arn = github_provider_arn(iam)
    if arn:
        return Finding(True, f"GitHub's OIDC provider exists ({arn}): make bootstrap reuses it")
    return Finding(True, f"no GitHub OIDC provider yet: make bootstrap ENV={FIRST_STAGE} creates it")


def concurrency_plan(
    lambda_client: Any, overrides: Mapping[str, str], environ: Mapping[str, str]
) -> tuple[int, Finding]:
    """The provisioned concurrency to deploy with, and what preflight says about it.

    It comes out of the account's unreserved pool, which Lambda keeps at 100 or more: a new account (10 in all)
    cannot give prod's 1. Asked for in samconfig.toml only, it is lowered to 0 with a warning, so the first deploy
    on a new account passes; asked for explicitly (PROVISIONED_CONCURRENCY, PARAMETERS), a value that does not fit
    fails preflight instead.
    """
    settings = lambda_client.get_account_settings()
    limit = int(settings["AccountLimit"]["ConcurrentExecutions"])
    unreserved = int(settings["AccountLimit"].get("UnreservedConcurrentExecutions", limit))
    provisioned = int(overrides.get("ProvisionedConcurrency", "0"))
    if not provisioned or unreserved - provisioned >= UNRESERVED_MINIMUM:
        what = f"concurrency: limit {limit}, {unreserved} unreserved, the stack provisions {provisioned}"
        return provisioned, Finding(True, what)
    short = (
        f"the account's {unreserved} unreserved concurrent executions (limit {limit}) cannot give {provisioned} "
        f"provisioned: Lambda refuses to leave fewer than {UNRESERVED_MINIMUM}"
    )
    quota = "ask for more (Service Quotas: AWS Lambda, Concurrent executions, L-B99A9384; new accounts start at 10)"
    explicit = environ.get("PROVISIONED_CONCURRENCY") or "ProvisionedConcurrency=" in environ.get("PARAMETERS", "")
    if explicit:
        fix = f"{quota}, or deploy without it for now: PROVISIONED_CONCURRENCY=0"
        return provisioned, Finding(False, short, fix)
    what = (
        f"{short}; samconfig.toml's {provisioned} is lowered to 0 for this deploy (cold starts are back): {quota}, "
        "then deploy again; PROVISIONED_CONCURRENCY=0 says so on purpose"
    )
    return 0, Finding(True, what)


def parameter_findings(
    stage: Stage, overrides: Mapping[str, str], environ: Mapping[str, str], *, in_pipeline: bool
) -> list[Finding]:
    findings = []
    if overrides.get("Stage") == "prod":
        recipient = overrides.get("AlarmEmail") or overrides.get("AlarmTopicArn")
        if recipient:
            findings.append(Finding(True, f"prod's alarms reach {recipient}"))
        else:
            fix = (
                "set ALARM_EMAIL=oncall@example.org (or ALARM_TOPIC_ARN); in GitHub, the variable ALARM_EMAIL of the "
                "production environment"
            )
            findings.append(
                Finding(False, "prod's alarms reach nobody: the rule ProdAlarmsReachSomeone refuses it", fix)
            )
    own_key = overrides.get("ApiKeySecretArn") or overrides.get("ApiKeyParameterName")
    if in_pipeline and own_key and not environ.get("SMOKE_TEST_API_KEY"):
        fix = "the pipeline role cannot read your key source: set the environment secret SMOKE_TEST_API_KEY"
        findings.append(Finding(False, f"the smoke test has no key for {own_key}", fix))
    return findings


def readable_findings(stage: Stage, cloudformation: Any, overrides: Mapping[str, str], account: str) -> list[Finding]:
    """Sources outside the stage (own key, model in S3) must be in the bootstrap's ReadableArns, or the permissions
    boundary keeps the functions from reading them and every request fails."""
    sources = []
    if overrides.get("ApiKeySecretArn"):
        sources.append(overrides["ApiKeySecretArn"])
    if overrides.get("ApiKeyParameterName"):
        sources.append(f"arn:aws:ssm:{stage.region}:{account}:parameter{overrides['ApiKeyParameterName']}")
    if overrides.get("ModelS3Bucket"):
        sources.append(f"arn:aws:s3:::{overrides['ModelS3Bucket']}/{overrides.get('ModelS3Prefix', '')}")
    bootstrap = describe_stack(cloudformation, stage.bootstrap_stack)
    if not sources or bootstrap is None:
        return []
    given = {item["ParameterKey"]: item["ParameterValue"] for item in bootstrap.get("Parameters", [])}
    patterns = [item for item in given.get("ReadableArns", "").split(",") if item]
    missing = [arn for arn in sources if not any(fnmatch.fnmatchcase(arn, pattern) for pattern in patterns)]
    if not missing:
        return [Finding(True, f"the stage's roles may read {', '.join(sources)} (ReadableArns)")]
    fix = (
        f"list them in {stage.bootstrap_stack}'s ReadableArns: make bootstrap ENV={stage.env} GITHUB_REPO=owner/name "
        f'READABLE_ARNS="{",".join(patterns + missing)}"'
    )
    return [Finding(False, f"the permissions boundary keeps the stage from reading {', '.join(missing)}", fix)]


def alarm_subscription_findings(
    stage: Stage, cloudformation: Any, sns: Any, overrides: Mapping[str, str]
) -> list[Finding]:
    """An email subscription nobody confirmed reaches no one, and SNS drops it unconfirmed after a few days."""
    email = overrides.get("AlarmEmail")
    if not email:
        return []
    app = describe_stack(cloudformation, stage.stack)
    topic = outputs_of(app).get("AlarmsTopicArn") if app else None
    if not topic:
        return [Finding(True, "alarm email: the first deploy subscribes it; confirm the email AWS sends to it")]
    resubscribe = (
        f"aws sns subscribe --region {stage.region} --topic-arn {topic} --protocol email "
        "--notification-endpoint <the address>, then confirm the email AWS sends"
    )
    subscriptions, token = [], ""
    while True:
        page = sns.list_subscriptions_by_topic(TopicArn=topic, **({"NextToken": token} if token else {}))
        subscriptions += [
            item
            for item in page["Subscriptions"]
            if item["Protocol"] == "email" and item["Endpoint"].lower() == email.lower()
        ]
        token = page.get("NextToken", "")
        if not token:
            break
    if not subscriptions:
        what = "the alarm address has no subscription to the stage's topic (an unconfirmed one expires)"
        return [Finding(False, what, resubscribe)]
    if all(item["SubscriptionArn"] == "PendingConfirmation" for item in subscriptions):
        what = "the alarm address never confirmed its subscription: alarms reach no one"
        return [Finding(False, what, f"confirm the email from AWS Notifications; to send it again: {resubscribe}")]
    return [Finding(True, "the alarm address confirmed its subscription")]


def gh_api(path: str) -> Any:
    """GitHub's answer through the gh CLI, or None (no gh, not logged in, no access, not found)."""
    gh = shutil.which("gh")
    if gh is None:
        return None
    result = subprocess.run([gh, "api", path], capture_output=True, text=True, check=False)  # nosec B603
    return json.loads(result.stdout) if result.returncode == 0 else None


def github_findings(stage: Stage, repo: str, read: GitHubReader) -> list[Finding]:
    """The two GitHub settings the roles' trust relies on: the OIDC subject's claims and the branch rule."""
    customization = read(f"repos/{repo}/actions/oidc/customization/sub")
    if customization is None:
        what = f"GitHub settings of {repo} not read (gh missing, not logged in, or no admin access)"
        return [Finding(True, f"{what}: check them by hand (docs/deploy.md, step 2)")]
    keys = json.dumps(OIDC_CLAIM_KEYS)
    set_sub = (
        f"gh api -X PUT repos/{repo}/actions/oidc/customization/sub --input - <<<"
        f'\'{{"use_default": false, "include_claim_keys": {keys}}}\''
    )
    findings = []
    if customization.get("use_default", True) or customization.get("include_claim_keys") != OIDC_CLAIM_KEYS:
        what = f"{repo}'s OIDC subject does not carry {', '.join(OIDC_CLAIM_KEYS)}: no deploy role will match it"
        findings.append(Finding(False, what, set_sub))
    else:
        findings.append(Finding(True, f"{repo}'s OIDC subject carries {', '.join(OIDC_CLAIM_KEYS)}"))
    name = stage.github_environment
    environment = read(f"repos/{repo}/environments/{name}")
    branch_rule = (
        f'gh api -X PUT repos/{repo}/environments/{name} --input - <<<\'{{"deployment_branch_policy": '
        f'{{"protected_branches": false, "custom_branch_policies": true}}}}\' && gh api -X POST '
        f"repos/{repo}/environments/{name}/deployment-branch-policies -f name={DEPLOY_BRANCH} -f type=branch"
    )
    if environment is None:
        return [*findings, Finding(False, f"GitHub environment {name} not found", f"create it: {branch_rule}")]
    policy = environment.get("deployment_branch_policy") or {}
    branches: list[str] = []
    if policy.get("custom_branch_policies"):
        listed = read(f"repos/{repo}/environments/{name}/deployment-branch-policies") or {}
        policies = listed.get("branch_policies", [])
        branches = [item["name"] for item in policies if item.get("type", "branch") == "branch"]
    if branches == [DEPLOY_BRANCH]:
        findings.append(Finding(True, f"GitHub environment {name} deploys from {DEPLOY_BRANCH} only"))
    else:
        allowed = ", ".join(branches) or ("protected branches" if policy.get("protected_branches") else "any branch")
        what = f"GitHub environment {name} lets {allowed} deploy, not only {DEPLOY_BRANCH}"
        findings.append(Finding(False, what, branch_rule))
    return findings


def app_stack_finding(stage: Stage, cloudformation: Any) -> Finding:
    stack = describe_stack(cloudformation, stage.stack)
    if stack is None:
        return Finding(True, f"stack {stage.stack}: not deployed yet (the first deploy creates it)")
    status = stack["StackStatus"]
    if status == "ROLLBACK_COMPLETE" or status.endswith("_FAILED"):
        fix = f"a stack in {status} cannot be updated: make destroy ENV={stage.env} removes it (the bootstrap stays)"
        if status == "ROLLBACK_COMPLETE":
            fix = (
                "its first deploy failed (its events say why); delete it: aws cloudformation delete-stack "
                f"--stack-name {stage.stack} --region {stage.region}"
            )
        return Finding(False, f"stack {stage.stack} is {status}", fix)
    if status.endswith("_IN_PROGRESS"):
        return Finding(False, f"stack {stage.stack} is {status}", "wait for it to finish")
    return Finding(True, f"stack {stage.stack} ({status})")


# ----------------------------------------------------------------------------------------------------- parameters
def deploy_parameters(stage: Stage, clients: Clients, environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The deploy's parameter overrides as this account allows them, and the warnings to show.

    samconfig's, the environment's (stage_config.deploy_overrides), the bootstrap's permissions boundary (the
    execution role creates no role without it) and the provisioned concurrency the account can give.
    """
    overrides = stage_config.deploy_overrides(stage.env, environ, stage.samconfig)
    bootstrap = describe_stack(clients("cloudformation"), stage.bootstrap_stack)
    boundary = outputs_of(bootstrap).get("PermissionsBoundaryArn") if bootstrap else None
    if not boundary or boundary == "None":
        raise StageError(
            f"{stage.bootstrap_stack} has no PermissionsBoundaryArn output in {stage.region}: "
            f"make bootstrap ENV={stage.env} GITHUB_REPO=owner/name (it adds the boundary)"
        )
    overrides["PermissionsBoundary"] = boundary
    provisioned, finding = concurrency_plan(clients("lambda"), overrides, environ)
    if not finding.passed:
        raise StageError(f"{finding.what}: {finding.fix}")
    warnings = []
    if str(provisioned) != overrides.get("ProvisionedConcurrency", "0"):
        overrides["ProvisionedConcurrency"] = str(provisioned)
        warnings.append(finding.what)
    return overrides, warnings


# ------------------------------------------------------------------------------------------------------ bootstrap
def bootstrap_parameters(stage: Stage, clients: Clients, create_oidc: str = "") -> dict[str, str]:
    """ArtifactStoreBucket and CreateGitHubOidcProvider for ``make bootstrap``, refusing the wrong order.

    Every stage but the first deploys from the first's store, so the first must exist; the first creates a
    repository named after the project, so a repository of that name left behind must be removed first. The OIDC
    provider is created where none exists or where this stack already owns it (false would delete it).
    """
    cloudformation = clients("cloudformation")
    parameters: dict[str, str] = {}
    if stage.env == FIRST_STAGE:
        parameters["ArtifactStoreBucket"] = ""
        mine = describe_stack(cloudformation, stage.bootstrap_stack)
        if mine is None:
            try:
                clients("ecr").describe_repositories(repositoryNames=[PROJECT])
            except ClientError as error:
                if error.response["Error"]["Code"] != "RepositoryNotFoundException":
                    raise
            else:
                raise StageError(
                    f"an image repository named {PROJECT} already exists (kept by an earlier bootstrap: make destroy "
                    f"keeps it); the bootstrap would fail creating it. Delete it (aws ecr delete-repository "
                    f"--repository-name {PROJECT} --force --region {stage.region}) and run make bootstrap again"
                )
    else:
        first = describe_stack(cloudformation, f"{PROJECT}-pipeline-{FIRST_STAGE}")
        bucket = outputs_of(first).get("ArtifactsBucketName") if first else None
        if not bucket:
            raise StageError(
                f"{stage.env} deploys from {FIRST_STAGE}'s artifact store, and {PROJECT}-pipeline-{FIRST_STAGE} "
                f"is not in {stage.region}: make bootstrap ENV={FIRST_STAGE} GITHUB_REPO=owner/name first"
            )
        parameters["ArtifactStoreBucket"] = bucket
    parameters["CreateGitHubOidcProvider"] = create_oidc or oidc_choice(stage, clients)
    return parameters


def oidc_choice(stage: Stage, clients: Clients) -> str:
    cloudformation = clients("cloudformation")
    if describe_stack(cloudformation, stage.bootstrap_stack) is not None:
        resources = cloudformation.describe_stack_resources(StackName=stage.bootstrap_stack)["StackResources"]
        if any(item["LogicalResourceId"] == "GitHubOidcProvider" for item in resources):
            return "true"  # this stack owns it: "false" would delete it
    return "false" if github_provider_arn(clients("iam")) else "true"


# ------------------------------------------------------------------------------------------------------- releases
def resolve_release(stage: Stage, clients: Clients, ref: str, git: Callable[[str], str | None]) -> str:
    """The full 40-character commit of ``ref`` (a short SHA, a tag, a branch), once its release is in the store."""
    sha = git(ref)
    if sha is None:
        if not re.fullmatch(r"[0-9a-f]{40}", ref):
            raise StageError(f"{ref!r} is no commit this clone knows: git fetch, or give the full 40-character SHA")
        sha = ref
    bootstrap = describe_stack(clients("cloudformation"), stage.bootstrap_stack)
    if bootstrap is None:
        raise StageError(f"bootstrap stack {stage.bootstrap_stack} not found: make bootstrap ENV={stage.env}")
    bucket = outputs_of(bootstrap)["ArtifactsBucketName"]
    key = f"{RELEASE_PREFIX}/{sha}/packaged.yaml"
    try:
        clients("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
            raise
        raise StageError(
            f"no release of {sha} in s3://{bucket}/{RELEASE_PREFIX}/: the pipeline's dev job and make deploy make "
            f"releases (aws s3 ls s3://{bucket}/{RELEASE_PREFIX}/ --region {stage.region} lists them)"
        ) from None
    return sha


def git_commit(ref: str) -> str | None:
    result = subprocess.run(  # nosec B607 - the user's own git, from PATH, on their checkout
        ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def verify_release(path: Path, clients: Clients, expected_sha256: str = "") -> list[str]:
    """Refuse a release whose template or any artifact is not what dev pinned (scripts/deploy/releases.py)."""
    try:
        return releases.verify(path.read_bytes(), clients("s3"), expected_sha256)
    except releases.ReleaseError as error:
        raise StageError(f"{path}: {error}") from None


# -------------------------------------------------------------------------------------------------------- outputs
def outputs_text(stage: Stage, clients: Clients) -> str:
    """Where the stage answers, and how to reach it: printed by ``make outputs``."""
    stack = describe_stack(clients("cloudformation"), stage.stack)
    if stack is None:
        raise StageError(f"stack {stage.stack} is not deployed in {stage.region}: make deploy ENV={stage.env}")
    outputs = outputs_of(stack)
    url = outputs["ApiUrl"]
    console = f"https://{stage.region}.console.aws.amazon.com/cloudwatch/home?region={stage.region}"
    edge = outputs.get("EdgeUrl")
    lines = [f"edge       {edge}   (CloudFront and AWS WAF: give clients this one)"] if edge and edge != "None" else []
    lines += [
        f"API        {url}   (no stage path: the HTTP API's $default stage answers at the root)",
        f"demo page  {url}/",
        f"API docs   {url}/docs   (Swagger UI; send the key as x-api-key where the stage requires one)",
        f"schema     {url}/openapi.json",
        f"dashboard  {console}#dashboards/dashboard/{stage.stack}",
        f"alarms     SNS topic {outputs.get('AlarmsTopicArn', '?')}",
    ]
    secret = outputs.get("ApiKeySecretId")
    if outputs.get("ApiKeyRequired") == "true" and secret:
        lines.append(
            f"API key    aws secretsmanager get-secret-value --region {stage.region} --secret-id {secret} "
            "--query SecretString --output text"
        )
    elif outputs.get("ApiKeyRequired") == "true":
        lines.append("API key    required: the SSM parameter named by ApiKeyParameterName holds it")
    else:
        lines.append("API key    none: this stage is open")
    key_option = '--api-key "$KEY" ' if secret else ""
    lines.append(f"try it     scripts/deploy/smoke_test.sh {key_option}{url}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------- the key
def rotate_key(stage: Stage, clients: Clients) -> list[str]:
    """A new value for the stack's generated key, made like the first (40 letters and digits).

    Functions and the authorizer cache the key for API_KEY_CACHE_SECONDS (300 by default): the old key keeps
    working in warm environments until then, so clients have that long to switch. A key of your own (ApiKeySecretArn,
    ApiKeyParameterName) is rotated where it lives.
    """
    stack = describe_stack(clients("cloudformation"), stage.stack)
    if stack is None:
        raise StageError(f"stack {stage.stack} is not deployed in {stage.region}: make deploy ENV={stage.env}")
    outputs = outputs_of(stack)
    secret = outputs.get("ApiKeySecretId")
    if outputs.get("ApiKeyRequired") != "true":
        raise StageError(f"{stage.stack} is open (RequireApiKey): it has no key to rotate")
    if secret in (None, "", "None"):  # CloudFormation renders an output of AWS::NoValue as "None"
        raise StageError(
            f"{stage.stack} reads a key of your own (ApiKeySecretArn or ApiKeyParameterName): put the new value "
            "there (aws secretsmanager put-secret-value, aws ssm put-parameter --overwrite); it is read again within "
            "API_KEY_CACHE_SECONDS"
        )
    secrets = clients("secretsmanager")
    value = secrets.get_random_password(PasswordLength=40, ExcludePunctuation=True)["RandomPassword"]
    version = secrets.put_secret_value(SecretId=secret, SecretString=value)["VersionId"]
    return [
        f"{stage.stack}: new API key stored (secret version {version}); the value is not printed",
        "the old key keeps working in warm functions for up to API_KEY_CACHE_SECONDS (300 s by default)",
        f"fetch it: aws secretsmanager get-secret-value --region {stage.region} --secret-id {secret} "
        "--query SecretString --output text",
    ]


# -------------------------------------------------------------------------------------------------------- destroy
def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker (a versioned bucket is not empty until both are gone)."""
    return empty_prefix(s3, bucket, "")


def other_stages(stage: Stage, cloudformation: Any) -> list[str]:
    """Bootstrap and application stacks of the other stages that still exist."""
    names = []
    for env in stage_config.samconfig(stage.samconfig):
        if env in (stage.env, "version", "default"):
            continue
        other = Stage(env, stage.region, stage_config.stack_name(env, stage.samconfig), stage.samconfig)
        names += [n for n in (other.stack, other.bootstrap_stack) if describe_stack(cloudformation, n) is not None]
    return names


def empty_prefix(s3: Any, bucket: str, prefix: str) -> int:
    """Delete every version and delete marker under ``prefix`` (a shared bucket: the rest stays)."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        items = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        for start in range(0, len(items), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": items[start : start + 1000], "Quiet": True})
        deleted += len(items)
    return deleted


def delete_app_stack(stage: Stage, clients: Clients, say: Callable[[str], None]) -> None:
    """The application stack, its versioned bulk bucket emptied first (CloudFormation cannot delete a full bucket)."""
    cloudformation = clients("cloudformation")
    app = describe_stack(cloudformation, stage.stack)
    if app is None:
        return
    bucket = outputs_of(app).get("BulkBucketName")
    if bucket:
        say(f"emptying s3://{bucket} (every version and delete marker)")
        say(f"  {empty_bucket(clients('s3'), bucket)} deleted")
    say(f"deleting stack {stage.stack}")
    cloudformation.delete_stack(StackName=stage.stack)
    cloudformation.get_waiter("stack_delete_complete").wait(StackName=stage.stack)


def destroy(stage: Stage, clients: Clients, say: Callable[[str], None], *, purge: bool = False) -> None:
    """The application stack, then the bootstrap stack, waiting for each; with ``purge``, the artifact store too."""
    if stage.env == SANDBOX:
        destroy_sandbox(stage, clients, say)
        return
    cloudformation = clients("cloudformation")
    if stage.env == FIRST_STAGE:
        others = other_stages(stage, cloudformation)
        if others:
            raise StageError(
                f"{', '.join(others)} still exist and depend on {FIRST_STAGE}'s artifact store and OIDC provider: "
                "destroy the other stages first (make destroy ENV=prod)"
            )
    # with the bootstrap's execution role, so before the bootstrap
    delete_app_stack(stage, clients, say)
    bootstrap = describe_stack(cloudformation, stage.bootstrap_stack)
    outputs = outputs_of(bootstrap) if bootstrap is not None else {}
    if bootstrap is not None:
        say(f"deleting stack {stage.bootstrap_stack}")
        cloudformation.delete_stack(StackName=stage.bootstrap_stack)
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=stage.bootstrap_stack)
    if purge and stage.env == FIRST_STAGE:
        purge_store(stage, clients, outputs.get("ArtifactsBucketName", ""), say)
        kept = [f"GitHub's OIDC provider went with {stage.bootstrap_stack} where that stack had created it."]
    else:
        kept = kept_resources(stage, outputs) if bootstrap is not None else []
    say(f"{stage.env} is gone from {stage.region}.")
    for line in kept + github_leftovers(stage):
        say(line)


def purge_store(stage: Stage, clients: Clients, bucket: str, say: Callable[[str], None]) -> None:
    """The artifact bucket (every version) and the image repository: what the bootstrap keeps on purpose."""
    s3 = clients("s3")
    if bucket:
        try:
            say(f"emptying s3://{bucket} (every release, every version)")
            say(f"  {empty_bucket(s3, bucket)} deleted")
            s3.delete_bucket(Bucket=bucket)
            say(f"deleted bucket {bucket}")
        except ClientError as error:
            if error.response["Error"]["Code"] != "NoSuchBucket":
                raise
    try:
        clients("ecr").delete_repository(repositoryName=PROJECT, force=True)
        say(f"deleted image repository {PROJECT} and every image in it")
    except ClientError as error:
        if error.response["Error"]["Code"] != "RepositoryNotFoundException":
            raise


def destroy_sandbox(stage: Stage, clients: Clients, say: Callable[[str], None]) -> None:
    """What `sam deploy --guided` made: the stack, its images' companion stack, its uploads in SAM's bucket."""
    cloudformation = clients("cloudformation")
    delete_app_stack(stage, clients, say)
    for summary in cloudformation.list_stacks(StackStatusFilter=list(LIVE_STATUSES))["StackSummaries"]:
        name = summary["StackName"]
        if not (name.startswith(f"{stage.stack}-") and name.endswith("-CompanionStack")):
            continue
        resources = cloudformation.describe_stack_resources(StackName=name)["StackResources"]
        for item in resources:
            if item.get("ResourceType") == "AWS::ECR::Repository":
                clients("ecr").delete_repository(repositoryName=item["PhysicalResourceId"], force=True)
                say(f"deleted image repository {item['PhysicalResourceId']}")
        say(f"deleting stack {name}")
        cloudformation.delete_stack(StackName=name)
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=name)
    managed = describe_stack(cloudformation, SAM_MANAGED_STACK)
    bucket = outputs_of(managed).get("SourceBucket") if managed else None
    prefix = str(stage_config.section(SANDBOX, "deploy", stage.samconfig).get("s3_prefix", stage.stack))
    if bucket:
        say(f"deleting s3://{bucket}/{prefix}/ (every version)")
        say(f"  {empty_prefix(clients('s3'), bucket, f'{prefix}/')} deleted")
    say(f"the sandbox {stage.stack} is gone from {stage.region}.")
    if managed:
        say(
            f"Kept: {SAM_MANAGED_STACK}, the SAM CLI's own bucket for every SAM project of this account and region "
            f"(empty it and delete the stack if nothing else uses it: aws cloudformation delete-stack --stack-name "
            f"{SAM_MANAGED_STACK} --region {stage.region}, after emptying s3://{bucket})"
        )


def github_leftovers(stage: Stage) -> list[str]:
    """What a stage leaves on GitHub: nothing there costs money, but it keeps pointing at the account."""
    name = stage.github_environment
    role_variable = f"AWS_{stage.env.upper()}_ROLE_ARN"
    return [
        f"On GitHub (gh, repository REPO): gh api -X DELETE repos/$REPO/environments/{name} (its variables and secrets "
        f"go with it); gh variable delete {role_variable} --repo $REPO"
        + (f"; gh variable delete {stage_config.REGION_VARIABLE} --repo $REPO" if stage.env == FIRST_STAGE else "")
    ]


def kept_resources(stage: Stage, outputs: Mapping[str, str]) -> list[str]:
    if stage.env != FIRST_STAGE:
        return []
    bucket, repository = outputs.get("ArtifactsBucketName", "?"), PROJECT
    return [
        "Kept on purpose (DeletionPolicy Retain), and still billed for storage:",
        f"  s3://{bucket}: every release ever packaged, so a re-created stage can deploy or roll back to any of them",
        f"  ECR repository {repository}: the images those releases run; a new make bootstrap ENV={FIRST_STAGE} refuses"
        " to start while it exists",
        f"  Remove both, every version and image, with: make destroy ENV={FIRST_STAGE} PURGE=1",
        "A generated API key waits out Secrets Manager's recovery window before it goes (not billed meanwhile).",
        f"GitHub's OIDC provider went with {stage.bootstrap_stack} where that stack had created it.",
    ]


COMMANDS = [
    "preflight",
    "bootstrap-parameters",
    "parameters",
    "release",
    "pin-release",
    "verify-release",
    "outputs",
    "rotate-key",
    "destroy",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("env")
    parser.add_argument("ref", nargs="?", default="", help="release: the commit (full or short SHA, tag, branch)")
    parser.add_argument("--region", default="", help="default: DEPLOY_REGION, else the stage's in samconfig.toml")
    parser.add_argument("--samconfig", type=Path, default=stage_config.SAMCONFIG)
    parser.add_argument("--in-pipeline", action="store_true", help="preflight from the deploy workflow")
    parser.add_argument("--github-repo", default="", help="preflight: owner/name, to check its GitHub settings (gh)")
    parser.add_argument("--create-oidc-provider", default="", choices=["", "true", "false"])
    parser.add_argument("--template", type=Path, help="pin-release, verify-release: the packaged template")
    parser.add_argument("--sha256", default="", help="verify-release: the template's sha256 as dev reported it")
    parser.add_argument("--purge", action="store_true", help="destroy: the artifact store and image repository too")
    parser.add_argument("--yes", action="store_true", help="destroy without asking for the stack's name")
    args = parser.parse_args(argv)
    try:
        stage = Stage.of(args.env, args.region or None, args.samconfig)
        clients = session_clients(stage.region)
        return run(args, stage, clients)
    except (StageError, stage_config.StageConfigError, releases.ReleaseError) as error:
        print(f"{args.command} {args.env}: {error}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, stage: Stage, clients: Clients) -> int:
    if args.command == "preflight":
        findings = preflight(stage, clients, os.environ, in_pipeline=args.in_pipeline, github_repo=args.github_repo)
        print("\n".join(str(finding) for finding in findings))
        failed = sum(not finding.passed for finding in findings)
        print(f"preflight {stage.env}: {'ready to deploy' if not failed else f'{failed} problem(s) to fix first'}")
        return 1 if failed else 0
    if args.command in ("pin-release", "verify-release") and args.template is None:
        raise StageError(f"{args.command} needs --template <packaged template>")
    if args.command == "bootstrap-parameters":
        parameters = bootstrap_parameters(stage, clients, args.create_oidc_provider)
        print(" ".join(f"{name}={value}" for name, value in parameters.items()))
    elif args.command == "parameters":
        overrides, warnings = deploy_parameters(stage, clients, os.environ)
        for warning in warnings:
            print(f"{'::warning::' if args.in_pipeline else 'warning: '}{warning}", file=sys.stderr)
        print(" ".join(f"{name}={value}" for name, value in overrides.items()))
    elif args.command == "release":
        print(resolve_release(stage, clients, args.ref, git_commit))
    elif args.command == "pin-release":
        sha256, count = releases.pin_file(args.template, clients("s3"), clients("ecr"))
        print(f"pinned {count} S3 artifact(s) by version and every image by digest", file=sys.stderr)
        print(sha256)
    elif args.command == "verify-release":
        print("\n".join(verify_release(args.template, clients, args.sha256)))
    elif args.command == "outputs":
        print(outputs_text(stage, clients))
    elif args.command == "rotate-key":
        print("\n".join(rotate_key(stage, clients)))
    else:
        confirm_destroy(stage, clients, purge=args.purge, yes=args.yes)
        destroy(stage, clients, print, purge=args.purge)
    return 0


def confirm_destroy(stage: Stage, clients: Clients, *, purge: bool, yes: bool) -> None:
    """Typed confirmations: the stack's name; for a purge, also the artifact bucket's (every release goes)."""
    if yes:
        return
    if input(f"Type {stage.stack} to delete it and {stage.bootstrap_stack}: ") != stage.stack:
        raise StageError("not confirmed; nothing was deleted")
    if purge and stage.env == FIRST_STAGE:
        bootstrap = describe_stack(clients("cloudformation"), stage.bootstrap_stack)
        bucket = outputs_of(bootstrap).get("ArtifactsBucketName", "") if bootstrap else ""
        prompt = f"PURGE deletes every release in s3://{bucket} and every image in {PROJECT}: type the bucket's name: "
        if bucket and input(prompt) != bucket:
            raise StageError("purge not confirmed; nothing was deleted")


if __name__ == "__main__":
    sys.exit(main())
