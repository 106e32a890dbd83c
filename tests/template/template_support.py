"""Shared facts and helpers of the deployment-definition tests (tests/template)."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterator
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
    ("ANY", "/predict"),
    ("ANY", "/predict/batch"),
    ("GET", "/health"),
    ("GET", "/labels"),
    ("GET", "/model"),
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
    ("GET", "/"),
    ("POST", "/"),
}
#: Environment variables the app reads (the contract with functions/inference/app).
APP_ENV_VARS = {
    "MODEL_PATH",
    "MODEL_S3_URI",
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
#: The only function permissions beyond basic execution and X-Ray: condition -> (actions, parameters named).
EXPECTED_POLICIES = {
    "HasApiKeySecret": ({"secretsmanager:GetSecretValue"}, {"ApiKeySecretArn"}),
    "HasApiKeyParameter": ({"ssm:GetParameter"}, {"ApiKeyParameterName"}),
    "HasModelS3": ({"s3:GetObject", "s3:ListBucket"}, {"ModelS3Bucket", "ModelS3Prefix"}),
}


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Resources of one type, by logical id."""
    return {name: res for name, res in template["Resources"].items() if res["Type"] == resource_type}


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


def dockerfile_instructions(stage: str = "final") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of the Dockerfile, continuation lines joined, comments dropped.

    ``stage="final"`` keeps only the instructions after the last FROM (the image Lambda runs), ``"all"`` every
    stage's, any other name that named stage's (``FROM ... AS name``).
    """
    joined = re.sub(r"\\\n", " ", DOCKERFILE_PATH.read_text(encoding="utf-8"))
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
