"""A stage's life in an AWS account, from before the first deploy to after the last: the Makefile's deploy targets.

    python -m scripts.deploy.stage_ops preflight ENV       read-only: what would fail a deploy of ENV, how to fix it
    python -m scripts.deploy.stage_ops bootstrap-parameters ENV   the bootstrap's account-dependent parameters
    python -m scripts.deploy.stage_ops release ENV REF     the full commit of REF, once its release is in the store
    python -m scripts.deploy.stage_ops outputs ENV         the URL, the demo, the dashboard and how to fetch the key
    python -m scripts.deploy.stage_ops destroy ENV         app stack, then bootstrap stack; says what it keeps and why

Needs only boto3 (the SAM CLI's virtualenv has it); the region is the stage's (scripts/deploy/stage_config.py).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from scripts.deploy import stage_config

PROJECT = "emotion-api"
#: The stage whose bootstrap creates the artifact store (bucket, image repository) and GitHub's OIDC provider.
FIRST_STAGE = "dev"
OIDC_HOST = "token.actions.githubusercontent.com"
RELEASE_PREFIX = f"{PROJECT}/releases"
#: Lambda keeps this much of an account's concurrency unreserved; provisioned concurrency comes out of the rest.
UNRESERVED_MINIMUM = 100
STACK_OK = re.compile(r"^(CREATE|UPDATE|IMPORT)_COMPLETE$|^UPDATE_ROLLBACK_COMPLETE$")
Clients = Callable[[str], Any]


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


def preflight(stage: Stage, clients: Clients, environ: Mapping[str, str], *, in_pipeline: bool) -> list[Finding]:
    """Read-only calls that say, before anything is built, what would fail a deploy of ``stage``."""
    try:
        identity = clients("sts").get_caller_identity()
    except (ClientError, BotoCoreError) as error:
        fix = "configure credentials for the account (aws configure, aws sso login, or AWS_PROFILE)"
        return [Finding(False, f"no usable AWS credentials ({type(error).__name__})", fix)]
    findings = [Finding(True, f"account {identity['Account']} as {identity['Arn']}, region {stage.region}")]
    cloudformation = clients("cloudformation")
    findings += bootstrap_findings(stage, cloudformation, clients("ecr"))
    if not in_pipeline:  # the pipeline's credentials came through the provider: it exists
        findings.append(oidc_finding(clients("iam")))
    overrides = stage_config.deploy_overrides(stage.env, environ, stage.samconfig)
    findings.append(concurrency_finding(clients("lambda"), overrides))
    findings += parameter_findings(stage, overrides, environ, in_pipeline=in_pipeline)
    findings.append(app_stack_finding(stage, cloudformation))
    return findings


def bootstrap_findings(stage: Stage, cloudformation: Any, ecr: Any) -> list[Finding]:
    bootstrap = describe_stack(cloudformation, stage.bootstrap_stack)
    order = f"make bootstrap ENV={FIRST_STAGE} first" if stage.env != FIRST_STAGE else "make bootstrap ENV=dev"
    if bootstrap is None:
        fix = f"{order}, then make bootstrap ENV={stage.env} GITHUB_REPO=owner/name (docs/deploy.md)"
        return [Finding(False, f"bootstrap stack {stage.bootstrap_stack} not found in {stage.region}", fix)]
    status = bootstrap["StackStatus"]
    if not STACK_OK.match(status):
        fix = f"see its events in the console; if its creation failed, delete it and run make bootstrap ENV={stage.env}"
        return [Finding(False, f"bootstrap stack {stage.bootstrap_stack} is {status}", fix)]
    outputs = outputs_of(bootstrap)
    needed = ("ArtifactsBucketName", "ImageRepositoryUri", "CloudFormationExecutionRoleArn", "PipelineRoleArn")
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


def concurrency_finding(lambda_client: Any, overrides: Mapping[str, str]) -> Finding:
    """Provisioned concurrency comes out of the account's unreserved pool, which Lambda keeps at 100 or more."""
    settings = lambda_client.get_account_settings()
    limit = int(settings["AccountLimit"]["ConcurrentExecutions"])
    unreserved = int(settings["AccountLimit"].get("UnreservedConcurrentExecutions", limit))
    provisioned = int(overrides.get("ProvisionedConcurrency", "0"))
    if provisioned and unreserved - provisioned < UNRESERVED_MINIMUM:
        fix = (
            "ask for more (Service Quotas: AWS Lambda, Concurrent executions, L-B99A9384; new accounts start at 10), "
            "or deploy without it for now: PARAMETERS=ProvisionedConcurrency=0"
        )
        what = (
            f"the stack provisions {provisioned} of the account's {unreserved} unreserved concurrent executions "
            f"(limit {limit}); Lambda refuses to leave fewer than {UNRESERVED_MINIMUM}"
        )
        return Finding(False, what, fix)
    return Finding(True, f"concurrency: limit {limit}, {unreserved} unreserved, the stack provisions {provisioned}")


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


# -------------------------------------------------------------------------------------------------------- outputs
def outputs_text(stage: Stage, clients: Clients) -> str:
    """Where the stage answers, and how to reach it: printed by ``make outputs``."""
    stack = describe_stack(clients("cloudformation"), stage.stack)
    if stack is None:
        raise StageError(f"stack {stage.stack} is not deployed in {stage.region}: make deploy ENV={stage.env}")
    outputs = outputs_of(stack)
    url = outputs["ApiUrl"]
    console = f"https://{stage.region}.console.aws.amazon.com/cloudwatch/home?region={stage.region}"
    lines = [
        f"API        {url}   (no stage path: the HTTP API's $default stage answers at the root)",
        f"demo page  {url}/",
        f"API docs   {url}/docs",
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


# -------------------------------------------------------------------------------------------------------- destroy
def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker (a versioned bucket is not empty until both are gone)."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        items = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        for start in range(0, len(items), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": items[start : start + 1000], "Quiet": True})
        deleted += len(items)
    return deleted


def other_stages(stage: Stage, cloudformation: Any) -> list[str]:
    """Bootstrap and application stacks of the other stages that still exist."""
    names = []
    for env in stage_config.samconfig(stage.samconfig):
        if env in (stage.env, "version", "default"):
            continue
        other = Stage(env, stage.region, stage_config.stack_name(env, stage.samconfig), stage.samconfig)
        names += [n for n in (other.stack, other.bootstrap_stack) if describe_stack(cloudformation, n) is not None]
    return names


def destroy(stage: Stage, clients: Clients, say: Callable[[str], None]) -> None:
    """The application stack (its bulk bucket emptied first), then the bootstrap stack, waiting for each."""
    cloudformation = clients("cloudformation")
    if stage.env == FIRST_STAGE:
        others = other_stages(stage, cloudformation)
        if others:
            raise StageError(
                f"{', '.join(others)} still exist and depend on {FIRST_STAGE}'s artifact store and OIDC provider: "
                "destroy the other stages first (make destroy ENV=prod)"
            )
    waiter = cloudformation.get_waiter("stack_delete_complete")
    app = describe_stack(cloudformation, stage.stack)
    if app is not None:
        bucket = outputs_of(app).get("BulkBucketName")
        if bucket:
            say(f"emptying s3://{bucket} (every version and delete marker)")
            say(f"  {empty_bucket(clients('s3'), bucket)} deleted")
        say(f"deleting stack {stage.stack} (with the bootstrap's execution role, so before the bootstrap)")
        cloudformation.delete_stack(StackName=stage.stack)
        waiter.wait(StackName=stage.stack)
    bootstrap = describe_stack(cloudformation, stage.bootstrap_stack)
    if bootstrap is not None:
        say(f"deleting stack {stage.bootstrap_stack}")
        cloudformation.delete_stack(StackName=stage.bootstrap_stack)
        waiter.wait(StackName=stage.bootstrap_stack)
        kept = kept_resources(stage, outputs_of(bootstrap))
    else:
        kept = []
    say(f"{stage.env} is gone from {stage.region}.")
    for line in kept:
        say(line)


def kept_resources(stage: Stage, outputs: Mapping[str, str]) -> list[str]:
    if stage.env != FIRST_STAGE:
        return []
    bucket, repository = outputs.get("ArtifactsBucketName", "?"), PROJECT
    return [
        "Kept on purpose (DeletionPolicy Retain), and still billed for storage:",
        f"  s3://{bucket}: every release ever packaged, so a re-created stage can deploy or roll back to any of them",
        f"  ECR repository {repository}: the images those releases run; a new make bootstrap ENV={FIRST_STAGE} refuses"
        " to start while it exists",
        "  Remove both for good with:",
        f"    the S3 console's Empty on {bucket} (it deletes every version), then aws s3 rb s3://{bucket} "
        f"--region {stage.region}",
        f"    aws ecr delete-repository --repository-name {repository} --force --region {stage.region}",
        "A generated API key (prod) waits out Secrets Manager's recovery window before it goes.",
        f"GitHub's OIDC provider went with {stage.bootstrap_stack} where that stack had created it.",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["preflight", "bootstrap-parameters", "release", "outputs", "destroy"])
    parser.add_argument("env")
    parser.add_argument("ref", nargs="?", default="", help="release: the commit (full or short SHA, tag, branch)")
    parser.add_argument("--region", default="", help="default: the stage's region in samconfig.toml")
    parser.add_argument("--samconfig", type=Path, default=stage_config.SAMCONFIG)
    parser.add_argument("--in-pipeline", action="store_true", help="preflight from the deploy workflow")
    parser.add_argument("--create-oidc-provider", default="", choices=["", "true", "false"])
    parser.add_argument("--yes", action="store_true", help="destroy without asking for the stack's name")
    args = parser.parse_args(argv)
    try:
        stage = Stage.of(args.env, args.region or None, args.samconfig)
        clients = session_clients(stage.region)
        return run(args, stage, clients)
    except (StageError, stage_config.StageConfigError) as error:
        print(f"{args.command} {args.env}: {error}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, stage: Stage, clients: Clients) -> int:
    if args.command == "preflight":
        findings = preflight(stage, clients, os.environ, in_pipeline=args.in_pipeline)
        print("\n".join(str(finding) for finding in findings))
        failed = sum(not finding.passed for finding in findings)
        print(f"preflight {stage.env}: {'ready to deploy' if not failed else f'{failed} problem(s) to fix first'}")
        return 1 if failed else 0
    if args.command == "bootstrap-parameters":
        parameters = bootstrap_parameters(stage, clients, args.create_oidc_provider)
        print(" ".join(f"{name}={value}" for name, value in parameters.items()))
    elif args.command == "release":
        print(resolve_release(stage, clients, args.ref, git_commit))
    elif args.command == "outputs":
        print(outputs_text(stage, clients))
    else:
        if not args.yes and input(f"Type {stage.stack} to delete it and {stage.bootstrap_stack}: ") != stage.stack:
            raise StageError("not confirmed; nothing was deleted")
        destroy(stage, clients, print)
    return 0


if __name__ == "__main__":
    sys.exit(main())
