"""template.yaml's zip + layers + SnapStart flavor: off by default, the same settings and routes as the image."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from template_support import (
    APP_ENV_VARS,
    EXPECTED_ROUTES,
    FUNCTION_DIR,
    ROOT,
    ZIP_API_ID,
    ZIP_CONDITION,
    ZIP_FUNCTION_ID,
    ZIP_LAYER_IDS,
    events_of_type,
    referenced_parameters,
    role_of,
)

from scripts.common.sam_template import with_globals


@pytest.fixture(scope="module")
def zip_function(template: dict[str, Any]) -> dict[str, Any]:
    """The zip flavor's function resource, with the Globals it inherits merged in."""
    resource = template["Resources"][ZIP_FUNCTION_ID]
    assert resource["Type"] == "AWS::Serverless::Function"
    return with_globals(template, resource)


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
    assert props["Layers"] == [{"Ref": layer} for layer in (*ZIP_LAYER_IDS, "ApiKeyLayer")]
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert props["AutoPublishAlias"] == "live"  # SnapStart applies to published versions only
    assert props["Tracing"] == "Active"
    assert props["MemorySize"] == {"Ref": "MemorySize"}
    assert 10 <= props["Timeout"] <= 30
    # SnapStart does not support provisioned concurrency, EFS, or ephemeral storage above 512 MB.
    assert "ProvisionedConcurrencyConfig" not in props and "FileSystemConfigs" not in props
    assert props.get("EphemeralStorage", {"Size": 512})["Size"] <= 512


def test_zip_function_matches_the_image_functions_settings(
    template: dict[str, Any], function: dict[str, Any], zip_function: dict[str, Any]
) -> None:
    """Same variables (plus where the model layer puts the model), IAM, logging and tags as the image function."""
    image, props = function["Properties"], zip_function["Properties"]
    variables = props["Environment"]["Variables"]
    assert set(variables) <= APP_ENV_VARS
    assert variables["MODEL_PATH"] == "/opt/model"  # layers unpack into /opt; ZipModelLayer holds model/
    assert variables["MODEL_BACKEND"] == "onnx"
    shared = {name: value for name, value in variables.items() if name not in {"MODEL_PATH", "MODEL_BACKEND"}}
    assert shared == image["Environment"]["Variables"]
    zip_role, image_role = role_of(template, zip_function), role_of(template, function)
    assert zip_role["ManagedPolicyArns"] == image_role["ManagedPolicyArns"]
    assert zip_role["Policies"][1:] == image_role["Policies"][1:]  # all but the own log group's (test_deployment.py)
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
    for key in ("DefaultRouteSettings", "RouteSettings", "CorsConfiguration"):
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


def test_what_both_flavors_share_lives_in_globals_once(template: dict[str, Any]) -> None:
    """Memory, timeout, alias, tracing, log format and the app's variables are declared once, in Globals."""
    shared = template["Globals"]["Function"]
    assert {"MemorySize", "Timeout", "AutoPublishAlias", "Tracing", "LoggingConfig", "Environment"} <= set(shared)
    for function_id in ("InferenceFunction", ZIP_FUNCTION_ID):
        props = template["Resources"][function_id]["Properties"]
        assert not {"MemorySize", "Timeout", "AutoPublishAlias", "Tracing"} & set(props), function_id
        own_variables = set(props.get("Environment", {}).get("Variables", {}))
        assert not own_variables & set(shared["Environment"]["Variables"]), function_id
