"""Who can assume what, and how far each role reaches (docs/security.md, "Release trust boundaries").

Evaluated against bootstrap/pipeline.yaml and the transformed template.yaml, the way IAM evaluates the statements
(permissions_support.allowed: an explicit deny wins, then an allow whose conditions hold): a branch gets no role, the
dev role's templates make no role beyond the stage's ceiling, and no stage writes where another deploys from.
"""

from __future__ import annotations

import pytest
from permissions_support import ACCOUNT, Stack, allowed, application_stack, bootstrap_stack, role_statements
from template_support import as_list, overrides, render, walk

REGION = "us-east-1"
REPO = "owner/emotion-api"
BUCKET = "emotion-api-pipeline-dev-artifactsbucket-abcdefghijklm"
ROLE_PREFIX = f"arn:aws:iam::{ACCOUNT}:role"


def stage(env: str, **extra: str) -> Stack:
    return bootstrap_stack(env, REGION, "" if env == "dev" else BUCKET, extra=extra)


def subject_accepted(bootstrap: Stack, subject: str) -> bool:
    (trust,) = bootstrap.template["Resources"]["PipelineRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    equals = bootstrap.resolve(trust["Condition"]["StringEquals"])
    return bool(equals["token.actions.githubusercontent.com:sub"] == subject)


def subject(env: str, ref: str, workflow_ref: str | None = None) -> str:
    """The subject GitHub issues with include_claim_keys [repo, context, ref, job_workflow_ref]."""
    workflow_ref = workflow_ref or f"{REPO}/.github/workflows/deploy.yml@{ref}"
    return f"repo:{REPO}:environment:{env}:ref:{ref}:job_workflow_ref:{workflow_ref}"


# ------------------------------------------------------------------------------------------------ 1. OIDC
@pytest.mark.parametrize("env", ["dev", "prod"])
def test_only_mains_deploy_workflow_in_the_stages_environment_gets_the_role(env: str) -> None:
    bootstrap = stage(env, GitHubEnvironment=env)
    assert subject_accepted(bootstrap, subject(env, "refs/heads/main"))


@pytest.mark.parametrize(
    ("attacker", "token_subject"),
    [
        ("a pull request naming the environment", subject("dev", "refs/pull/7/merge")),
        ("another branch naming the environment", subject("dev", "refs/heads/feature")),
        (
            "a branch calling main's deploy.yml (it would build the branch's code)",
            subject("dev", "refs/heads/feature", f"{REPO}/.github/workflows/deploy.yml@refs/heads/main"),
        ),
        (
            "main running another workflow in the environment",
            subject("dev", "refs/heads/main", f"{REPO}/.github/workflows/ci.yml@refs/heads/main"),
        ),
        ("a tag", subject("dev", "refs/tags/v1")),
        ("GitHub's default subject (no customisation)", f"repo:{REPO}:environment:dev"),
        ("a pull request's default subject", f"repo:{REPO}:pull_request"),
        ("a fork", subject("dev", "refs/heads/main").replace(REPO, "fork/emotion-api")),
        ("prod's environment asking for dev's role", subject("production", "refs/heads/main")),
    ],
)
def test_no_other_ref_workflow_or_environment_gets_the_dev_role(attacker: str, token_subject: str) -> None:
    assert not subject_accepted(stage("dev"), token_subject), attacker


def test_pull_requests_run_no_job_that_can_ask_for_a_token() -> None:
    from template_support import WORKFLOWS_DIR, load_workflow

    ci = load_workflow(WORKFLOWS_DIR / "ci.yml")
    assert ci["permissions"] == {"contents": "read"}
    for name, job in ci["jobs"].items():
        if job.get("permissions", {}).get("id-token") == "write":
            assert name == "deploy", name
            assert job["if"] == "github.ref == 'refs/heads/main' && github.event_name != 'pull_request'"


# ------------------------------------------------------------------------------------------------ 2. no escalation
BOUNDARY_CHANGING = (
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
)
#: Every IAM action the execution role may take: a new one fails here until it is weighed (and listed).
EXECUTION_ROLE_IAM = {
    *BOUNDARY_CHANGING,
    "iam:DeleteRole",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:PassRole",
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:ListEntitiesForPolicy",
    "iam:ListPolicyVersions",
    "iam:TagPolicy",
    "iam:UntagPolicy",
}


def boundary_arn(bootstrap: Stack) -> str:
    return bootstrap.own_arns("StageRoleBoundary")[0]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_execution_role_changes_a_role_only_with_the_stages_boundary_on_it(env: str) -> None:
    bootstrap = stage(env)
    role = f"{ROLE_PREFIX}/emotion-api-{env}-InferenceFunctionRole-ABCDEFGHIJKLM"
    ceiling = {"iam:PermissionsBoundary": boundary_arn(bootstrap)}
    sam_policy = {"iam:PolicyARN": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"}
    for action in BOUNDARY_CHANGING:
        context = {**ceiling, **sam_policy}
        assert allowed(bootstrap, "CloudFormationExecutionRole", action, role, context), action
        # without a boundary, or with another policy as the boundary: refused
        assert not allowed(bootstrap, "CloudFormationExecutionRole", action, role, sam_policy), action
        other = {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/emotion-api-{env}-mine", **sam_policy}
        assert not allowed(bootstrap, "CloudFormationExecutionRole", action, role, other), action
    admin = {**ceiling, "iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}
    assert not allowed(bootstrap, "CloudFormationExecutionRole", "iam:AttachRolePolicy", role, admin)
    # the ceiling itself stays where the bootstrap put it
    assert not allowed(bootstrap, "CloudFormationExecutionRole", "iam:DeleteRolePermissionsBoundary", role, ceiling)
    for action in ("iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicy"):
        assert not allowed(bootstrap, "CloudFormationExecutionRole", action, boundary_arn(bootstrap)), action
    # and it is not a policy of the stack's own pattern, which the execution role may write
    assert not boundary_arn(bootstrap).split("/")[-1].startswith(f"emotion-api-{env}-")


def test_every_role_changing_grant_carries_the_boundary_condition_and_no_iam_grant_widens() -> None:
    bootstrap = stage("dev")
    granted: set[str] = set()
    for statement in role_statements(bootstrap, "CloudFormationExecutionRole"):
        iam = {a for a in statement.actions if a.startswith("iam:")}
        granted |= iam
        if iam & set(BOUNDARY_CHANGING):
            assert statement.conditions.get("StringEquals", {}).get("iam:PermissionsBoundary") == boundary_arn(
                bootstrap
            ), statement.sid
    assert granted == EXECUTION_ROLE_IAM


def test_pass_role_reaches_only_the_stacks_roles_and_four_services() -> None:
    bootstrap = stage("dev")
    (pass_role,) = [s for s in role_statements(bootstrap, "CloudFormationExecutionRole") if "iam:PassRole" in s.actions]
    assert pass_role.resources == (f"{ROLE_PREFIX}/emotion-api-dev-*",)
    services = set(as_list(pass_role.conditions["StringEquals"]["iam:PassedToService"]))
    assert services == {f"{name}.amazonaws.com" for name in ("lambda", "codedeploy", "scheduler", "states")}


@pytest.mark.parametrize(
    "parameters",
    [{}, {"DeployZipFlavor": "true"}, {"RequireApiKey": "true"}],
    ids=["plain", "zip", "keyed"],
)
@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_role_the_stack_creates_carries_the_boundary(env: str, parameters: dict[str, str]) -> None:
    given = {**overrides(env), **parameters, "PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/b"}
    app = application_stack(env, REGION, given, f"emotion-api-{env}")
    roles = {name: res for name, res in app.resources.items() if res["Type"] == "AWS::IAM::Role"}
    assert roles
    for name, role in roles.items():
        assert app.resolve(role["Properties"].get("PermissionsBoundary")) == given["PermissionsBoundary"], name


#: The AWS managed policies SAM attaches, by what the stack's roles use of them.
MANAGED_POLICY_ACTIONS = {
    "AWSXrayWriteOnlyAccess": {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries",
    },
    "AWSCodeDeployRoleForLambda": {
        "cloudwatch:DescribeAlarms",
        "lambda:UpdateAlias",
        "lambda:GetAlias",
        "lambda:GetProvisionedConcurrencyConfig",
        "sns:Publish",
        "lambda:InvokeFunction",
    },
}


def stack_role_actions() -> set[str]:
    """Every action any role of any flavor of the stack is given, inline or by the managed policies it attaches."""
    needed: set[str] = set()
    for env in ("dev", "prod"):
        template = render({**overrides(env), "DeployZipFlavor": "true", "RequireApiKey": "true"})
        for res in template["Resources"].values():
            if res["Type"] not in ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy"):
                continue
            props = {k: v for k, v in res["Properties"].items() if k != "AssumeRolePolicyDocument"}
            for node in walk(props):
                if isinstance(node, dict) and "Action" in node:
                    needed |= set(as_list(node["Action"]))
                if isinstance(node, str):
                    needed |= MANAGED_POLICY_ACTIONS.get(node.rsplit("/", 1)[-1], set())
    return needed


def test_the_boundary_allows_what_the_stacks_roles_use_and_nothing_more() -> None:
    bootstrap = stage("dev", ReadableArns="arn:aws:s3:::models/emotion/*")
    granted = {a for s in role_statements(bootstrap, "StageRoleBoundary") for a in s.actions}
    assert granted == stack_role_actions()
    assert not any("*" in action for action in granted)
    assert not {a.split(":")[0] for a in granted} & {"iam", "sts", "organizations", "kms", "ec2"}


def test_a_role_a_template_gives_every_permission_can_still_do_only_what_the_boundary_allows() -> None:
    bootstrap = stage("dev")
    own = "arn:aws:s3:::emotion-api-dev-bulkbucket-abcdefghijklm/input/x.csv"
    assert allowed(bootstrap, "StageRoleBoundary", "s3:GetObject", own)
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
    for action, arn in [
        ("iam:CreateUser", "arn:aws:iam::123456789012:user/attacker"),
        ("sts:AssumeRole", f"{ROLE_PREFIX}/OrganizationAccountAccessRole"),
        ("s3:GetObject", "arn:aws:s3:::emotion-api-prod-bulkbucket-abcdefghijklm/input/x.csv"),
        ("s3:PutObject", f"arn:aws:s3:::{BUCKET}/emotion-api/releases/0123/packaged.yaml"),
        (
            "secretsmanager:GetSecretValue",
            f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:emotion-api-prod/api-key-1",
        ),
        ("lambda:InvokeFunction", f"{function}:emotion-api-prod-InferenceFunction-X"),
        ("lambda:UpdateFunctionCode", f"{function}:emotion-api-dev-InferenceFunction-X"),
    ]:
        assert not allowed(bootstrap, "StageRoleBoundary", action, arn), (action, arn)


def test_sources_outside_the_stage_are_readable_only_when_the_bootstrap_names_them() -> None:
    model = "arn:aws:s3:::models/emotion/model.onnx"
    assert not allowed(stage("dev"), "StageRoleBoundary", "s3:GetObject", model)
    assert allowed(
        stage("dev", ReadableArns="arn:aws:s3:::models/emotion/*"), "StageRoleBoundary", "s3:GetObject", model
    )


# ------------------------------------------------------------------------------------------------ 3. artifacts
@pytest.mark.parametrize(
    ("env", "key", "writes"),
    [
        ("dev", "emotion-api/0123456789abcdef", True),  # sam package: the release's artifacts
        ("dev", "emotion-api/releases/0123/packaged.yaml", True),
        ("dev", "emotion-api-dev/0123.template", True),  # sam deploy's template upload
        ("dev", "emotion-api-prod/0123.template", False),  # what prod's change set is about to read
        ("dev", "anything-else", False),
        ("prod", "emotion-api-prod/0123.template", True),
        ("prod", "emotion-api/releases/0123/packaged.yaml", False),
        ("prod", "emotion-api-dev/0123.template", False),
    ],
)
def test_each_stage_writes_only_its_own_prefix(env: str, key: str, writes: bool) -> None:
    bootstrap = stage(env)
    # the store every stage deploys from: the one dev's stack creates, the one prod's is given
    bucket = bootstrap.resolve(bootstrap.template["Outputs"]["ArtifactsBucketName"]["Value"])
    assert allowed(bootstrap, "PipelineRole", "s3:PutObject", f"arn:aws:s3:::{bucket}/{key}") is writes


def test_the_pipeline_roles_have_no_way_to_remove_a_version() -> None:
    for env in ("dev", "prod"):
        actions = {a for s in role_statements(stage(env), "PipelineRole") for a in s.actions}
        assert not {a for a in actions if a.startswith("s3:Delete") or a == "s3:PutBucketVersioning"}, env
