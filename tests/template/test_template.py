"""template.yaml's image function: build, runtime settings, routes, schedule, alarms, IAM, logs, outputs.

Static checks: no AWS account, Docker engine or network needed, so a broken template fails in `make test`
long before `sam deploy` sees it.
"""

from __future__ import annotations

import json
from typing import Any

from cfnlint.api import ManualArgs, lint
from template_support import (
    APP_ENV_VARS,
    DOCKERFILE_PATH,
    EXPECTED_POLICIES,
    EXPECTED_ROUTES,
    FUNCTION_ID,
    KEY_POLICY_ID,
    ROOT,
    TEMPLATE_PATH,
    ZIP_API_ID,
    as_list,
    events_of_type,
    referenced_parameters,
    resources_of_type,
    role_of,
)


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
    # the default follows the measurement (make right-size), not a guess
    recommended = json.loads((ROOT / "docs" / "right-size.json").read_text(encoding="utf-8"))["recommended_mb"]
    assert str(params["MemorySize"]["Default"]) == str(recommended)
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
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == {"Fn::Sub": "EmotionApi/${AWS::StackName}"}
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
        # "/" matches the root path only: the demo page (GET) and the Hugging Face interface (POST), never ANY.
        assert event["Path"] != "/" or event["Method"] in ("GET", "POST")
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
    # A browser script reads only the response headers CORS exposes: the request id and the model version.
    assert {"x-request-id", "x-model-version"} <= set(cors["ExposeHeaders"])


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
    """The failure signals of this API each have an alarm, and every alarm notifies the stage's own topic."""
    # One metric each; the drift alarm's metric math is tested in test_operations.py.
    every = resources_of_type(template, "AWS::CloudWatch::Alarm").values()
    alarms = [a for a in every if "Metrics" not in a["Properties"]]
    signals = {
        (str(a["Properties"]["Namespace"]), a["Properties"]["MetricName"], a["Properties"].get("ExtendedStatistic"))
        for a in alarms
    }
    assert ("AWS/ApiGateway", "5xx", None) in signals
    assert {("AWS/ApiGateway", "Latency", "p99"), ("AWS/Lambda", "Duration", "p99")} & signals
    assert ("AWS/Lambda", "Throttles", None) in signals
    assert ("AWS/Lambda", "Errors", None) in signals
    assert ("AWS/States", "ExecutionsFailed", None) in signals  # a bulk job that failed
    # The app's own 5XX answers (Lambda's Errors never sees them), counted from its request log, per stack.
    (server_errors,) = [a["Properties"] for a in alarms if a["Properties"]["MetricName"] == "ServerErrors"]
    assert server_errors["Namespace"] == {"Fn::Sub": "EmotionApi/${AWS::StackName}"}
    topic = [{"Ref": "AlarmTopic"}, {"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AWS::NoValue"}]}]
    for alarm in alarms:
        props = alarm["Properties"]
        assert props["AlarmActions"] == topic and props["OKActions"] == topic
        dimensions = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
        expected: dict[str, Any] = {"ApiId": {"Ref": "HttpApi"}, "Stage": "$default"}
        if props["Namespace"] == "AWS/Lambda":
            expected = {"FunctionName": {"Ref": FUNCTION_ID}}
        elif props["MetricName"] == "ServerErrors":
            expected = {}
        elif props["Namespace"] == "AWS/States":
            expected = {"StateMachineArn": {"Ref": "BulkClassifyStateMachine"}}
        assert dimensions == expected


def test_iam_grants_only_the_configured_secret_parameter_and_s3_prefix(
    template: dict[str, Any], function: dict[str, Any]
) -> None:
    """Least privilege: each extra permission exists only when its parameter is set, and names only that resource."""
    role = role_of(template, function)
    # Its own role, not SAM's generated one: X-Ray writes (Tracing: Active), its own log group (test_deployment.py)
    xray, key_policy = role["ManagedPolicyArns"]
    assert xray == {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXrayWriteOnlyAccess"}
    own_log_group, *inline = role["Policies"]
    assert own_log_group["PolicyName"] == "write-own-log-group"
    # The key's read access is one managed policy, attached only when a key is required.
    assert key_policy == {"Fn::If": ["RequiresApiKey", {"Ref": KEY_POLICY_ID}, {"Ref": "AWS::NoValue"}]}
    managed = template["Resources"][KEY_POLICY_ID]
    assert managed["Type"] == "AWS::IAM::ManagedPolicy" and managed["Condition"] == "RequiresApiKey"
    statements = [
        ({"Version": "2012-10-17", "Statement": [s["Fn::If"][1]]}, s["Fn::If"][0], s["Fn::If"][2])
        for s in managed["Properties"]["PolicyDocument"]["Statement"]
    ]
    documents = [(p["Fn::If"][1]["PolicyDocument"], p["Fn::If"][0], p["Fn::If"][2]) for p in inline] + statements
    seen: set[str] = set()
    allowed_pseudo = {"AWS::Partition", "AWS::Region", "AWS::AccountId"}
    for document, condition, otherwise in documents:
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
                assert referenced_parameters(resource) - allowed_pseudo
                assert referenced_parameters(resource) <= allowed_params | allowed_pseudo
        assert not any("*" in action for action in actions)
        assert actions == allowed_actions
    assert seen == set(EXPECTED_POLICIES)


def test_s3_access_is_limited_to_the_model_prefix(template: dict[str, Any], function: dict[str, Any]) -> None:
    """Objects under bucket/prefix/ only, and listing only with that prefix."""
    (s3_policy,) = [p for p in role_of(template, function)["Policies"] if "Fn::If" in p]
    assert s3_policy["Fn::If"][0] == "HasModelS3"
    statements = {s["Action"]: s for s in s3_policy["Fn::If"][1]["PolicyDocument"]["Statement"]}
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
