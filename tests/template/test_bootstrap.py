"""bootstrap/pipeline.yaml: what a new AWS account needs before the first deploy, one stack per stage.

Read with cfn-lint's decoder and linted like template.yaml; checked against the transformed application template, so
the execution role can create what the stack creates and nothing else is allowed wholesale.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint
from template_support import BOOTSTRAP_PATH, as_list, overrides, render, resources_of_type

from scripts.common.sam_template import load_template


@pytest.fixture(scope="module")
def bootstrap() -> dict[str, Any]:
    return load_template(BOOTSTRAP_PATH)


def statements(role: dict[str, Any], effect: str = "Allow") -> list[dict[str, Any]]:
    """A role's inline policy statements of one effect (a conditional statement counts with its 'then' branch)."""
    found = []
    for policy in role["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            statement = statement["Fn::If"][1] if "Fn::If" in statement else statement
            if statement["Effect"] == effect:
                found.append(statement)
    return found


def test_cfn_lint_reports_nothing() -> None:
    matches = lint(BOOTSTRAP_PATH.read_text(encoding="utf-8"), config=ManualArgs(regions=["us-east-1"]))
    assert [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches] == []


def test_the_image_repository_scans_every_push_keeps_tags_and_expires_old_images(bootstrap: dict[str, Any]) -> None:
    props = bootstrap["Resources"]["ImageRepository"]["Properties"]
    assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert props["ImageTagMutability"] == "IMMUTABLE"
    rules = json.loads(props["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    untagged, count = sorted(rules, key=lambda rule: rule["rulePriority"])
    assert untagged["selection"]["tagStatus"] == "untagged" and untagged["action"] == {"type": "expire"}
    assert count["selection"]["countType"] == "imageCountMoreThan" and count["selection"]["countNumber"] >= 30
    (pull,) = props["RepositoryPolicyText"]["Statement"]
    assert pull["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert set(pull["Action"]) == {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}


def test_the_artifact_bucket_is_private_versioned_and_tls_only(bootstrap: dict[str, Any]) -> None:
    props = bootstrap["Resources"]["ArtifactsBucket"]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}  # prod fetches the exact version dev deployed
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    (tls,) = bootstrap["Resources"]["ArtifactsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # One store, made by the first stage's stack; the others are given its bucket, so the image is pushed once.
    for name in ("ArtifactsBucket", "ArtifactsBucketPolicy", "ImageRepository"):
        assert bootstrap["Resources"][name]["Condition"] == "CreatesArtifactStore"
    assert bootstrap["Conditions"]["CreatesArtifactStore"] == {"Fn::Equals": [{"Ref": "ArtifactStoreBucket"}, ""]}


def test_only_the_stages_github_environment_on_its_branch_can_assume_its_role(bootstrap: dict[str, Any]) -> None:
    (trust,) = bootstrap["Resources"]["PipelineRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    conditions = trust["Condition"]["StringEquals"]
    assert conditions["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    # StringEquals, not StringLike: no other repository, ref, workflow or environment matches
    # (tests/template/test_trust_boundaries.py tries them).
    assert set(trust["Condition"]) == {"StringEquals"}
    assert conditions["token.actions.githubusercontent.com:sub"] == {
        "Fn::Sub": "repo:${GitHubRepository}:environment:${GitHubEnvironment}:ref:refs/heads/${GitHubBranch}"
        ":job_workflow_ref:${GitHubRepository}/.github/workflows/deploy.yml@refs/heads/${GitHubBranch}"
    }
    provider = bootstrap["Resources"]["GitHubOidcProvider"]
    assert provider["Properties"]["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["Properties"]["ClientIdList"] == ["sts.amazonaws.com"]


def test_the_pipeline_role_changes_aws_only_through_its_stacks_execution_role(bootstrap: dict[str, Any]) -> None:
    granted = statements(bootstrap["Resources"]["PipelineRole"])
    actions = {action for statement in granted for action in as_list(statement["Action"])}
    services = {action.split(":")[0] for action in actions}
    # lambda and sns: preflight's reads of the account's concurrency and of the alarm topic's subscriptions
    assert services <= {"cloudformation", "iam", "s3", "ecr", "secretsmanager", "lambda", "sns"}
    assert {a for a in actions if a.startswith("lambda:")} == {"lambda:GetAccountSettings"}
    assert {a for a in actions if a.startswith("sns:")} == {"sns:ListSubscriptionsByTopic"}
    assert not any(action.endswith("*") for action in actions)
    (pass_role,) = [s for s in granted if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"] == {"Fn::GetAtt": ["CloudFormationExecutionRole", "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}
    (change_sets,) = [s for s in granted if s.get("Sid") == "ChangeSetsOnTheStagesStack"]
    assert change_sets["Resource"]["Fn::Sub"].endswith(":stack/${ProjectName}-${Stage}/*")


def test_the_execution_role_may_attach_exactly_what_the_stack_attaches(bootstrap: dict[str, Any]) -> None:
    """Every managed policy the transformed template attaches to a role is on the execution role's list."""
    role = bootstrap["Resources"]["CloudFormationExecutionRole"]
    (attach,) = [s for s in statements(role) if s.get("Sid") == "AttachOnlyWhatSamAttaches"]
    allowed = {
        arn["Fn::Sub"].replace("${AWS::Partition}", "aws") for arn in attach["Condition"]["ArnLike"]["iam:PolicyARN"]
    }
    for stage in ("dev", "prod"):
        attached = {
            json.dumps(arn) if isinstance(arn, dict) else str(arn)
            for res in resources_of_type(render(overrides(stage)), "AWS::IAM::Role").values()
            for arn in res["Properties"].get("ManagedPolicyArns", [])
        }
        for arn in attached:
            if "ApiKeyReadPolicy" in arn:
                assert "arn:aws:iam::${AWS::AccountId}:policy/${ProjectName}-${Stage}-*" in allowed
                continue
            resolved = json.loads(arn)["Fn::Sub"].replace("${AWS::Partition}", "aws") if arn.startswith("{") else arn
            assert resolved in allowed, (stage, resolved)


def test_the_execution_role_names_its_stack_wherever_aws_allows(bootstrap: dict[str, Any]) -> None:
    """Resources named after ProjectName-Stage, except actions whose resources cannot be named in advance."""
    unscoped_ok = {
        "AccessLogDeliveryOfTheHttpApis",
        "ReadAlarms",
        "GenerateTheKey",
        "DeploymentConfigs",
        "HttpApis",
        "SamTransform",
        "ReadCodeAndImages",
        "PullImages",
        "TheEdgeDistribution",
    }
    for statement in statements(bootstrap["Resources"]["CloudFormationExecutionRole"]):
        assert statement["Effect"] == "Allow"
        assert not any(action.endswith(":*") for action in as_list(statement["Action"])), statement["Sid"]
        if statement["Sid"] in unscoped_ok:
            continue
        resources = json.dumps(statement["Resource"])
        assert "${ProjectName}-${Stage}" in resources, statement["Sid"]
    trust = bootstrap["Resources"]["CloudFormationExecutionRole"]["Properties"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "cloudformation.amazonaws.com"}]


def test_the_outputs_are_what_the_workflow_and_the_makefile_read(bootstrap: dict[str, Any]) -> None:
    root = BOOTSTRAP_PATH.parents[1]
    workflow = (root / ".github" / "workflows" / "deploy.yml").read_text(encoding="utf-8")
    makefile = (root / "Makefile").read_text(encoding="utf-8")
    for output in ("ArtifactsBucketName", "ImageRepositoryUri", "CloudFormationExecutionRoleArn"):
        assert output in bootstrap["Outputs"] and f"output {output}" in workflow, output
        assert f"bootstrap_output,{output}" in makefile, output
    assert "PipelineRoleArn" in bootstrap["Outputs"]
    # Every stage reads its store from its own stack, and the image repository is always ProjectName's.
    bucket = bootstrap["Outputs"]["ArtifactsBucketName"]["Value"]
    assert bucket == {"Fn::If": ["CreatesArtifactStore", {"Ref": "ArtifactsBucket"}, {"Ref": "ArtifactStoreBucket"}]}
    assert bootstrap["Resources"]["ImageRepository"]["Properties"]["RepositoryName"] == {"Ref": "ProjectName"}
    assert bootstrap["Outputs"]["ImageRepositoryUri"]["Value"]["Fn::Sub"].endswith("/${ProjectName}")
    # ArtifactStoreBucket and CreateGitHubOidcProvider come from scripts/deploy/stage_ops.py
    # (tests/scripts/test_stage_ops.py).
    assert "$(STAGE_OPS) bootstrap-parameters" in makefile
