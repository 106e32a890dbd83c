"""How template.yaml ships: rendered through the SAM transform (samtranslator) for dev's and prod's samconfig settings.

What CloudFormation receives after the transform, not the SAM shorthand: the live alias shifts traffic through
CodeDeploy with rollback alarms and a PreTraffic hook, every alarm reaches the stage's topic, the gateway checks the
key before the function, timeouts nest, the stacks cannot collide and nothing forms a dependency cycle.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from template_support import (
    AUTHORIZER_ID,
    EXPECTED_ROUTES,
    FUNCTION_ID,
    HOOK_ID,
    KEY_POLICY_ID,
    NAME_PROPERTIES,
    OPEN_ROUTES,
    ROLLBACK_ALARMS,
    ROOT,
    SAM_PYTHON,
    ZIP_API_ID,
    ZIP_FUNCTION_ID,
    as_list,
    evaluate_conditions,
    overrides,
    parameter_values,
    referenced_parameters,
    references,
    render,
    resources_of_type,
    run_sam_python,
    walk,
)

STAGES = ("dev", "prod")


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Any]]:
    """The transformed template for each stage's samconfig parameter overrides."""
    return {stage: render(overrides(stage)) for stage in STAGES}


def resource(rendered_template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return rendered_template["Resources"][logical_id]


def unwrap(node: Any) -> Any:
    """The 'then' branch of SAM's ``Fn::If`` wrappers (the zip flavor's paths carry its DeployZip condition)."""
    while isinstance(node, dict) and set(node) == {"Fn::If"}:
        node = node["Fn::If"][1]
    return node


def integrations(api: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, path) -> the OpenAPI operation of an AWS::ApiGatewayV2::Api that SAM generated from the events."""
    paths = api["Properties"]["Body"]["paths"]
    return {
        (method.upper().replace("X-AMAZON-APIGATEWAY-ANY-METHOD", "ANY"), path): unwrap(operation)
        for path, methods in paths.items()
        for method, operation in unwrap(methods).items()
    }


@pytest.mark.parametrize("stage", STAGES)
def test_the_live_alias_moves_through_codedeploy_with_rollback_alarms_and_a_pretraffic_hook(
    rendered: dict[str, dict[str, Any]], stage: str
) -> None:
    template = rendered[stage]
    # GIVEN the live alias SAM makes for the inference function
    (alias_id,) = [
        name
        for name, res in resources_of_type(template, "AWS::Lambda::Alias").items()
        if res["Properties"]["FunctionName"] == {"Ref": FUNCTION_ID}
    ]
    alias = resource(template, alias_id)
    # THEN CloudFormation hands its updates to CodeDeploy, which runs the PreTraffic hook first
    update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    assert update["BeforeAllowTrafficHook"] == {"Ref": HOOK_ID}
    group = resource(template, update["DeploymentGroupName"]["Ref"])
    assert group["Type"] == "AWS::CodeDeploy::DeploymentGroup"
    # AND the deployment rolls back on the function's error, 5XX and latency alarms
    alarms = group["Properties"]["AlarmConfiguration"]
    assert alarms["Enabled"] is True
    assert [alarm["Name"] for alarm in alarms["Alarms"]] == [{"Ref": name} for name in ROLLBACK_ALARMS]
    rollback = group["Properties"]["AutoRollbackConfiguration"]
    assert rollback["Enabled"] is True
    assert {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"} <= set(rollback["Events"])
    # AND traffic moves as the stage's DeploymentType says (dev at once, prod by a canary)
    deployment_type = overrides(stage)["DeploymentType"]
    assert group["Properties"]["DeploymentConfigName"] in (
        f"CodeDeployDefault.Lambda{deployment_type}",
        {"Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": deployment_type}]},
    )


def test_the_pretraffic_hook_can_invoke_the_new_version_and_report_and_nothing_more(
    rendered: dict[str, dict[str, Any]],
) -> None:
    template = rendered["prod"]
    hook = resource(template, HOOK_ID)["Properties"]
    # CodeDeploy's role for Lambda (AWSCodeDeployRoleForLambda) may invoke only functions named CodeDeployHook_*.
    assert hook["FunctionName"]["Fn::Sub"].startswith("CodeDeployHook_${AWS::StackName}")
    version = hook["Environment"]["Variables"]["TARGET_FUNCTION_VERSION"]
    assert resource(template, version["Ref"])["Type"] == "AWS::Lambda::Version"
    assert resource(template, version["Ref"])["Properties"]["FunctionName"] == {"Ref": FUNCTION_ID}
    role = resource(template, hook["Role"]["Fn::GetAtt"][0])["Properties"]
    statements = [s for policy in role.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
    granted = {
        action: statement["Resource"]
        for statement in statements
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert granted["lambda:InvokeFunction"] == version
    assert "codedeploy:PutLifecycleEventHookExecutionStatus" in granted
    assert (
        ":deploymentgroup:${AWS::StackName}-ServerlessDeploymentApplication-*/*"
        in (granted["codedeploy:PutLifecycleEventHookExecutionStatus"]["Fn::Sub"])
    )
    # AND its handler is the hook package's entry, built by its Makefile
    module, _, function_name = hook["Handler"].rpartition(".")
    assert (ROOT / "functions" / "pretraffic" / (module.replace(".", "/") + ".py")).is_file()
    assert function_name == "handler"


def dependency_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle in ``graph`` (logical id -> the ids it depends on) as a path, or None."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        if state.get(node) == "done":
            return None
        if state.get(node) == "visiting":
            return [*path, node]
        state[node] = "visiting"
        for target in sorted(graph[node]):
            cycle = visit(target, [*path, node])
            if cycle:
                return cycle
        state[node] = "done"
        return None

    for node in sorted(graph):
        cycle = visit(node, [])
        if cycle:
            return cycle
    return None


def test_the_transformed_template_has_no_dependency_cycle(rendered: dict[str, dict[str, Any]]) -> None:
    """A rollback alarm on the API would close a cycle: alias -> deployment group -> alarm -> API -> alias."""
    for template in rendered.values():
        resources = template["Resources"]
        graph = {name: references(res) & set(resources) - {name} for name, res in resources.items()}
        for name, res in resources.items():
            depends = res.get("DependsOn", [])
            graph[name] |= set([depends] if isinstance(depends, str) else depends)
        assert dependency_cycle(graph) is None, " -> ".join(dependency_cycle(graph) or [])
    # The check itself finds the cycle an API alarm among the rollback alarms would make.
    assert dependency_cycle({"Alias": {"Group"}, "Group": {"Alarm"}, "Alarm": {"Api"}, "Api": {"Alias"}})


@pytest.mark.parametrize("stage", STAGES)
def test_every_alarm_has_an_action_that_reaches_the_stages_topic(
    rendered: dict[str, dict[str, Any]], stage: str
) -> None:
    template = rendered[stage]
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm")
    assert set(ROLLBACK_ALARMS) <= set(alarms)
    for name, alarm in alarms.items():
        assert "Condition" not in alarm, name
        actions = alarm["Properties"]["AlarmActions"]
        assert {"Ref": "AlarmTopic"} in actions, name  # unconditional: the topic exists in every stack
    topic = resource(template, "AlarmTopic")
    assert topic["Type"] == "AWS::SNS::Topic" and "Condition" not in topic
    subscription = resource(template, "AlarmEmailSubscription")
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    assert subscription["Condition"] == "HasAlarmEmail"


def test_prod_cannot_deploy_alarms_that_reach_nobody(template: dict[str, Any]) -> None:
    rule = template["Rules"]["ProdAlarmsReachSomeone"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    assert referenced_parameters(rule["Assertions"]) == {"AlarmEmail", "AlarmTopicArn"}


def test_cors_exposes_the_request_id_and_model_version_to_browsers() -> None:
    """Without ExposeHeaders a browser script cannot read x-request-id, whatever the function sends."""
    template = render({**overrides("dev"), "CorsAllowOrigins": "https://app.example.com"})
    for api_id in ("HttpApi", ZIP_API_ID):
        cors = [node for node in walk(resource(template, api_id)) if isinstance(node, dict) and "exposeHeaders" in node]
        cors += [
            node for node in walk(resource(template, api_id)) if isinstance(node, dict) and "ExposeHeaders" in node
        ]
        assert cors, f"{api_id} has no CORS configuration after the transform"
        for node in cors:
            exposed = node.get("exposeHeaders", node.get("ExposeHeaders"))
            assert {"x-request-id", "x-model-version"} <= set(exposed), api_id


@pytest.mark.parametrize("cors", ["", "https://app.example.com"])
def test_no_route_sends_a_preflight_to_the_authorizer_or_the_function(cors: str) -> None:
    """Finding 3 of issue 36: an ANY route let every anonymous OPTIONS through the authorizer to a billed invocation.
    Each route names its one method, so an OPTIONS matches none: with CORS the gateway answers the preflight itself
    (its CorsConfiguration), without CORS it answers 404; neither invokes a function."""
    # GIVEN prod's template with and without CORS origins, after the SAM transform
    template = render({**overrides("prod"), "CorsAllowOrigins": cors})
    for api_id in ("HttpApi", ZIP_API_ID):
        # WHEN the routes API Gateway will match are listed
        methods = {method for method, _ in integrations(resource(template, api_id))}
        # THEN none of them takes OPTIONS, explicitly or as ANY
        assert methods <= {"GET", "POST"}, (api_id, methods)
        # AND with CORS the gateway's own configuration answers preflights for the methods the routes take
        configured = [
            node for node in walk(resource(template, api_id)) if isinstance(node, dict) and "allowMethods" in node
        ]
        configured += [
            node for node in walk(resource(template, api_id)) if isinstance(node, dict) and "AllowMethods" in node
        ]
        if cors:
            assert configured, f"{api_id} answers no preflight at the gateway"
            for node in configured:
                assert methods <= set(node.get("allowMethods", node.get("AllowMethods"))), api_id


@pytest.mark.parametrize("stage", STAGES)
def test_every_route_waits_longer_than_the_function_may_run(rendered: dict[str, dict[str, Any]], stage: str) -> None:
    """Function timeout < integration timeout, on every route of both APIs, or API Gateway answers 503 while the
    function is still working (and the client retries into a second paid invocation)."""
    template = rendered[stage]
    for function_id, api_id in ((FUNCTION_ID, "HttpApi"), (ZIP_FUNCTION_ID, ZIP_API_ID)):
        timeout_ms = int(resource(template, function_id)["Properties"]["Timeout"]) * 1000
        routes = integrations(resource(template, api_id))
        assert len(routes) == len(EXPECTED_ROUTES), api_id
        for route, operation in routes.items():
            integration = operation["x-amazon-apigateway-integration"]
            assert "timeoutInMillis" in integration, (api_id, route)  # the default is the 30 s maximum
            assert timeout_ms < int(integration["timeoutInMillis"]) <= 30_000, (api_id, route)
    # API Gateway gives an authorizer at most 10 s.
    assert int(resource(template, AUTHORIZER_ID)["Properties"]["Timeout"]) < 10


@pytest.mark.parametrize("stage", STAGES)
def test_the_gateway_checks_the_key_before_the_function_on_every_route_but_the_page_and_health(
    rendered: dict[str, dict[str, Any]], stage: str
) -> None:
    template = rendered[stage]
    for api_id in ("HttpApi", ZIP_API_ID):
        body = resource(template, api_id)["Properties"]["Body"]
        scheme = body["components"]["securitySchemes"]["ApiKeyAuthorizer"]["x-amazon-apigateway-authorizer"]
        assert scheme["type"] == "request"
        assert scheme["authorizerPayloadFormatVersion"] == "2.0" and scheme["enableSimpleResponses"] is True
        # No identity source (a client sends one of two headers) and so no gateway cache; the authorizer caches.
        assert scheme["authorizerResultTtlInSeconds"] == 0 and not scheme.get("identitySource")
        assert AUTHORIZER_ID in references(scheme["authorizerUri"])
        for route, operation in integrations(resource(template, api_id)).items():
            security = operation.get("security", [])
            if route in OPEN_ROUTES:
                assert security in ([], [{"NONE": []}]), (api_id, route, security)
            else:
                # /labels, /model and /openapi.json included: in prod they need the key like the predictions do.
                assert security == [{"ApiKeyAuthorizer": []}], (api_id, route, security)
    permissions = [
        res["Properties"]
        for res in resources_of_type(template, "AWS::Lambda::Permission").values()
        if AUTHORIZER_ID in references(res["Properties"]["FunctionName"])
    ]
    assert permissions and all(p["Principal"] == "apigateway.amazonaws.com" for p in permissions)


@pytest.mark.parametrize("stage", STAGES)
def test_the_routes_that_need_no_key_have_tighter_throttles_of_their_own(
    template: dict[str, Any], rendered: dict[str, dict[str, Any]], stage: str
) -> None:
    """Anonymous traffic (the demo page, /health) is throttled per route below what each keyed route is given, so it
    cannot use up the rate key holders need."""
    rendered_template = rendered[stage]
    values = parameter_values(template, overrides(stage))

    def limits(settings: dict[str, Any]) -> tuple[float, float]:
        """(burst, rate) of one route settings entry, its parameters resolved for this stage."""
        return float(values[settings["ThrottlingBurstLimit"]["Ref"]]), float(
            values[settings["ThrottlingRateLimit"]["Ref"]]
        )

    for api_id in ("HttpApi", ZIP_API_ID):
        (stage_props,) = [
            res["Properties"]
            for res in resources_of_type(rendered_template, "AWS::ApiGatewayV2::Stage").values()
            if res["Properties"]["ApiId"] == {"Ref": api_id}
        ]
        keyed = limits(stage_props["DefaultRouteSettings"])
        per_route = stage_props.get("RouteSettings", {})
        routes = integrations(resource(rendered_template, api_id))
        open_routes = {
            f"{method} {path}"
            for (method, path), operation in routes.items()
            if {"ApiKeyAuthorizer": []} not in operation.get("security", [])
        }
        assert open_routes == {f"{method} {path}" for method, path in OPEN_ROUTES}, api_id
        assert set(per_route) == open_routes, api_id  # every other route keeps the keyed routes' limits
        for route in open_routes:
            burst, rate = limits(per_route[route])
            assert burst < keyed[0] and rate < keyed[1], (api_id, route)


def test_the_key_is_required_in_prod_by_default_and_generated_when_none_is_named(template: dict[str, Any]) -> None:
    def conditions(**given: str) -> dict[str, bool]:
        return evaluate_conditions(template, given)

    # prod with the template's defaults (RequireApiKey=auto): a generated key in Secrets Manager
    prod = conditions(Stage="prod")
    assert prod["RequiresApiKey"] and prod["CreatesApiKeySecret"] and prod["UsesApiKeySecret"]
    # dev with the defaults: open; dev naming a key source: that key, nothing generated
    assert not conditions(Stage="dev")["RequiresApiKey"]
    named = conditions(Stage="dev", ApiKeyParameterName="/emotion/key")
    assert named["RequiresApiKey"] and not named["CreatesApiKeySecret"]
    assert not conditions(Stage="prod", ApiKeySecretArn="arn:aws:secretsmanager:us-east-1:1:secret:x")[
        "CreatesApiKeySecret"
    ]
    # asked for explicitly anywhere; refused explicitly (a public demo stack): open
    assert conditions(Stage="dev", RequireApiKey="true")["CreatesApiKeySecret"]
    assert not conditions(Stage="prod", RequireApiKey="false")["RequiresApiKey"]
    secret = template["Resources"]["ApiKeySecret"]
    assert secret["Condition"] == "CreatesApiKeySecret"
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    assert "AWS::StackName" in referenced_parameters(secret["Properties"]["Name"])
    # Every function that reads the key reads the same one: the Globals' variable, the shared read policy.
    variable = template["Globals"]["Function"]["Environment"]["Variables"]["API_KEY_SECRET_NAME"]
    assert variable["Fn::If"][0] == "UsesApiKeySecret"
    assert variable["Fn::If"][1] == {"Fn::If": ["HasApiKeySecret", {"Ref": "ApiKeySecretArn"}, {"Ref": "ApiKeySecret"}]}
    for function_id in (FUNCTION_ID, ZIP_FUNCTION_ID, AUTHORIZER_ID, HOOK_ID):
        role = template["Resources"][template["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]]
        policies = role["Properties"]["ManagedPolicyArns"]
        assert {"Fn::If": ["RequiresApiKey", {"Ref": KEY_POLICY_ID}, {"Ref": "AWS::NoValue"}]} in policies


@pytest.mark.parametrize("stage", STAGES)
def test_every_function_writes_logs_to_its_own_log_group_and_no_role_to_all(
    rendered: dict[str, dict[str, Any]], stage: str
) -> None:
    """No AWSLambdaBasicExecutionRole (log writes to every log group in the account): each function's role may write
    only the log group its LoggingConfig names, and no role in the stack may write logs everywhere."""
    template = rendered[stage]
    functions = resources_of_type(template, "AWS::Lambda::Function")
    assert set(functions) == {FUNCTION_ID, ZIP_FUNCTION_ID, AUTHORIZER_ID, HOOK_ID}
    xray = {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXrayWriteOnlyAccess"}
    key = {"Fn::If": ["RequiresApiKey", {"Ref": KEY_POLICY_ID}, {"Ref": "AWS::NoValue"}]}
    for function_id, function in functions.items():
        props = function["Properties"]
        role = resource(template, props["Role"]["Fn::GetAtt"][0])["Properties"]
        assert role["ManagedPolicyArns"] == [xray, key], function_id  # neither grants any logs: action
        log_grants = [
            (statement["Action"], statement["Resource"])
            for policy in role["Policies"]
            for statement in unwrap(policy)["PolicyDocument"]["Statement"]
            if any(str(action).startswith("logs:") for action in as_list(statement["Action"]))
        ]
        own_group = {"Fn::GetAtt": [props["LoggingConfig"]["LogGroup"]["Ref"], "Arn"]}  # arn:...:log-group:NAME:*
        assert log_grants == [(["logs:CreateLogStream", "logs:PutLogEvents"], own_group)], function_id
    writes = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:*", "*"}
    for role_id, role in resources_of_type(template, "AWS::IAM::Role").items():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            assert "AWSLambdaBasicExecutionRole" not in json.dumps(arn), role_id
        for policy in role["Properties"].get("Policies", []):
            for statement in unwrap(policy)["PolicyDocument"]["Statement"]:
                if writes & set(as_list(statement["Action"])):
                    assert "*" not in as_list(statement["Resource"]), (role_id, statement)


def test_every_named_resource_carries_its_stack_name(rendered: dict[str, dict[str, Any]]) -> None:
    """Log groups, functions, layers, topics, schedules and secrets are unique per account and region: each name
    includes the stack's, so emotion-api-dev and emotion-api-prod (test_samconfig.py) never claim the same one."""
    for template in rendered.values():
        named = 0
        for name, res in template["Resources"].items():
            key = NAME_PROPERTIES.get(res["Type"])
            if key in res.get("Properties", {}):
                named += 1
                assert "AWS::StackName" in referenced_parameters(res["Properties"][key]), (name, key)
        assert named >= 10
        for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").values():
            props = alarm["Properties"]
            math = [item["MetricStat"]["Metric"] for item in props.get("Metrics", []) if "MetricStat" in item]
            for namespace in [metric["Namespace"] for metric in math] or [props["Namespace"]]:
                assert isinstance(namespace, str) or "AWS::StackName" in referenced_parameters(namespace)


def test_the_5xx_metric_filter_reads_the_functions_request_log_line() -> None:
    """The filter counts the app's one log line per request by its message and status fields."""
    import ast

    filter_props = render(overrides("dev"))["Resources"]["ServerErrorsMetricFilter"]["Properties"]
    assert filter_props["FilterPattern"] == '{ $.message = "request" && $.status >= 500 }'
    assert filter_props["LogGroupName"] == {"Ref": "FunctionLogGroup"}
    source = (ROOT / "functions" / "inference" / "app" / "middleware.py").read_text(encoding="utf-8")
    calls = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", None) == "info"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value == "request"
    ]
    assert calls, "middleware.py no longer logs the 'request' line the metric filter counts"
    (extra,) = [keyword.value for keyword in calls[0].keywords if keyword.arg == "extra"]
    assert isinstance(extra, ast.Dict)
    assert "status" in {key.value for key in extra.keys if isinstance(key, ast.Constant)}


def sam_make_build(logical_id: str, *, cwd: Path, artifacts_dir: Path, makefile: Path | None = None) -> None:
    """What `sam build` runs for a resource with BuildMethod makefile: `make build-<LogicalId>` with ARTIFACTS_DIR."""
    result = subprocess.run(
        ["make", "--no-print-directory", *(["-f", str(makefile)] if makefile else []), f"build-{logical_id}"],
        cwd=cwd,
        env={**os.environ, "ARTIFACTS_DIR": str(artifacts_dir)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("function_id", [AUTHORIZER_ID, HOOK_ID])
def test_the_small_functions_build_with_their_makefile_and_copy_only_their_package(
    template: dict[str, Any], function_id: str, tmp_path: Path
) -> None:
    """`sam build` runs `make build-<LogicalId>` in CodeUri: no pip, no Docker, no local Python 3.12."""
    res = template["Resources"][function_id]
    assert res["Metadata"]["BuildMethod"] == "makefile"
    props = res["Properties"]
    assert props["Runtime"] == "python3.12" and props["Architectures"] == ["arm64"]
    code = ROOT / props["CodeUri"]
    sam_make_build(function_id, cwd=code, artifacts_dir=tmp_path)
    package = props["Handler"].split(".")[0]
    assert sorted(item.name for item in tmp_path.iterdir()) == [package]
    built = sorted(item.name for item in (tmp_path / package).iterdir())
    assert built == sorted(item.name for item in (code / package).glob("*.py"))
    assert f"{props['Handler'].rsplit('.', 2)[1]}.py" in built


def test_one_key_module_reaches_every_function_that_reads_a_key(template: dict[str, Any], tmp_path: Path) -> None:
    """The authorizer, the hook and both flavors of the function import the same file, layers/apikey/apikey.py, so
    the gateway, the function and the deployment check cannot disagree on a key."""
    layer = template["Resources"]["ApiKeyLayer"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "ContextPath": "layers"}
    props = layer["Properties"]
    assert set(props["CompatibleArchitectures"]) == {"x86_64", "arm64"}
    for function_id in (AUTHORIZER_ID, HOOK_ID, ZIP_FUNCTION_ID):
        assert {"Ref": "ApiKeyLayer"} in template["Resources"][function_id]["Properties"]["Layers"], function_id
    # WHEN sam build runs the layer's target in (a copy of) ContentUri; THEN the module lands on the runtime's path
    source = ROOT / props["ContentUri"]
    sam_make_build("ApiKeyLayer", cwd=source, artifacts_dir=tmp_path, makefile=ROOT / "layers" / "Makefile")
    assert (tmp_path / "python" / "apikey.py").read_bytes() == (source / "apikey.py").read_bytes()
    # The image copies the same file beside app/ (and the build context lets it through).
    dockerfile = (ROOT / "functions" / "inference" / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY layers/apikey/apikey.py ${LAMBDA_TASK_ROOT}/" in dockerfile
    assert "!layers/apikey/apikey.py" in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    # No function keeps a key parser or comparison of its own.
    for path in (ROOT / "functions").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "compare_digest" not in text and "get_secret_value" not in text, path
        assert "APIKeyHeader(" not in text or "presented_key(" in text, path


def test_sam_cli_builds_the_image_for_each_stages_architecture() -> None:
    """What `sam build --config-env ENV` does, asked of the SAM CLI itself: the image function's architecture
    resolved from [ENV.build]'s parameter overrides (skips where .venv-sam, from `make sam-setup`, is missing)."""
    if not SAM_PYTHON.is_file():
        pytest.skip(".venv-sam is missing (make sam-setup)")
    script = (
        "import json, sys\n"
        "from samcli.lib.providers.sam_function_provider import SamFunctionProvider\n"
        "from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider\n"
        "result = {}\n"
        "for env, overrides in json.loads(sys.argv[1]).items():\n"
        "    stacks, _ = SamLocalStackProvider.get_stacks('template.yaml', parameter_overrides=overrides)\n"
        "    function = SamFunctionProvider(stacks).get('InferenceFunction')\n"
        "    result[env] = function.architectures\n"
        "print(json.dumps(result))\n"
    )
    builds = {env: overrides(env, "build") for env in ("default", *STAGES)}
    result = run_sam_python(script, json.dumps(builds))
    assert result.returncode == 0, result.stderr[-3000:]
    architectures = json.loads(result.stdout.strip().splitlines()[-1])
    for env in builds:
        assert architectures[env] == [overrides(env)["Architecture"]], env


@pytest.mark.parametrize("stage", STAGES)
def test_the_transformed_template_lints_clean(rendered: dict[str, dict[str, Any]], stage: str) -> None:
    """cfn-lint on what CloudFormation deploys (plain CloudFormation after the transform): references to resources
    that a condition leaves out, intrinsic functions, property types, all checked on SAM's output too."""
    from cfnlint.api import ManualArgs, lint

    matches = lint(json.dumps(rendered[stage]), config=ManualArgs(regions=["us-east-1"]))
    # Warnings are SAM's own output style (its nested DeployZip conditions, Fn::Sub without variables, DeploymentType
    # consumed by the transform); errors would be ours.
    assert [f"{m.rule.id}: {m.message}" for m in matches if m.rule.id.startswith("E")] == []
