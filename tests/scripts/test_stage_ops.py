"""scripts/deploy/stage_ops.py against moto: preflight's every failure, the bootstrap order, releases, outputs, destroy.

The region is eu-west-1 throughout: nothing may fall back to us-east-1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from scripts.deploy import stage_ops
from scripts.deploy.stage_ops import Finding, Stage, StageError

REGION = "eu-west-1"
DEV = Stage("dev", REGION, "emotion-api-dev")
PROD = Stage("prod", REGION, "emotion-api-prod")
SHA = "0123456789abcdef0123456789abcdef01234567"


class FakeLambda:
    """moto has no GetAccountSettings: the account's concurrency, as Lambda reports it."""

    def __init__(self, limit: int = 1000, unreserved: int = 1000) -> None:
        self.settings = {"AccountLimit": {"ConcurrentExecutions": limit, "UnreservedConcurrentExecutions": unreserved}}

    def get_account_settings(self) -> dict[str, Any]:
        return self.settings


class FakeCloudFormation:
    """The CloudFormation calls stage_ops makes, in memory (moto's CloudFormation needs extras we do not install);
    a deleted stack answers as AWS does: ValidationError, "does not exist"."""

    def __init__(self) -> None:
        self.stacks: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []

    def create(
        self, name: str, outputs: dict[str, str], resources: list[str], parameters: dict[str, str] | None = None
    ) -> None:
        outputs_list = [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()]
        self.stacks[name] = {"StackName": name, "StackStatus": "CREATE_COMPLETE", "Outputs": outputs_list}
        self.stacks[name]["Parameters"] = [
            {"ParameterKey": key, "ParameterValue": value} for key, value in (parameters or {}).items()
        ]
        self.stacks[name]["Resources"] = [{"LogicalResourceId": item} for item in resources]

    def list_stacks(self, StackStatusFilter: list[str]) -> dict[str, Any]:
        return {"StackSummaries": [{"StackName": name, "StackStatus": "CREATE_COMPLETE"} for name in self.stacks]}

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if StackName not in self.stacks:
            error = {"Error": {"Code": "ValidationError", "Message": f"Stack with id {StackName} does not exist"}}
            raise ClientError(error, "DescribeStacks")
        return {"Stacks": [{k: v for k, v in self.stacks[StackName].items() if k != "Resources"}]}

    def describe_stack_resources(self, StackName: str) -> dict[str, Any]:
        return {"StackResources": self.stacks[StackName]["Resources"]}

    def describe_stacks_resources_of_type(self, StackName: str, resource_type: str, physical_id: str) -> None:
        self.stacks[StackName]["Resources"].append(
            {"LogicalResourceId": "Repo", "ResourceType": resource_type, "PhysicalResourceId": physical_id}
        )

    def delete_stack(self, StackName: str) -> None:
        self.stacks.pop(StackName, None)
        self.deleted.append(StackName)

    def get_waiter(self, name: str) -> Any:
        assert name == "stack_delete_complete"
        fake = self

        class Waiter:
            def wait(self, StackName: str) -> None:
                assert StackName not in fake.stacks

        return Waiter()


class Account:
    """A moto account in REGION (S3, ECR, IAM, STS), with the stacks the bootstrap and the app would make."""

    def __init__(self) -> None:
        self.lambda_client = FakeLambda()
        self.cloudformation = FakeCloudFormation()
        self.session = boto3.session.Session(region_name=REGION)

    def clients(self, name: str) -> Any:
        fakes = {"lambda": self.lambda_client, "cloudformation": self.cloudformation}
        return fakes[name] if name in fakes else self.session.client(name)

    def stack(
        self,
        name: str,
        outputs: dict[str, str],
        resources: list[str] | None = None,
        parameters: dict[str, str] | None = None,
    ) -> None:
        self.cloudformation.create(name, outputs, resources or [], parameters)

    def bootstrap(self, stage: Stage, bucket: str = "emotion-api-pipeline-dev-artifactsbucket-x") -> None:
        s3 = self.clients("s3")
        if stage.env == "dev":
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            self.clients("ecr").create_repository(repositoryName="emotion-api")
        self.stack(
            stage.bootstrap_stack,
            {
                "ArtifactsBucketName": bucket,
                "ImageRepositoryUri": f"123456789012.dkr.ecr.{REGION}.amazonaws.com/emotion-api",
                "CloudFormationExecutionRoleArn": "arn:aws:iam::123456789012:role/x",
                "PipelineRoleArn": "arn:aws:iam::123456789012:role/y",
                "PermissionsBoundaryArn": f"arn:aws:iam::123456789012:policy/emotion-api-boundary-{stage.env}",
            },
        )


@pytest.fixture
def account() -> Iterator[Account]:
    with mock_aws():
        yield Account()


def failures(findings: list[Finding]) -> list[Finding]:
    return [finding for finding in findings if not finding.passed]


PROD_ENVIRON = {"ALARM_EMAIL": "oncall@example.org"}


def test_preflight_passes_a_bootstrapped_account(account: Account) -> None:
    account.bootstrap(DEV)
    account.bootstrap(PROD)
    findings = stage_ops.preflight(PROD, account.clients, PROD_ENVIRON, in_pipeline=False)
    assert failures(findings) == []
    assert f"region {REGION}" in findings[0].what
    assert any("prod's alarms reach oncall@example.org" in f.what for f in findings)


def test_preflight_without_a_bootstrap_says_to_bootstrap_dev_first(account: Account) -> None:
    (failure,) = failures(stage_ops.preflight(PROD, account.clients, PROD_ENVIRON, in_pipeline=False))
    assert "emotion-api-pipeline-prod not found in eu-west-1" in failure.what
    assert "make bootstrap ENV=dev first" in failure.fix


def test_preflight_reports_a_bootstrap_stack_without_its_outputs(account: Account) -> None:
    account.stack(DEV.bootstrap_stack, {"ArtifactsBucketName": "b"})
    (failure,) = failures(stage_ops.preflight(DEV, account.clients, {}, in_pipeline=False))
    assert "lacks outputs ImageRepositoryUri, CloudFormationExecutionRoleArn, PipelineRoleArn" in failure.what


def test_preflight_reports_a_missing_image_repository(account: Account) -> None:
    account.bootstrap(DEV)
    account.clients("ecr").delete_repository(repositoryName="emotion-api", force=True)
    (failure,) = failures(stage_ops.preflight(DEV, account.clients, {}, in_pipeline=False))
    assert failure.what == "image repository emotion-api not found"
    assert "make bootstrap ENV=dev" in failure.fix


def test_preflight_says_whether_the_oidc_provider_exists(account: Account) -> None:
    account.bootstrap(DEV)
    findings = stage_ops.preflight(DEV, account.clients, {}, in_pipeline=False)
    assert any("no GitHub OIDC provider yet" in f.what for f in findings)
    account.clients("iam").create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40]
    )
    findings = stage_ops.preflight(DEV, account.clients, {}, in_pipeline=False)
    assert any("OIDC provider exists" in f.what and "reuses it" in f.what for f in findings)


def test_a_new_accounts_quota_lowers_samconfigs_provisioned_concurrency_and_says_so(account: Account) -> None:
    # GIVEN a new account: ten concurrent executions in all
    account.bootstrap(DEV)
    account.bootstrap(PROD)
    account.lambda_client = FakeLambda(limit=10, unreserved=10)
    # WHEN prod (samconfig: provisioned concurrency 1) is checked, then its parameters computed
    findings = stage_ops.preflight(PROD, account.clients, PROD_ENVIRON, in_pipeline=True)
    # THEN the first deploy passes, saying what it gives up and how to get it back
    assert failures(findings) == []
    (note,) = [f for f in findings if "lowered to 0" in f.what]
    assert "cannot give 1 provisioned" in note.what and "L-B99A9384" in note.what
    overrides, warnings = stage_ops.deploy_parameters(PROD, account.clients, PROD_ENVIRON)
    assert overrides["ProvisionedConcurrency"] == "0" and warnings == [note.what]
    # AND an account that can give it keeps samconfig's value, silently
    account.lambda_client = FakeLambda()
    overrides, warnings = stage_ops.deploy_parameters(PROD, account.clients, PROD_ENVIRON)
    assert overrides["ProvisionedConcurrency"] == "1" and warnings == []


def test_provisioned_concurrency_asked_for_explicitly_that_cannot_fit_fails_preflight(account: Account) -> None:
    account.bootstrap(DEV)
    account.bootstrap(PROD)
    account.lambda_client = FakeLambda(limit=10, unreserved=10)
    environ = {**PROD_ENVIRON, "PROVISIONED_CONCURRENCY": "2"}
    (failure,) = failures(stage_ops.preflight(PROD, account.clients, environ, in_pipeline=True))
    assert "cannot give 2 provisioned" in failure.what and "PROVISIONED_CONCURRENCY=0" in failure.fix
    with pytest.raises(StageError, match="cannot give 2 provisioned"):
        stage_ops.deploy_parameters(PROD, account.clients, environ)
    environ["PROVISIONED_CONCURRENCY"] = "0"
    assert failures(stage_ops.preflight(PROD, account.clients, environ, in_pipeline=True)) == []


def test_the_deploy_passes_the_bootstraps_permissions_boundary(account: Account) -> None:
    account.bootstrap(DEV)
    overrides, _ = stage_ops.deploy_parameters(DEV, account.clients, {})
    assert overrides["PermissionsBoundary"] == "arn:aws:iam::123456789012:policy/emotion-api-boundary-dev"
    assert overrides["RequireApiKey"] == "true"  # dev answers no one without a key
    account.cloudformation.stacks[DEV.bootstrap_stack]["Outputs"].pop()
    with pytest.raises(StageError, match="no PermissionsBoundaryArn output"):
        stage_ops.deploy_parameters(DEV, account.clients, {})


def test_preflight_refuses_prod_alarms_that_reach_nobody(account: Account) -> None:
    account.bootstrap(DEV)
    account.bootstrap(PROD)
    (failure,) = failures(stage_ops.preflight(PROD, account.clients, {}, in_pipeline=False))
    assert "ProdAlarmsReachSomeone" in failure.what and "ALARM_EMAIL" in failure.fix
    environ = {"ALARM_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:pager"}
    assert failures(stage_ops.preflight(PROD, account.clients, environ, in_pipeline=False)) == []


def test_preflight_in_the_pipeline_needs_a_smoke_test_key_for_a_key_source_of_ones_own(account: Account) -> None:
    account.bootstrap(DEV)
    readable = {"ReadableArns": f"arn:aws:ssm:{REGION}:123456789012:parameter/emotion/*"}
    account.cloudformation.stacks[DEV.bootstrap_stack]["Parameters"] = [
        {"ParameterKey": key, "ParameterValue": value} for key, value in readable.items()
    ]
    environ = {"PARAMETERS": "ApiKeyParameterName=/emotion/key"}
    (failure,) = failures(stage_ops.preflight(DEV, account.clients, environ, in_pipeline=True))
    assert "/emotion/key" in failure.what and "SMOKE_TEST_API_KEY" in failure.fix
    environ["SMOKE_TEST_API_KEY"] = "k"
    assert failures(stage_ops.preflight(DEV, account.clients, environ, in_pipeline=True)) == []


def test_preflight_refuses_a_key_or_model_the_permissions_boundary_keeps_out_of_reach(account: Account) -> None:
    # GIVEN a stage that reads its own key and a model in S3, bootstrapped without naming them
    account.bootstrap(DEV)
    environ = {
        "PARAMETERS": "ApiKeySecretArn=arn:aws:secretsmanager:eu-west-1:123456789012:secret:mine-AbCd "
        "ModelS3Bucket=models ModelS3Prefix=emotion/v2/",
        "SMOKE_TEST_API_KEY": "k",
    }
    # WHEN preflight runs, THEN it names both and the bootstrap parameter that lets the stage read them
    (failure,) = failures(stage_ops.preflight(DEV, account.clients, environ, in_pipeline=True))
    assert "secret:mine-AbCd" in failure.what and "arn:aws:s3:::models/emotion/v2/" in failure.what
    assert "READABLE_ARNS=" in failure.fix
    # AND once the bootstrap lists them, it passes
    readable = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mine-*,arn:aws:s3:::models/emotion/v2/*"
    account.cloudformation.stacks[DEV.bootstrap_stack]["Parameters"] = [
        {"ParameterKey": "ReadableArns", "ParameterValue": readable}
    ]
    assert failures(stage_ops.preflight(DEV, account.clients, environ, in_pipeline=True)) == []


def test_preflight_reports_a_stack_whose_first_deploy_failed(account: Account) -> None:
    account.bootstrap(DEV)
    account.stack(DEV.stack, {})
    account.cloudformation.stacks[DEV.stack]["StackStatus"] = "ROLLBACK_COMPLETE"
    (failure,) = failures(stage_ops.preflight(DEV, account.clients, {}, in_pipeline=False))
    assert failure.what == "stack emotion-api-dev is ROLLBACK_COMPLETE"
    assert "delete-stack --stack-name emotion-api-dev --region eu-west-1" in failure.fix


def test_preflight_without_credentials_says_how_to_get_them(account: Account) -> None:
    class NoCredentials:
        def get_caller_identity(self) -> dict[str, str]:
            raise stage_ops.ClientError({"Error": {"Code": "ExpiredToken", "Message": "x"}}, "GetCallerIdentity")

    clients = lambda name: NoCredentials() if name == "sts" else account.clients(name)  # noqa: E731
    (failure,) = stage_ops.preflight(DEV, clients, {}, in_pipeline=False)
    assert not failure.passed and "aws sso login" in failure.fix


# ---------------------------------------------------------------------------------------------------- bootstrap
def test_prod_cannot_bootstrap_before_dev(account: Account) -> None:
    with pytest.raises(StageError, match="make bootstrap ENV=dev GITHUB_REPO=owner/name first"):
        stage_ops.bootstrap_parameters(PROD, account.clients)


def test_prod_bootstraps_from_devs_bucket_and_reuses_the_provider(account: Account) -> None:
    account.bootstrap(DEV)
    account.clients("iam").create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40]
    )
    assert stage_ops.bootstrap_parameters(PROD, account.clients) == {
        "ArtifactStoreBucket": "emotion-api-pipeline-dev-artifactsbucket-x",
        "CreateGitHubOidcProvider": "false",
    }


def test_dev_creates_the_provider_only_where_none_exists(account: Account) -> None:
    assert stage_ops.bootstrap_parameters(DEV, account.clients)["CreateGitHubOidcProvider"] == "true"
    account.clients("iam").create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40]
    )
    assert stage_ops.bootstrap_parameters(DEV, account.clients)["CreateGitHubOidcProvider"] == "false"


def test_dev_keeps_the_provider_its_own_stack_created(account: Account) -> None:
    """An update of dev's bootstrap must not pass false for the provider it owns (CloudFormation would delete it)."""
    account.clients("iam").create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40]
    )
    account.stack(DEV.bootstrap_stack, {}, ["GitHubOidcProvider"])
    assert stage_ops.bootstrap_parameters(DEV, account.clients)["CreateGitHubOidcProvider"] == "true"


def test_a_second_dev_bootstrap_names_the_repository_left_behind(account: Account) -> None:
    account.clients("ecr").create_repository(repositoryName="emotion-api")
    with pytest.raises(StageError, match="aws ecr delete-repository --repository-name emotion-api --force"):
        stage_ops.bootstrap_parameters(DEV, account.clients)


# ----------------------------------------------------------------------------------------------------- releases
def test_a_short_sha_resolves_to_the_full_release(account: Account) -> None:
    account.bootstrap(DEV)
    account.clients("s3").put_object(
        Bucket="emotion-api-pipeline-dev-artifactsbucket-x", Key=f"emotion-api/releases/{SHA}/packaged.yaml", Body=b"x"
    )
    git = {"0123456": SHA}.get
    assert stage_ops.resolve_release(DEV, account.clients, "0123456", git) == SHA


def test_a_release_never_packaged_is_named_with_where_releases_are(account: Account) -> None:
    account.bootstrap(DEV)
    with pytest.raises(StageError, match=f"no release of {SHA}.*aws s3 ls s3://emotion-api-pipeline-dev"):
        stage_ops.resolve_release(DEV, account.clients, SHA, lambda ref: None)


def test_an_unknown_short_ref_is_refused_before_any_s3_call(account: Account) -> None:
    with pytest.raises(StageError, match="no commit this clone knows"):
        stage_ops.resolve_release(DEV, account.clients, "abc1234", lambda ref: None)


# ------------------------------------------------------------------------------------------------------ outputs
def test_outputs_print_the_url_without_a_stage_path_and_how_to_fetch_the_key(account: Account) -> None:
    url = f"https://abc123.execute-api.{REGION}.amazonaws.com"
    account.stack(
        PROD.stack,
        {"ApiUrl": url, "ApiKeyRequired": "true", "ApiKeySecretId": "arn:aws:secretsmanager:x", "AlarmsTopicArn": "t"},
    )
    text = stage_ops.outputs_text(PROD, account.clients)
    assert f"API        {url}   " in text and f"demo page  {url}/\n" in text
    assert "/dev" not in text and "/prod" not in text
    assert (
        f"aws secretsmanager get-secret-value --region {REGION} --secret-id arn:aws:secretsmanager:x "
        "--query SecretString --output text" in text
    )
    assert f"dashboards/dashboard/{PROD.stack}" in text


def test_outputs_of_an_open_stage_say_it_needs_no_key(account: Account) -> None:
    account.stack(DEV.stack, {"ApiUrl": "https://x", "ApiKeyRequired": "false"})
    assert "none: this stage is open" in stage_ops.outputs_text(DEV, account.clients)


def test_outputs_of_a_stage_never_deployed_say_how_to_deploy(account: Account) -> None:
    with pytest.raises(StageError, match="make deploy ENV=dev"):
        stage_ops.outputs_text(DEV, account.clients)


# ------------------------------------------------------------------------------------------------------ destroy
def test_destroy_empties_every_version_then_deletes_app_before_bootstrap(account: Account) -> None:
    # GIVEN dev deployed, its versioned bulk bucket holding versions and a delete marker
    account.bootstrap(DEV)
    s3 = account.clients("s3")
    s3.create_bucket(Bucket="bulk", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket="bulk", VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"2"):
        s3.put_object(Bucket="bulk", Key="input/a.csv", Body=body)
    s3.delete_object(Bucket="bulk", Key="input/a.csv")
    account.stack(DEV.stack, {"BulkBucketName": "bulk"})
    said: list[str] = []
    # WHEN dev is destroyed
    stage_ops.destroy(DEV, account.clients, said.append)
    # THEN the bucket holds nothing, not even a delete marker, and both stacks are gone, the app's first
    versions = s3.list_object_versions(Bucket="bulk")
    assert "Versions" not in versions and "DeleteMarkers" not in versions
    assert account.cloudformation.deleted == [DEV.stack, DEV.bootstrap_stack]
    assert "  3 deleted" in said
    cloudformation = account.clients("cloudformation")
    assert stage_ops.describe_stack(cloudformation, DEV.stack) is None
    assert stage_ops.describe_stack(cloudformation, DEV.bootstrap_stack) is None
    # AND it says what it kept, why, how to remove it, and what is left on GitHub
    kept = "\n".join(said)
    assert "s3://emotion-api-pipeline-dev-artifactsbucket-x: every release ever packaged" in kept
    assert "make destroy ENV=dev PURGE=1" in kept
    assert "gh api -X DELETE repos/$REPO/environments/dev" in kept
    assert s3.head_bucket(Bucket="emotion-api-pipeline-dev-artifactsbucket-x")


def test_destroying_dev_while_prod_exists_is_refused(account: Account) -> None:
    account.bootstrap(DEV)
    account.bootstrap(PROD)
    with pytest.raises(StageError, match="emotion-api-pipeline-prod still exist"):
        stage_ops.destroy(DEV, account.clients, print)
    assert stage_ops.describe_stack(account.clients("cloudformation"), DEV.bootstrap_stack) is not None


def test_destroying_prod_leaves_dev_alone(account: Account) -> None:
    account.bootstrap(DEV)
    account.bootstrap(PROD)
    account.stack(PROD.stack, {})
    said: list[str] = []
    stage_ops.destroy(PROD, account.clients, said.append)
    cloudformation = account.clients("cloudformation")
    assert stage_ops.describe_stack(cloudformation, PROD.bootstrap_stack) is None
    assert stage_ops.describe_stack(cloudformation, DEV.bootstrap_stack) is not None
    assert not any("Kept on purpose" in line for line in said)


# ------------------------------------------------------------------------------------------- alarm subscription
class PendingSns:
    """SNS as it answers before the address confirmed (moto confirms email subscriptions at once)."""

    def __init__(self, subscriptions: list[dict[str, str]]) -> None:
        self.subscriptions = subscriptions

    def list_subscriptions_by_topic(self, TopicArn: str) -> dict[str, Any]:
        return {"Subscriptions": self.subscriptions}


TOPIC = f"arn:aws:sns:{REGION}:123456789012:emotion-api-prod-alarms"


@pytest.mark.parametrize(
    ("subscriptions", "problem"),
    [
        ([{"Protocol": "email", "Endpoint": "oncall@example.org", "SubscriptionArn": "PendingConfirmation"}], "never"),
        ([], "has no subscription"),  # SNS dropped it unconfirmed
        ([{"Protocol": "email", "Endpoint": "ONCALL@example.org", "SubscriptionArn": f"{TOPIC}:1"}], ""),
    ],
    ids=["pending", "expired", "confirmed"],
)
def test_preflight_fails_while_the_alarm_address_has_not_confirmed(
    account: Account, subscriptions: list[dict[str, str]], problem: str
) -> None:
    account.bootstrap(DEV)
    account.bootstrap(PROD)
    account.stack(PROD.stack, {"AlarmsTopicArn": TOPIC})
    sns = PendingSns(subscriptions)
    clients = lambda name: sns if name == "sns" else account.clients(name)  # noqa: E731
    found = failures(stage_ops.preflight(PROD, clients, PROD_ENVIRON, in_pipeline=True))
    if not problem:
        assert found == []
        return
    (failure,) = found
    assert problem in failure.what and "oncall@example.org" not in failure.what  # the address stays out of logs
    assert f"aws sns subscribe --region {REGION} --topic-arn {TOPIC} --protocol email" in failure.fix


def test_before_the_first_deploy_preflight_says_to_confirm_the_email_to_come(account: Account) -> None:
    account.bootstrap(DEV)
    account.bootstrap(PROD)
    findings = stage_ops.preflight(PROD, account.clients, PROD_ENVIRON, in_pipeline=True)
    assert failures(findings) == []
    assert any("confirm the email AWS sends" in f.what for f in findings)


# ------------------------------------------------------------------------------------------------ GitHub settings
REPO = "owner/emotion-api"


def github(sub: Any, environment: Any, branches: list[str] | None = None) -> stage_ops.GitHubReader:
    answers = {
        f"repos/{REPO}/actions/oidc/customization/sub": sub,
        f"repos/{REPO}/environments/dev": environment,
        f"repos/{REPO}/environments/dev/deployment-branch-policies": {
            "branch_policies": [{"name": name, "type": "branch"} for name in branches or []]
        },
    }
    return answers.get


GOOD_SUB = {"use_default": False, "include_claim_keys": ["repo", "context", "ref", "job_workflow_ref"]}
MAIN_ONLY = {"deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True}}


@pytest.mark.parametrize(
    ("sub", "environment", "branches", "problems"),
    [
        (GOOD_SUB, MAIN_ONLY, ["main"], []),
        ({"use_default": True}, MAIN_ONLY, ["main"], ["OIDC subject does not carry"]),
        (GOOD_SUB, {"deployment_branch_policy": None}, [], ["lets any branch deploy"]),
        (GOOD_SUB, MAIN_ONLY, ["main", "feature/*"], ["lets main, feature/* deploy"]),
        (GOOD_SUB, None, [], ["GitHub environment dev not found"]),
    ],
    ids=["right", "default-subject", "no-branch-rule", "extra-branch", "no-environment"],
)
def test_preflight_checks_the_github_settings_the_roles_trust_relies_on(
    account: Account, sub: Any, environment: Any, branches: list[str], problems: list[str]
) -> None:
    account.bootstrap(DEV)
    read = github(sub, environment, branches)
    findings = stage_ops.preflight(DEV, account.clients, {}, in_pipeline=False, github_repo=REPO, read_github=read)
    found = failures(findings)
    assert [next(p for p in problems if p in f.what) for f in found] == problems
    for failure in found:
        assert failure.fix.startswith(("gh api -X PUT", "create it: gh api"))


def test_github_settings_that_cannot_be_read_are_left_to_check_by_hand(account: Account) -> None:
    account.bootstrap(DEV)
    findings = stage_ops.preflight(
        DEV, account.clients, {}, in_pipeline=False, github_repo=REPO, read_github=lambda path: None
    )
    assert failures(findings) == []
    assert any("check them by hand" in f.what for f in findings)


# ---------------------------------------------------------------------------------------------------- rotate-key
def test_rotate_key_stores_a_new_generated_key_without_printing_it(account: Account) -> None:
    secrets = account.clients("secretsmanager")
    arn = secrets.create_secret(Name="emotion-api-prod/api-key-0f1e", SecretString="old")["ARN"]
    account.stack(PROD.stack, {"ApiKeyRequired": "true", "ApiKeySecretId": arn})
    said = stage_ops.rotate_key(PROD, account.clients)
    new = secrets.get_secret_value(SecretId=arn)["SecretString"]
    assert new != "old" and len(new) == 40 and new.isalnum()
    assert new not in "\n".join(said)
    assert any("API_KEY_CACHE_SECONDS" in line for line in said)


def test_rotate_key_refuses_an_open_stage_and_a_key_of_ones_own(account: Account) -> None:
    account.stack(DEV.stack, {"ApiKeyRequired": "false"})
    with pytest.raises(StageError, match="open"):
        stage_ops.rotate_key(DEV, account.clients)
    account.stack(PROD.stack, {"ApiKeyRequired": "true", "ApiKeySecretId": "None"})
    with pytest.raises(StageError, match="put the new value there"):
        stage_ops.rotate_key(PROD, account.clients)


# ------------------------------------------------------------------------------------------------ destroy PURGE=1
def test_purge_removes_every_release_version_and_the_image_repository(account: Account) -> None:
    # GIVEN dev with releases (two versions of one key) and an image
    account.bootstrap(DEV)
    bucket = "emotion-api-pipeline-dev-artifactsbucket-x"
    s3 = account.clients("s3")
    for body in (b"1", b"2"):
        s3.put_object(Bucket=bucket, Key=f"emotion-api/releases/{SHA}/packaged.yaml", Body=body)
    said: list[str] = []
    # WHEN dev is destroyed with PURGE=1
    stage_ops.destroy(DEV, account.clients, said.append, purge=True)
    # THEN nothing of the store is left, and nothing is said to be kept
    with pytest.raises(ClientError, match=r"NoSuchBucket|Not Found|404"):
        s3.head_bucket(Bucket=bucket)
    assert account.clients("ecr").describe_repositories()["repositories"] == []
    assert not any("Kept on purpose" in line for line in said)
    assert "  2 deleted" in said


def test_purge_asks_for_the_buckets_name_as_well(account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    account.bootstrap(DEV)
    answers = iter(["emotion-api-dev", "yes"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    with pytest.raises(StageError, match="purge not confirmed"):
        stage_ops.confirm_destroy(DEV, account.clients, purge=True, yes=False)


def test_the_sandbox_teardown_removes_its_stack_images_and_uploads_only(account: Account) -> None:
    # GIVEN what `sam deploy --guided` made: the stack, a companion stack with an image repository, uploads under
    # the sandbox's prefix in SAM's own bucket, which also holds another project's
    sandbox = Stage("default", REGION, "emotion-api-sandbox")
    s3, ecr = account.clients("s3"), account.clients("ecr")
    s3.create_bucket(Bucket="sam-managed", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket="sam-managed", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="sam-managed", Key="emotion-api-sandbox/abc", Body=b"zip")
    s3.put_object(Bucket="sam-managed", Key="other-project/abc", Body=b"zip")
    ecr.create_repository(repositoryName="emotionapisandbox1234/inferencefunction")
    account.stack(stage_ops.SAM_MANAGED_STACK, {"SourceBucket": "sam-managed"})
    account.stack(sandbox.stack, {})
    companion = "emotion-api-sandbox-1a2b3c4d-CompanionStack"
    account.stack(companion, {})
    account.cloudformation.describe_stacks_resources_of_type(
        companion, "AWS::ECR::Repository", "emotionapisandbox1234/inferencefunction"
    )
    said: list[str] = []
    # WHEN the sandbox is destroyed
    stage_ops.destroy(sandbox, account.clients, said.append)
    # THEN its stacks, images and uploads are gone; SAM's bucket and the other project's upload stay
    assert account.cloudformation.deleted == [sandbox.stack, companion]
    assert ecr.describe_repositories()["repositories"] == []
    keys = [item["Key"] for item in s3.list_object_versions(Bucket="sam-managed").get("Versions", [])]
    assert keys == ["other-project/abc"]
    assert any(stage_ops.SAM_MANAGED_STACK in line and "Kept" in line for line in said)


def test_outputs_print_no_link_the_stage_does_not_serve(account: Account) -> None:
    """Every link make outputs prints is a GET route of the HTTP API (template.yaml), so none is a 404."""
    from scripts.common.sam_template import load_template

    account.stack(DEV.stack, {"ApiUrl": "https://x", "ApiKeyRequired": "true", "ApiKeySecretId": "s"})
    text = stage_ops.outputs_text(DEV, account.clients)
    routes = {
        event["Properties"]["Path"]
        for resource in load_template()["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi" and event["Properties"].get("Method") in ("GET", "ANY")
    }
    linked = {"/" + path for path in re.findall(r"https://x/(\S*)", text)}
    assert linked >= {"/", "/docs", "/openapi.json"}
    assert linked <= routes, linked - routes
