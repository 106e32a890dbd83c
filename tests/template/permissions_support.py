"""What a deploy asks of IAM, and whether the bootstrap's roles grant it (tests/template/test_permissions.py).

For one samconfig environment: the template through the SAM transform, each resource CloudFormation would create with
the physical name it would get, each action the resource's provider handlers (create, update, delete; the provider
schemas cfn-lint ships) call on the ARN that action is authorised against; then the statements of the bootstrap's
execution role, resolved for that stage, that allow it. Names CloudFormation generates are modelled as
``<stack>-<LogicalId>-<13 characters>``, in full: the parameter limits keep them under AWS's limits untruncated
(test_names.py), so the roles' ``<project>-<stage>-*`` patterns match them.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from template_support import BOOTSTRAP_PATH, NAME_PROPERTIES, evaluate_conditions, parameter_values, render

ACCOUNT = "123456789012"
PROJECT = "emotion-api"
#: CloudFormation's random suffix of a generated name, at its longest.
SUFFIX = "ABCDEFGHIJKLM"
API_ID = "a1b2c3d4e5"
STACK_UUID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
HANDLERS = ("create", "update", "delete")


@cache
def provider_schema(resource_type: str) -> dict[str, Any]:
    """The resource provider schema cfn-lint ships for a type (us-east-1's; the handlers are the same everywhere)."""
    import cfnlint

    root = Path(cfnlint.__file__).parent / "data" / "schemas"
    index = json.loads((root / "providers" / "us-east-1.json").read_text(encoding="utf-8"))
    return dict(json.loads((root / "resources" / f"{index[resource_type]}.json").read_text(encoding="utf-8")))


def handler_permissions(resource_type: str) -> list[str]:
    """Every action the create, update and delete handlers of a type may call."""
    handlers = provider_schema(resource_type).get("handlers", {})
    return sorted({action for name in HANDLERS for action in handlers.get(name, {}).get("permissions", [])})


@dataclass
class Stack:
    """One template deployed as one stack: its parameter values, evaluated conditions and resources' names."""

    template: dict[str, Any]
    name: str
    region: str
    parameters: dict[str, str]
    resource_names: Callable[[Stack, str], str]
    conditions: dict[str, bool] = field(init=False)

    def __post_init__(self) -> None:
        self.parameters = parameter_values(self.template, self.parameters)
        self.conditions = evaluate_conditions(self.template, self.parameters) if "Conditions" in self.template else {}

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """The resources the conditions keep."""
        return {
            name: res
            for name, res in self.template["Resources"].items()
            if "Condition" not in res or self.conditions[res["Condition"]]
        }

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{ACCOUNT if account else ''}:{resource}"

    def pseudo(self, name: str) -> str:
        return {
            "AWS::StackName": self.name,
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": self.arn("cloudformation", f"stack/{self.name}/{STACK_UUID}"),
        }[name]

    def ref(self, name: str) -> str:
        """What Ref returns: a parameter's value, a pseudo parameter, or a resource's Ref value."""
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            if self.template["Parameters"][name]["Type"] == "CommaDelimitedList":
                return [item for item in self.parameters[name].split(",") if item]  # type: ignore[return-value]
            return self.parameters[name]
        logical_id, _, attribute = name.partition(".")
        if attribute:  # SAM's FunctionId.Alias / .Version
            return self.resolve({"Ref": f"{logical_id}Alias{attribute.lower()}"})
        res = self.template["Resources"][logical_id]
        by_arn = {
            "AWS::SNS::Topic",
            "AWS::SecretsManager::Secret",
            "AWS::StepFunctions::StateMachine",
            "AWS::IAM::ManagedPolicy",
            "AWS::Lambda::LayerVersion",
            "AWS::Lambda::Version",
            "AWS::Lambda::Alias",
        }
        return self.own_arns(logical_id)[0] if res["Type"] in by_arn else self.physical_name(logical_id)

    def physical_name(self, logical_id: str) -> str:
        return self.resource_names(self, logical_id)

    def resolve(self, node: Any) -> Any:
        """Intrinsic functions evaluated as CloudFormation would for this stack (the ones the templates use)."""
        if isinstance(node, list):
            return [self.resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1 or not next(iter(node)).startswith(("Ref", "Fn::")):
            return {key: self.resolve(value) for key, value in node.items()}
        ((function, args),) = node.items()
        if function == "Ref":
            return self.ref(args)
        if function == "Fn::GetAtt":
            logical_id, attribute = args if isinstance(args, list) else args.split(".", 1)
            return self.own_arns(logical_id)[0] if attribute == "Arn" else f"{logical_id}.{attribute}"
        if function == "Fn::Sub":
            text, local = (args, {}) if isinstance(args, str) else (args[0], self.resolve(args[1]))

            def value(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in local:
                    return str(local[name])
                if name.endswith(".Arn"):
                    return str(self.resolve({"Fn::GetAtt": name.split(".", 1)}))
                return str(self.ref(name))

            return re.sub(r"\$\{([^}!]+)\}", value, text)
        if function == "Fn::Join":
            return str(args[0]).join(str(item) for item in self.resolve(args[1]))
        if function == "Fn::Select":
            return self.resolve(args[1])[int(args[0])]
        if function == "Fn::Split":
            return str(self.resolve(args[1])).split(args[0])
        if function == "Fn::If":
            return self.resolve(args[1] if self.conditions[args[0]] else args[2])
        raise ValueError(f"unsupported intrinsic function {function}")

    def own_arns(self, logical_id: str) -> list[str]:
        """The ARNs IAM authorises actions on this resource against."""
        res = self.template["Resources"][logical_id]
        kind, props = res["Type"], res.get("Properties", {})
        name = self.physical_name(logical_id)
        if kind == "AWS::Lambda::Function":
            return [self.arn("lambda", f"function:{name}")]
        if kind in ("AWS::Lambda::Version", "AWS::Lambda::Alias", "AWS::Lambda::Permission"):
            target = str(self.resolve(props["FunctionName"]))
            function = target.split(":")[6] if target.startswith("arn:") else target
            return [self.arn("lambda", f"function:{function}")]
        if kind == "AWS::Lambda::LayerVersion":
            return [self.arn("lambda", f"layer:{name}:1"), self.arn("lambda", f"layer:{name}")]
        if kind == "AWS::IAM::Role":
            return [self.arn("iam", f"role/{name}", region=False)]
        if kind == "AWS::IAM::ManagedPolicy":
            return [self.arn("iam", f"policy/{name}", region=False)]
        if kind == "AWS::Logs::LogGroup":
            return [self.arn("logs", f"log-group:{name}:*")]
        if kind == "AWS::Logs::MetricFilter":
            return [self.arn("logs", f"log-group:{self.resolve(props['LogGroupName'])}:*")]
        if kind == "AWS::S3::Bucket":
            return [f"arn:aws:s3:::{name}"]
        if kind == "AWS::S3::BucketPolicy":
            return [f"arn:aws:s3:::{self.resolve(props['Bucket'])}"]
        if kind == "AWS::SNS::Topic":
            return [self.arn("sns", name)]
        if kind == "AWS::SNS::Subscription":
            return [f"{self.resolve(props['TopicArn'])}:{STACK_UUID}"]
        if kind == "AWS::CloudWatch::Alarm":
            return [self.arn("cloudwatch", f"alarm:{name}")]
        if kind == "AWS::CloudWatch::Dashboard":
            return [self.arn("cloudwatch", f"dashboard/{name}", region=False)]
        if kind == "AWS::ApiGatewayV2::Api":
            return [f"arn:aws:apigateway:{self.region}::/apis", f"arn:aws:apigateway:{self.region}::/apis/{API_ID}"]
        if kind == "AWS::ApiGatewayV2::Stage":
            return [f"arn:aws:apigateway:{self.region}::/apis/{API_ID}/stages/$default"]
        if kind == "AWS::CodeDeploy::Application":
            return [self.arn("codedeploy", f"application:{name}")]
        if kind == "AWS::CodeDeploy::DeploymentGroup":
            application = self.resolve(props["ApplicationName"])
            return [self.arn("codedeploy", f"deploymentgroup:{application}/{name}")]
        if kind == "AWS::Scheduler::Schedule":
            return [self.arn("scheduler", f"schedule/default/{name}")]
        if kind == "AWS::SecretsManager::Secret":
            return [self.arn("secretsmanager", f"secret:{name}-AbCdEf")]
        if kind == "AWS::StepFunctions::StateMachine":
            return [self.arn("states", f"stateMachine:{name}")]
        if kind == "AWS::ECR::Repository":
            return [self.arn("ecr", f"repository/{name}")]
        if kind == "AWS::IAM::OIDCProvider":
            return [name]
        if kind == "AWS::WAFv2::WebACL":  # a CloudFront web ACL lives in us-east-1 (the template's rule says so)
            return [self.arn("wafv2", f"global/webacl/{name}/{STACK_UUID}")]
        if kind == "AWS::CloudFront::Distribution":
            return [self.arn("cloudfront", "distribution/E1A2B3C4D5E6F7", region=False)]
        raise KeyError(f"{logical_id}: no ARN known for {kind}; add it to permissions_support.Stack.own_arns")


def cloudformation_name(stack: Stack, logical_id: str) -> str:
    """The name the template gives a resource, or the one CloudFormation generates (buckets' in lower case)."""
    res = stack.template["Resources"][logical_id]
    key = NAME_PROPERTIES.get(res["Type"])
    props = res.get("Properties", {})
    if key and key in props:
        return str(stack.resolve(props[key]))
    if res["Type"] == "AWS::IAM::OIDCProvider":
        return stack.arn("iam", "oidc-provider/token.actions.githubusercontent.com", region=False)
    generated = f"{stack.name}-{logical_id}-{SUFFIX}"
    return generated.lower() if res["Type"] == "AWS::S3::Bucket" else generated


def application_stack(env: str, region: str, overrides: Mapping[str, str], stack_name: str) -> Stack:
    """The application template, transformed, as ``env``'s stack would hold it."""
    return Stack(render(overrides), stack_name, region, dict(overrides), cloudformation_name)


@cache
def bootstrap_template() -> dict[str, Any]:
    from scripts.common.sam_template import load_template

    return load_template(BOOTSTRAP_PATH)


def bootstrap_stack(
    stage: str, region: str, artifact_bucket: str = "", project: str = PROJECT, extra: Mapping[str, str] | None = None
) -> Stack:
    """The bootstrap stack of a stage; every stage but the first is given the first's bucket."""
    parameters = {
        "Stage": stage,
        "ProjectName": project,
        "GitHubRepository": "owner/emotion-api",
        "GitHubEnvironment": stage,
        "ArtifactStoreBucket": artifact_bucket,
        **(extra or {}),
    }
    return Stack(bootstrap_template(), f"{project}-pipeline-{stage}", region, parameters, cloudformation_name)


# ------------------------------------------------------------------------------------------------ what IAM allows
@dataclass(frozen=True)
class Statement:
    """One statement of a role's policy, resolved for a stage, with its place in bootstrap/pipeline.yaml."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    line: int
    effect: str = "Allow"
    #: {operator: {key: value or values}}, resolved.
    conditions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def allows_action(self, action: str) -> bool:
        return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in self.actions)

    def covers(self, arn: str) -> bool:
        return any(pattern == arn or fnmatch.fnmatchcase(arn, pattern) for pattern in self.resources)

    def holds(self, context: Mapping[str, str]) -> bool:
        """Whether the request's context keys meet every condition (StringEquals and ArnLike: all this uses)."""
        for operator, tests in self.conditions.items():
            for key, wanted in tests.items():
                value = context.get(key)
                if value is None:
                    return False
                patterns = as_tuple(wanted)
                if operator == "StringEquals" and value not in patterns:
                    return False
                if operator == "ArnLike" and not any(fnmatch.fnmatchcase(value, str(p)) for p in patterns):
                    return False
                if operator not in ("StringEquals", "ArnLike"):
                    raise ValueError(f"condition operator {operator} is not modelled")
        return True

    def applies(self, action: str, arn: str, context: Mapping[str, str]) -> bool:
        return self.allows_action(action) and self.covers(arn) and self.holds(context)


def role_statements(bootstrap: Stack, role_id: str, effect: str = "Allow") -> list[Statement]:
    """The statements of one effect of a role's inline policies (or a managed policy) that the stage keeps, resolved."""
    found = []
    props = bootstrap.template["Resources"][role_id]["Properties"]
    # A role's inline policies, or a managed policy's one document (the stage's permissions boundary).
    documents = (
        [policy["PolicyDocument"] for policy in props["Policies"]] if "Policies" in props else [props["PolicyDocument"]]
    )
    for document in documents:
        for node in document["Statement"]:
            if "Fn::If" in node:
                condition, then, otherwise = node["Fn::If"]
                node = then if bootstrap.conditions[condition] else otherwise
                if node == {"Ref": "AWS::NoValue"}:
                    continue
            assert node["Effect"] in ("Allow", "Deny"), node
            if node["Effect"] != effect:
                continue
            resources = bootstrap.resolve(node["Resource"])
            found.append(
                Statement(
                    sid=str(node.get("Sid", "")),
                    actions=tuple(as_tuple(node["Action"])),
                    resources=tuple(str(item) for item in as_tuple(resources)),
                    line=node.start_mark.line + 1,
                    effect=effect,
                    conditions=bootstrap.resolve(dict(node.get("Condition", {}))),
                )
            )
    return found


def allowed(bootstrap: Stack, role_id: str, action: str, arn: str, context: Mapping[str, str] | None = None) -> bool:
    """IAM's answer for one request of the role: an explicit deny wins, then any allow whose conditions hold."""
    context = context or {}
    if any(s.applies(action, arn, context) for s in role_statements(bootstrap, role_id, "Deny")):
        return False
    return any(s.applies(action, arn, context) for s in role_statements(bootstrap, role_id))


def as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list) else (value,)


@dataclass(frozen=True)
class Need:
    """One action a deploy calls on one ARN, and why."""

    resource: str
    resource_type: str
    action: str
    arn: str


def missing(needs: list[Need], statements: list[Statement], role: str) -> list[str]:
    """A line per need no statement grants: the resource, the action, the role and the policy line to change."""
    problems = []
    for need in needs:
        if any(s.allows_action(need.action) and s.covers(need.arn) for s in statements):
            continue
        service = need.action.split(":")[0]
        same_service = [s for s in statements if any(a.startswith(f"{service}:") for a in s.actions)]
        # The statement to extend: one of the action's service naming this ARN, before any that allows "*".
        same_arn = sorted(
            (s for s in same_service if s.covers(need.arn)), key=lambda s: "*" in s.resources and need.arn != "*"
        )
        if same_arn:
            where = f"add it to statement {same_arn[0].sid} (bootstrap/pipeline.yaml line {same_arn[0].line})"
        elif same_service:
            where = (
                f"no statement covers that ARN; statement {same_service[0].sid} (bootstrap/pipeline.yaml line "
                f"{same_service[0].line}) grants {service} on {', '.join(same_service[0].resources)}"
            )
        else:
            where = f"no statement of {role} grants any {service} action: add one"
        problems.append(f"{need.resource} ({need.resource_type}) needs {need.action} on {need.arn}: {role}: {where}")
    return problems


def walk_dicts(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk_dicts(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_dicts(value)
