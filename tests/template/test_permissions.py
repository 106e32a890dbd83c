"""The bootstrap's roles can do what a deploy asks of them, for every samconfig environment.

The execution role against the provider handlers of every resource the transformed template creates (a first
deploy, an update, a failed first deploy's rollback and a stack delete all need them), the pipeline role against the
calls the deploy workflow makes, and each environment's parameters against the template's Rules. A missing grant
fails naming the resource, the action, the role and the statement of bootstrap/pipeline.yaml to change.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest
from permissions_support import (
    ACCOUNT,
    Need,
    Stack,
    application_stack,
    bootstrap_stack,
    handler_permissions,
    missing,
    role_statements,
)
from template_support import TEMPLATE_PATH, WORKFLOWS_DIR, evaluate_conditions, load_workflow

from scripts.common.sam_template import load_template
from scripts.deploy import stage_config

#: What the deploy adds to samconfig's overrides (stage_config.deploy_overrides): prod's alarm recipient.
DEPLOY_ENVIRON = {"ALARM_EMAIL": "oncall@example.org"}
#: The stacks the check deploys: each samconfig stage as the pipeline deploys it, and dev with the zip flavor.
DEPLOYMENTS = {
    "dev": ("dev", {}),
    "prod": ("prod", {}),
    "dev+zip": ("dev", {"DeployZipFlavor": "true"}),
    "prod+edge": ("prod", {"EdgeProtection": "true"}),
}

#: Handler permissions this template never makes the handlers call, each with the property whose absence says so.
#: An action of a new resource type lands here only with such a reason; anything else must be granted.
NOT_CALLED: dict[tuple[str, str], str] = {
    ("AWS::WAFv2::WebACL", "payments:*"): "no AWS Marketplace rule group: the edge uses AWS's free managed rules",
    ("AWS::CloudFront::Distribution", "cloudfront:*ConnectionGroup"): "not a multi-tenant distribution",
    ("AWS::CloudFront::Distribution", "cloudfront:GetVpcOrigin"): "the origin is the HTTP API, not a VPC origin",
    ("AWS::CloudFront::Distribution", "cloudfront:CreateDistributionWithTags"): (
        "no IAM action of that name: IAM authorises the API call as CreateDistribution and TagResource"
    ),
    ("AWS::CloudFront::Distribution", "cloudfront:UpdateDistributionWithStagingConfig"): (
        "no staging distribution (continuous deployment) is configured"
    ),
    ("AWS::ApiGatewayV2::Api", "s3:getObject"): "BodyS3Location unset: SAM inlines the OpenAPI Body",
    ("AWS::ApiGatewayV2::Stage", "apigateway:*TagResource"): (
        "not IAM actions (cfn-lint's W3037 knows none): API Gateway authorises tagging as POST/DELETE on /tags/*"
    ),
    ("AWS::CodeDeploy::DeploymentGroup", "codedeploy:RegisterOnPremisesInstance"): "on-premises instances: none",
    ("AWS::IAM::ManagedPolicy", "iam:Attach*Policy"): "Roles/Groups/Users unset: the roles attach it themselves",
    ("AWS::IAM::ManagedPolicy", "iam:Detach*Policy"): "Roles/Groups/Users unset: the roles attach it themselves",
    ("AWS::IAM::Role", "iam:*RolePermissionsBoundary"): "PermissionsBoundary unset",
    ("AWS::IAM::Role", "iam:UpdateRoleDescription"): "Description unset on every role SAM makes",
    ("AWS::Lambda::Function", "ec2:*"): "VpcConfig unset",
    ("AWS::Lambda::Function", "elasticfilesystem:*"): "FileSystemConfigs unset",
    ("AWS::Lambda::Function", "s3files:*"): "FileSystemConfigs unset",
    ("AWS::Lambda::Function", "kms:*"): "KmsKeyArn unset: Lambda's own key",
    ("AWS::Lambda::Function", "lambda:*CodeSigningConfig"): "CodeSigningConfigArn unset (GetFunction... is granted)",
    ("AWS::Lambda::Function", "lambda:PassCapacityProvider"): "CapacityProviderConfig unset",
    ("AWS::Lambda::Function", "lambda:PutFunctionScalingConfig"): "CapacityProviderConfig unset",
    ("AWS::Lambda::Function", "lambda:AssociateRuntimeAlias"): "runtime aliases: none",
    ("AWS::Lambda::Version", "lambda:PutFunctionScalingConfig"): "FunctionScalingConfig unset",
    ("AWS::Logs::LogGroup", "firehose:*"): "no delivery stream",
    ("AWS::Logs::LogGroup", "logs:*KmsKey"): "KmsKeyId unset",
    ("AWS::Logs::LogGroup", "logs:PutDataProtectionPolicy"): "DataProtectionPolicy unset (its Get is granted)",
    ("AWS::Logs::LogGroup", "logs:DeleteDataProtectionPolicy"): "DataProtectionPolicy unset (its Get is granted)",
    ("AWS::Logs::LogGroup", "logs:*IndexPolicy"): "FieldIndexPolicies unset (DescribeIndexPolicies is granted)",
    ("AWS::Logs::LogGroup", "logs:DeleteResourcePolicy"): "ResourcePolicyDocument unset",
    ("AWS::Logs::LogGroup", "logs:PutBearerTokenAuthentication"): "BearerTokenAuthenticationEnabled unset",
    ("AWS::Logs::LogGroup", "logs:PutLogGroupDeletionProtection"): "DeletionProtectionEnabled unset",
    ("AWS::Logs::LogGroup", "s3:REST.PUT.OBJECT"): "not an IAM action (an S3 access-log operation name)",
    ("AWS::S3::Bucket", "iam:PassRole"): "ReplicationConfiguration unset",
    ("AWS::S3::Bucket", "s3tables:*"): "MetadataConfiguration unset",
    ("AWS::S3::Bucket", "s3:*MetadataTableConfiguration"): "MetadataConfiguration unset",
    ("AWS::S3::Bucket", "s3:UpdateBucketMetadata*"): "MetadataConfiguration unset",
    ("AWS::S3::Bucket", "s3:DeleteBucket?*"): "only when the template removes that configuration",
    ("AWS::S3::Bucket", "s3:PutAccelerateConfiguration"): "AccelerateConfiguration unset",
    ("AWS::S3::Bucket", "s3:PutAnalyticsConfiguration"): "AnalyticsConfigurations unset",
    ("AWS::S3::Bucket", "s3:PutBucketAbac"): "AbacStatus unset",
    ("AWS::S3::Bucket", "s3:PutBucketAcl"): "AccessControl unset (BucketOwnerEnforced)",
    ("AWS::S3::Bucket", "s3:PutObjectAcl"): "AccessControl unset (BucketOwnerEnforced)",
    ("AWS::S3::Bucket", "s3:PutBucketCORS"): "CorsConfiguration unset",
    ("AWS::S3::Bucket", "s3:PutBucketLogging"): "LoggingConfiguration unset",
    ("AWS::S3::Bucket", "s3:PutBucketNotification"): "NotificationConfiguration unset",
    ("AWS::S3::Bucket", "s3:Put*ObjectLockConfiguration"): "ObjectLockConfiguration unset",
    ("AWS::S3::Bucket", "s3:Put*Replication*"): "ReplicationConfiguration unset",
    ("AWS::S3::Bucket", "s3:PutBucketWebsite"): "WebsiteConfiguration unset",
    ("AWS::S3::Bucket", "s3:PutIntelligentTieringConfiguration"): "IntelligentTieringConfigurations unset",
    ("AWS::S3::Bucket", "s3:PutInventoryConfiguration"): "InventoryConfigurations unset",
    ("AWS::S3::Bucket", "s3:PutMetricsConfiguration"): "MetricsConfigurations unset",
    ("AWS::SecretsManager::Secret", "secretsmanager:*Replicat*"): "ReplicaRegions unset",
    ("AWS::SecretsManager::Secret", "secretsmanager:RemoveRegionsFromReplication"): "ReplicaRegions unset",
    ("AWS::SNS::Topic", "iam:*"): "delivery status logging unset (no role)",
    ("AWS::SNS::Topic", "sns:*DataProtectionPolicy"): "DataProtectionPolicy unset",
    ("AWS::SNS::Topic", "sns:Unsubscribe"): "Subscription unset on the topic (AWS::SNS::Subscription is checked)",
    ("AWS::SNS::Subscription", "iam:*"): "SubscriptionRoleArn unset (Firehose subscriptions only)",
    ("AWS::StepFunctions::StateMachine", "kms:*"): "EncryptionConfiguration unset",
    ("AWS::StepFunctions::StateMachine", "s3:GetObject*"): "DefinitionS3Location unset: SAM inlines the definition",
}
#: Actions that take no resource (or none known before the stack exists): the role must grant them on "*".
ANY_RESOURCE = {
    "cloudwatch:DescribeAlarms",
    "logs:CreateLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:PutResourcePolicy",
    "secretsmanager:GetRandomPassword",
}


def not_called(resource_type: str, action: str) -> str | None:
    for (kind, pattern), reason in NOT_CALLED.items():
        if kind == resource_type and fnmatch.fnmatchcase(action.lower(), pattern.lower()):
            return reason
    return None


def targets(stack: Stack, logical_id: str, action: str, artifact_bucket: str) -> list[str]:
    """The ARNs IAM authorises ``action`` against when a handler of ``logical_id`` calls it."""
    res = stack.template["Resources"][logical_id]
    kind, props = res["Type"], res.get("Properties", {})
    service = action.split(":")[0]
    if action in ANY_RESOURCE:
        return ["*"]
    if action == "iam:PassRole":
        role = props.get("Role") or props.get("RoleArn") or props.get("ServiceRoleArn") or props["Target"]["RoleArn"]
        return [str(stack.resolve(role))]
    if kind in ("AWS::Lambda::Function", "AWS::Lambda::LayerVersion") and service == "s3":
        # Zip code and layers come from the artifact store; an image function reads ECR (PullImages) instead.
        return [] if props.get("PackageType") == "Image" else [f"arn:aws:s3:::{artifact_bucket}/*"]
    if action == "lambda:GetLayerVersion" and kind == "AWS::Lambda::Function":
        return [str(stack.resolve(layer)) for layer in props.get("Layers", [])]
    if action in ("s3:DeleteObject",):
        return [f"{arn}/*" for arn in stack.own_arns(logical_id)]
    if action == "codedeploy:GetDeploymentConfig":
        return [stack.arn("codedeploy", "deploymentconfig:CodeDeployDefault.LambdaAllAtOnce")]
    if kind == "AWS::Lambda::Alias" and service == "codedeploy":
        update = res.get("UpdatePolicy", {}).get("CodeDeployLambdaAliasUpdate")
        return stack.own_arns(update["DeploymentGroupName"]["Ref"]) if update else []
    if kind == "AWS::CodeDeploy::DeploymentGroup" and action.endswith("ApplicationRevision"):
        return [stack.arn("codedeploy", f"application:{stack.resolve(props['ApplicationName'])}")]
    if kind == "AWS::SNS::Subscription" and action == "sns:Subscribe":
        return [str(stack.resolve(props["TopicArn"]))]
    own = stack.own_arns(logical_id)
    own_services = {arn.split(":")[2] for arn in own}
    assert service in own_services, (
        f"{logical_id} ({kind}): its handlers call {action}, on which ARN? Say so in test_permissions.targets"
    )
    return own


def deployment(name: str) -> tuple[Stack, Stack]:
    """The application stack of one deployment and its stage's bootstrap stack (prod's given dev's bucket)."""
    env, extra = DEPLOYMENTS[name]
    region = stage_config.region(env)
    overrides = {**stage_config.deploy_overrides(env, DEPLOY_ENVIRON), **extra}
    app = application_stack(env, region, overrides, stage_config.stack_name(env))
    dev_bucket = bootstrap_stack("dev", region).physical_name("ArtifactsBucket")
    bootstrap = bootstrap_stack(env, region, "" if env == "dev" else dev_bucket)
    return app, bootstrap


def execution_needs(app: Stack, bootstrap: Stack) -> list[Need]:
    bucket = str(bootstrap.resolve(bootstrap.template["Outputs"]["ArtifactsBucketName"]["Value"]))
    needs = []
    for logical_id, res in app.resources.items():
        for action in handler_permissions(res["Type"]):
            if not_called(res["Type"], action):
                continue
            for arn in targets(app, logical_id, action, bucket):
                needs.append(Need(logical_id, res["Type"], action, arn))
    return needs


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_the_execution_role_grants_every_handler_permission_on_the_stacks_arns(name: str) -> None:
    # GIVEN the stage's stack as the pipeline deploys it, and the execution role its bootstrap stack makes
    app, bootstrap = deployment(name)
    statements = role_statements(bootstrap, "CloudFormationExecutionRole")
    # WHEN every resource's create, update and delete handlers ask for their permissions
    needs = execution_needs(app, bootstrap)
    # THEN every one is granted on the ARN the stack's resource will have
    assert len({need.resource_type for need in needs}) >= 15
    assert missing(needs, statements, "CloudFormationExecutionRole") == []


@pytest.mark.parametrize(
    ("sid", "action"),
    [
        ("TheBulkBucket", "s3:TagResource"),
        ("TheBulkBucket", "s3:ListBucket"),
        ("TheBulkBucket", "s3:DeleteObject"),
        ("LogGroupsNamedAfterTheStack", "logs:DescribeIndexPolicies"),
        ("GradualDeployments", "codedeploy:ListDeployments"),
        ("TheGeneratedApiKey", "secretsmanager:GetSecretValue"),
        ("ManagedPoliciesNamedAfterTheStack", "iam:ListEntitiesForPolicy"),
        ("TheStagesDashboard", "cloudwatch:PutDashboard"),
    ],
)
def test_dropping_one_grant_fails_the_check_naming_resource_action_role_and_line(sid: str, action: str) -> None:
    """The check is not vacuous: without one of the grants the first deploy needed, it names what to fix."""
    app, bootstrap = deployment("prod")
    statements = [
        type(s)(s.sid, tuple(a for a in s.actions if a != action), s.resources, s.line) if s.sid == sid else s
        for s in role_statements(bootstrap, "CloudFormationExecutionRole")
    ]
    problems = missing(execution_needs(app, bootstrap), statements, "CloudFormationExecutionRole")
    assert problems
    assert all(f"needs {action} on " in problem for problem in problems), problems
    (line,) = {s.line for s in statements if s.sid == sid}
    where = f"CloudFormationExecutionRole: add it to statement {sid} (bootstrap/pipeline.yaml line {line})"
    assert where in problems[0]


def test_a_resource_the_role_knows_nothing_of_is_reported_with_its_service() -> None:
    app, bootstrap = deployment("dev")
    role = "CloudFormationExecutionRole"
    statements = [s for s in role_statements(bootstrap, role) if s.sid != "TheBulkStateMachine"]
    needs = [n for n in execution_needs(app, bootstrap) if n.resource == "BulkClassifyStateMachine"]
    problems = missing(needs, statements, "CloudFormationExecutionRole")
    assert any("states:CreateStateMachine" in p and "grants any states action" in p for p in problems), problems


# ------------------------------------------------------------------------------------------ the pipeline role
RELEASE = "arn:aws:s3:::{bucket}/emotion-api/releases/0123abc/packaged.yaml"
STACK = "arn:aws:cloudformation:{region}:{account}:stack/{stack}/*"
REPOSITORY = "arn:aws:ecr:{region}:{account}:repository/emotion-api"
#: What each command the deploy workflow runs calls, on which ARN ({...} filled per stage).
WORKFLOW_CALLS: dict[str, list[tuple[str, str]]] = {
    "aws cloudformation describe-stacks": [
        ("cloudformation:DescribeStacks", STACK),
        ("cloudformation:DescribeStacks", "{bootstrap_id}"),
    ],
    "aws cloudformation get-template": [
        ("cloudformation:GetTemplate", STACK),
    ],
    "aws s3api put-object": [("s3:PutObject", RELEASE)],
    "aws s3api get-object": [("s3:GetObjectVersion", RELEASE)],
    "aws secretsmanager get-secret-value": [
        ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:{region}:{account}:secret:{stack}/api-key-0f1e-AbCd"),
    ],
    "sam build": [],
    "sam package": [
        ("s3:PutObject", "arn:aws:s3:::{bucket}/emotion-api/0123456789abcdef"),
        ("s3:ListBucket", "arn:aws:s3:::{bucket}"),
        ("ecr:GetAuthorizationToken", "*"),
        ("ecr:InitiateLayerUpload", REPOSITORY),
        ("ecr:UploadLayerPart", REPOSITORY),
        ("ecr:CompleteLayerUpload", REPOSITORY),
        ("ecr:BatchCheckLayerAvailability", REPOSITORY),
        ("ecr:PutImage", REPOSITORY),
    ],
    "sam deploy": [
        ("cloudformation:CreateChangeSet", STACK),
        ("cloudformation:CreateChangeSet", "arn:aws:cloudformation:{region}:aws:transform/Serverless-2016-10-31"),
        # samconfig's tags go on the stack with the change set
        ("cloudformation:TagResource", STACK),
        ("cloudformation:DescribeChangeSet", STACK),
        ("cloudformation:ExecuteChangeSet", STACK),
        ("cloudformation:DescribeStackEvents", STACK),
        ("cloudformation:GetTemplateSummary", "*"),
        ("iam:PassRole", "{execution_role}"),
        # the template, over CloudFormation's 51,200 bytes inline, goes to the bucket under the stage's s3_prefix
        ("s3:PutObject", "arn:aws:s3:::{bucket}/{stack}/0123456789abcdef.template"),
    ],
    "make preflight": [
        ("cloudformation:DescribeStacks", "{bootstrap_id}"),
        ("cloudformation:DescribeStacks", STACK),
        ("ecr:DescribeRepositories", REPOSITORY),
        ("lambda:GetAccountSettings", "*"),
        ("sns:ListSubscriptionsByTopic", "arn:aws:sns:{region}:{account}:{stack}-alarms"),
    ],
    "make sam-setup": [],
    "stage_ops parameters": [
        ("cloudformation:DescribeStacks", "{bootstrap_id}"),
        ("lambda:GetAccountSettings", "*"),
    ],
    # head_object and get_object by version of each zip sam package uploaded; the image's digest
    "stage_ops pin-release": [
        ("s3:GetObject", "arn:aws:s3:::{bucket}/emotion-api/0123456789abcdef"),
        ("s3:GetObjectVersion", "arn:aws:s3:::{bucket}/emotion-api/0123456789abcdef"),
        ("ecr:DescribeImages", REPOSITORY),
    ],
    "stage_ops verify-release": [("s3:GetObjectVersion", "arn:aws:s3:::{bucket}/emotion-api/0123456789abcdef")],
}
COMMAND = re.compile(r"\b(aws [a-z0-9-]+ [a-z0-9-]+|sam [a-z-]+|make [a-z-]+|stage_ops [a-z-]+)")


def workflow_commands(job: dict[str, Any]) -> list[str]:
    return [match for step in job["steps"] for match in COMMAND.findall(step.get("run", ""))]


@pytest.mark.parametrize(("job_name", "env"), [("dev", "dev"), ("prod", "prod")])
def test_the_pipeline_role_grants_every_call_of_its_deploy_job(job_name: str, env: str) -> None:
    job = load_workflow(WORKFLOWS_DIR / "deploy.yml")["jobs"][job_name]
    app, bootstrap = deployment(env)
    commands = workflow_commands(job)
    unknown = sorted(set(commands) - set(WORKFLOW_CALLS))
    assert unknown == [], f"deploy.yml's {job_name} job runs {unknown}: list what they call in WORKFLOW_CALLS"
    assert "make preflight" in commands[:2], "the job checks the account before it builds or deploys anything"
    fill = {
        "region": app.region,
        "account": ACCOUNT,
        "stack": app.name,
        "bucket": str(bootstrap.resolve(bootstrap.template["Outputs"]["ArtifactsBucketName"]["Value"])),
        "bootstrap_id": bootstrap.pseudo("AWS::StackId"),
        "execution_role": bootstrap.own_arns("CloudFormationExecutionRole")[0],
    }
    needs = [
        Need(f"deploy.yml {job_name}: {command}", "workflow step", action, arn.format(**fill))
        for command in dict.fromkeys(commands)
        for action, arn in WORKFLOW_CALLS[command]
        # the store's own stage pushes the image and pins the release; later stages deploy what it pinned
        if not (command in ("sam package", "stage_ops pin-release") and env != "dev")
    ]
    assert missing(needs, role_statements(bootstrap, "PipelineRole"), "PipelineRole") == []


# ------------------------------------------------------------------------------------------ the template's Rules
def rule_failures(template: dict[str, Any], parameters: dict[str, str]) -> list[str]:
    """The Rules' assertions these parameter values break (what CloudFormation refuses the change set for)."""
    pseudo = {
        "Parameters": template["Parameters"],
        "Conditions": {
            f"{name}/{index}": {"Fn::Or": [{"Fn::Not": [rule.get("RuleCondition", True)]}, assertion["Assert"]]}
            if "RuleCondition" in rule
            else assertion["Assert"]
            for name, rule in template["Rules"].items()
            for index, assertion in enumerate(rule["Assertions"])
        },
    }
    results = evaluate_conditions(pseudo, parameters)
    return [
        template["Rules"][key.split("/")[0]]["Assertions"][int(key.split("/")[1])]["AssertDescription"]
        for key, holds in results.items()
        if not holds
    ]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_environment_passes_the_templates_rules_as_the_deploy_passes_it(env: str) -> None:
    template = load_template(TEMPLATE_PATH)
    assert rule_failures(template, stage_config.deploy_overrides(env, DEPLOY_ENVIRON)) == []


def test_prod_without_an_alarm_recipient_breaks_its_rule_and_says_which() -> None:
    """samconfig alone cannot name the on-call address: the deploy adds ALARM_EMAIL, and preflight asks for it."""
    template = load_template(TEMPLATE_PATH)
    assert rule_failures(template, stage_config.deploy_overrides("prod", {})) == [
        "Prod alarms must reach someone; set AlarmEmail or AlarmTopicArn."
    ]
