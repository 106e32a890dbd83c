"""Shared facts and helpers of the deployment-definition tests (tests/template)."""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
SAMCONFIG_PATH = ROOT / "samconfig.toml"
FUNCTION_DIR = ROOT / "functions" / "inference"
DOCKERFILE_PATH = FUNCTION_DIR / "Dockerfile"
DOCKERIGNORE_PATH = ROOT / ".dockerignore"
WORKFLOWS_DIR = ROOT / ".github" / "workflows"

FUNCTION_ID = "InferenceFunction"
#: The zip flavor (DeployZipFlavor=true): function, layers, HTTP API and the condition on all of them.
ZIP_FUNCTION_ID = "ZipInferenceFunction"
ZIP_LAYER_IDS = ("ZipDependenciesLayer", "ZipModelLayer")
ZIP_API_ID = "ZipHttpApi"
ZIP_CONDITION = "DeployZip"
EXPECTED_ROUTES = {
    ("POST", "/predict"),
    ("POST", "/predict/batch"),
    ("GET", "/health"),
    ("GET", "/labels"),
    ("GET", "/model"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/{asset}"),
    ("GET", "/"),
    ("POST", "/"),
}
#: Environment variables the app reads (the contract with functions/inference/app).
APP_ENV_VARS = {
    "MODEL_PATH",
    "MODEL_S3_URI",
    "MODEL_SHA256",
    "MODEL_CACHE_DIR",
    "MODEL_BACKEND",
    "MAX_BATCH",
    "MAX_TEXT_CHARS",
    "MAX_BODY_BYTES",
    "API_KEY_SECRET_NAME",
    "API_KEY_PARAMETER_NAME",
    "CORS_ALLOW_ORIGINS",
    "NUM_THREADS",
    "LOG_INPUT_TEXT",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "LOG_LEVEL",
    "STAGE",
}
#: The only function permissions beyond its own log group and X-Ray: condition -> (actions, parameters named).
#: The key's statements live in the ApiKeyReadPolicy managed policy (shared with the authorizer and the hook).
EXPECTED_POLICIES = {
    "UsesApiKeySecret": ({"secretsmanager:GetSecretValue"}, {"ApiKeySecretArn", "ApiKeySecret"}),
    "HasApiKeyParameter": ({"ssm:GetParameter"}, {"ApiKeyParameterName"}),
    "HasModelS3": ({"s3:GetObject", "s3:ListBucket"}, {"ModelS3Bucket", "ModelS3Prefix"}),
}
BOOTSTRAP_PATH = ROOT / "bootstrap" / "pipeline.yaml"
AUTHORIZER_ID = "ApiKeyAuthorizerFunction"
HOOK_ID = "PreTrafficHookFunction"
KEY_POLICY_ID = "ApiKeyReadPolicy"
#: The alarms that roll a deployment back (DeploymentPreference): the function's own metrics and request log.
ROLLBACK_ALARMS = ("FunctionErrorsAlarm", "FunctionServerErrorsAlarm", "FunctionDurationP99Alarm")
#: The routes a browser or a monitor reaches without a key: the demo page shell and the health probe.
OPEN_ROUTES = {("GET", "/"), ("GET", "/health")}


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Resources of one type, by logical id."""
    return {name: res for name, res in template["Resources"].items() if res["Type"] == resource_type}


def role_of(template: dict[str, Any], function: dict[str, Any]) -> dict[str, Any]:
    """The Properties of the IAM role a function resource names (``Role: !GetAtt <id>.Arn``)."""
    (role_id, attribute) = function["Properties"]["Role"]["Fn::GetAtt"]
    assert attribute == "Arn"
    return dict(template["Resources"][role_id]["Properties"])


def events_of_type(function: dict[str, Any], event_type: str) -> dict[str, dict[str, Any]]:
    """The function's event sources of one type, by name."""
    events = function["Properties"].get("Events", {})
    return {name: event["Properties"] for name, event in events.items() if event["Type"] == event_type}


def walk(node: Any) -> Iterator[Any]:
    """Every value in a nested dict/list structure, depth first."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def referenced_parameters(node: Any) -> set[str]:
    """Names used through Ref or ${...} in Fn::Sub anywhere inside ``node``."""
    names: set[str] = set()
    for value in walk(node):
        if isinstance(value, dict) and "Ref" in value:
            names.add(str(value["Ref"]))
        if isinstance(value, dict) and "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            text = sub if isinstance(sub, str) else sub[0]
            names.update(re.findall(r"\$\{([^}!]+)\}", text))
    return names


def as_list(value: Any) -> list[Any]:
    """A scalar or a list, as a list (IAM allows both for Action and Resource)."""
    return value if isinstance(value, list) else [value]


def dockerfile_instructions(stage: str = "final", path: Path = DOCKERFILE_PATH) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of the Dockerfile (or another at ``path``), continuation lines joined, comments
    dropped.

    ``stage="final"`` keeps only the instructions after the last FROM (the image Lambda runs), ``"all"`` every
    stage's, any other name that named stage's (``FROM ... AS name``).
    """
    joined = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    instructions: list[tuple[str, str]] = []
    for line in joined.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, _, args = stripped.partition(" ")
        instructions.append((keyword.upper(), " ".join(args.split())))
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    if stage == "final":
        return instructions[starts[-1] :]
    if stage == "all":
        return instructions
    (start,) = [i for i in starts if instructions[i][1].lower().endswith(f" as {stage}")]
    following = [i for i in starts if i > start]
    return instructions[start : following[0] if following else None]


def find_tool(name: str) -> str | None:
    """A linter installed next to this interpreter (the project venv) or on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    return shutil.which(name)


def load_workflow(path: Path) -> dict[Any, Any]:
    """A workflow file as plain YAML (PyYAML reads the ``on`` key as True)."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def samconfig() -> dict[str, Any]:
    """samconfig.toml, parsed."""
    return tomllib.loads(SAMCONFIG_PATH.read_text(encoding="utf-8"))


def overrides(env: str, command: str = "deploy") -> dict[str, str]:
    """The parameter_overrides of one samconfig environment and command, as name -> value."""
    parameters = samconfig()[env][command]["parameters"]
    return dict(item.split("=", 1) for item in shlex.split(parameters.get("parameter_overrides", "")))


#: The SAM CLI's own virtualenv (make sam-setup): its samtranslator is the transform `sam deploy` ships with, and its
#: pins (pydantic among them) conflict with the function's, so it runs there, in a subprocess.
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
_TRANSFORM = """
import json, sys
from samtranslator.translator.transform import transform

class NoManagedPolicyNames:  # SAM asks IAM only for managed policy names it does not know; the template uses none
    def load(self):
        return {}

request = json.load(sys.stdin)
json.dump(transform(request["template"], request["parameters"], NoManagedPolicyNames()), sys.stdout)
"""


def packaged(template: dict[str, Any]) -> dict[str, Any]:
    """The template as `sam package` leaves it: code and layers in S3, the image in ECR (what the transform needs)."""
    template = json.loads(json.dumps(template))
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and props.get("PackageType") == "Image":
            props["ImageUri"] = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/emotion-api:{name.lower()}-0123-v1"
        elif resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = f"s3://artifacts/emotion-api/{name}.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = f"s3://artifacts/emotion-api/{name}.zip"
    return template


@functools.cache
def _render(parameters: tuple[tuple[str, str], ...]) -> str:
    import pytest

    from scripts.common.sam_template import load_template

    if not SAM_PYTHON.is_file():
        pytest.skip(".venv-sam is missing: `make sam-setup` (which `make test` runs) installs the SAM CLI")
    request = json.dumps({"template": packaged(load_template(TEMPLATE_PATH)), "parameters": dict(parameters)})
    # SAM reads the region (for ARNs' partition) from boto3: samconfig's, whatever the caller's environment says.
    result = run_sam_python(_TRANSFORM, stdin=request, env={"AWS_DEFAULT_REGION": "us-east-1"})
    assert result.returncode == 0, f"the SAM transform failed:\n{result.stderr[-4000:]}"
    return result.stdout


def run_sam_python(
    script: str, *args: str, stdin: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with the SAM CLI's own interpreter (its pins conflict with ours), from the repository root."""
    environment = {**os.environ, "SAM_CLI_TELEMETRY": "0", **(env or {})}
    return subprocess.run(
        [str(SAM_PYTHON), "-c", script, *args],
        input=stdin,
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def render(parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """template.yaml through the SAM transform (samtranslator, as CloudFormation runs it) for these parameter values.

    Conditions stay unevaluated, as in the real transform; ``evaluate_conditions`` evaluates them.
    """
    return dict(json.loads(_render(tuple(sorted((parameters or {}).items())))))


def parameter_values(template: dict[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    """Every parameter's value for one deployment: the given ones over the defaults."""
    defaults = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    return {**defaults, **given}


def evaluate_conditions(template: dict[str, Any], given: Mapping[str, str]) -> dict[str, bool]:
    """The template's Conditions as CloudFormation evaluates them for these parameter values."""
    values = parameter_values(template, given)
    conditions = template["Conditions"]

    def value(node: Any) -> Any:
        if isinstance(node, dict) and "Ref" in node:
            return values[node["Ref"]]
        if isinstance(node, dict) and "Fn::Join" in node:  # of a CommaDelimitedList parameter, as one string
            separator, items = node["Fn::Join"]
            return str(value(items)).replace(",", separator)
        return node

    def truth(node: Any) -> bool:
        (function, args), *_ = node.items()
        if function == "Fn::Equals":
            return str(value(args[0])) == str(value(args[1]))
        if function == "Fn::Not":
            return not truth(args[0])
        if function == "Fn::And":
            return all(truth(arg) for arg in args)
        if function == "Fn::Or":
            return any(truth(arg) for arg in args)
        if function == "Condition":
            return truth(conditions[args])
        raise ValueError(f"unknown condition function {function}")

    return {name: truth(node) for name, node in conditions.items()}


def references(node: Any) -> set[str]:
    """Logical ids a resource depends on: Ref, Fn::GetAtt, ${...} in Fn::Sub and DependsOn (SAM's dotted refs too)."""
    found: set[str] = set()
    for item in walk(node):
        if not isinstance(item, dict):
            continue
        if "Ref" in item and isinstance(item["Ref"], str):
            found.add(item["Ref"].split(".")[0])
        if "Fn::GetAtt" in item:
            target = item["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else str(target).split(".")[0])
        if "Fn::Sub" in item:
            sub = item["Fn::Sub"]
            text = sub if isinstance(sub, str) else sub[0]
            local = set(sub[1]) if isinstance(sub, list) and len(sub) > 1 else set()
            found.update(name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text) if name not in local)
    return found


#: The property that names each kind of resource, where a template names it (else CloudFormation generates one):
#: the permission check derives ARNs from it, and the deployment tests that no two stacks share a name.
NAME_PROPERTIES = {
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CodeDeploy::Application": "ApplicationName",
    "AWS::CodeDeploy::DeploymentGroup": "DeploymentGroupName",
    "AWS::ECR::Repository": "RepositoryName",
    "AWS::WAFv2::WebACL": "Name",
}
