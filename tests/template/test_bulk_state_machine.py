"""The bulk classification state machine, as CloudFormation receives it after the SAM transform."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import pytest
from template_support import overrides, render, resources_of_type

MACHINE = "BulkClassifyStateMachine"


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    return render(overrides("prod"))


@pytest.fixture(scope="module")
def definition(rendered: dict[str, Any]) -> dict[str, Any]:
    """The ASL definition with CloudFormation's substitutions applied as placeholders would be at deploy time."""
    machine = rendered["Resources"][MACHINE]["Properties"]
    text = machine["DefinitionString"]
    if isinstance(text, dict):  # SAM keeps the definition as a Fn::Join of lines
        parts = text["Fn::Join"][1]
        text = text["Fn::Join"][0].join(part if isinstance(part, str) else "0" for part in parts)
    substitutions = {
        name: "0" if not isinstance(value, str) else value for name, value in machine["DefinitionSubstitutions"].items()
    }
    return dict(json.loads(re.sub(r"\$\{(\w+)\}", lambda m: substitutions.get(m.group(1), m.group(0)), text)))


def _maps(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: state for name, state in definition["States"].items() if state["Type"] == "Map"}


def test_a_distributed_map_over_csv_and_json_lines(definition: dict[str, Any]) -> None:
    maps = _maps(definition)
    readers = {name: state["ItemReader"]["ReaderConfig"] for name, state in maps.items()}
    assert readers == {"ClassifyCsv": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
                       "ClassifyJsonLines": {"InputType": "JSONL"}}  # fmt: skip
    for state in maps.values():
        assert state["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
        assert state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
        # each row carries its index in the file: the merge restores input order from it
        assert state["ItemSelector"] == {"index.$": "$$.Map.Item.Index", "row.$": "$$.Map.Item.Value"}
        batcher = state["ItemBatcher"]
        assert batcher["MaxItemsPerBatchPath"] == "$.batch_size" and batcher["MaxInputBytesPerBatch"] <= 256 * 1024
        assert batcher["BatchInput"] == {"text_field.$": "$.text_field"}
        assert state["MaxConcurrencyPath"] == "$.max_concurrency"
        assert state["ToleratedFailurePercentagePath"] == "$.tolerated_failure_percentage"
        assert state["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
        task = state["ItemProcessor"]["States"]["ClassifyBatch"]
        assert task["Resource"] == "arn:aws:states:::lambda:invoke"
        assert {"Lambda.TooManyRequestsException", "ModelUnavailableError"} <= set(task["Retry"][0]["ErrorEquals"])
        assert task["ResultSelector"] == {"results.$": "$.Payload.results"}


def test_the_numbers_come_from_parameters(rendered: dict[str, Any], definition: dict[str, Any]) -> None:
    settings = definition["States"]["Settings"]["Parameters"]
    assert settings["batch_size.$"].startswith("States.StringToJson(")
    substitutions = rendered["Resources"][MACHINE]["Properties"]["DefinitionSubstitutions"]
    assert substitutions["BatchSize"] == {"Ref": "BulkBatchSize"}
    assert substitutions["MaxConcurrency"] == {"Ref": "BulkMaxConcurrency"}
    assert substitutions["ToleratedFailurePercentage"] == {"Ref": "BulkToleratedFailurePercentage"}
    assert "Alias" in json.dumps(substitutions["FunctionArn"])  # the live alias, never $LATEST


def _pass_state(state: dict[str, Any], given: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """A Pass state's output: its Parameters over the input and the context object (the paths and intrinsics used)."""

    def value(expression: str) -> Any:
        if expression.startswith("$$."):
            return functools.reduce(lambda node, name: node[name], expression[3:].split("."), context)
        if expression.startswith("$."):
            return functools.reduce(lambda node, name: node[name], expression[2:].split("."), given)
        if match := re.fullmatch(r"States\.StringToJson\('(.*)'\)", expression):
            return json.loads(match.group(1))
        if match := re.fullmatch(r"States\.Format\('([^']*)', *(.+)\)", expression):
            return match.group(1).replace("{}", str(value(match.group(2))), 1)
        raise AssertionError(f"the test does not evaluate {expression}")

    return {
        name.removesuffix(".$"): value(field) if name.endswith(".$") else field
        for name, field in state["Parameters"].items()
    }


def test_two_jobs_given_one_output_prefix_still_write_apart(definition: dict[str, Any]) -> None:
    """Results go under output/<execution name>/ whatever the caller passes: one job cannot take another's place."""
    # GIVEN two executions whose callers both ask for the first one's output prefix
    job = {"bucket": "b", "key": "input/a.csv", "input_type": "CSV", "text_field": "text",
           "output_prefix": "output/job-a"}  # fmt: skip
    assert definition["StartAt"] == "Settings"
    settings = definition["States"]["Settings"]
    # WHEN each passes the Settings state, the first one all the map states see
    prefixes = [
        _pass_state(settings, job, {"Execution": {"Name": name}})["output_prefix"] for name in ("job-a", "job-b")
    ]
    # THEN each writes under its own execution's name, which Step Functions keeps unique per state machine
    assert prefixes == ["output/job-a", "output/job-b"]
    assert definition["States"][settings["Next"]]["Type"] == "Choice"  # passes its input on unchanged
    for state in _maps(definition).values():
        assert state["ResultWriter"]["Parameters"]["Prefix.$"] == "$.output_prefix"


def _matches(rule: dict[str, Any], given: dict[str, Any]) -> bool:
    """One Choice rule over the input: the comparisons CheckInput uses (And, Not, StringEquals, StringMatches)."""
    if "And" in rule:
        return all(_matches(inner, given) for inner in rule["And"])
    if "Not" in rule:
        return not _matches(rule["Not"], given)
    value = functools.reduce(lambda node, name: node[name], rule["Variable"][2:].split("."), given)
    if "StringEquals" in rule:
        return bool(value == rule["StringEquals"])
    pattern = ".*".join(re.escape(part) for part in rule["StringMatches"].split("*"))
    return re.fullmatch(pattern, value, flags=re.DOTALL) is not None


def _next_after_choice(state: dict[str, Any], given: dict[str, Any]) -> str:
    for choice in state["Choices"]:
        if _matches(choice, given):
            return str(choice["Next"])
    return str(state["Default"])


@pytest.mark.parametrize(
    ("bucket", "key", "is_read"),
    [
        ("{bulk}", "input/20261127T000000Z-1a2b3c4d/messages.csv", True),
        ("{bulk}", "output/other-job/7f3c/SUCCEEDED_0.json", False),  # another job's results
        ("{bulk}", "input/../output/other-job/7f3c/SUCCEEDED_0.json", False),
        ("{bulk}", "messages.csv", False),
        ("someone-elses-bucket", "input/messages.csv", False),
    ],
)
def test_a_job_reads_only_the_bulk_buckets_input_prefix(
    rendered: dict[str, Any], definition: dict[str, Any], bucket: str, key: str, is_read: bool
) -> None:
    # GIVEN a job started with a caller-chosen bucket and key
    bulk = json.dumps(rendered["Resources"][MACHINE]["Properties"]["DefinitionSubstitutions"]["Bucket"])
    assert bulk == json.dumps({"Ref": "BulkBucket"})
    job = {"bucket": bucket.replace("{bulk}", "0"), "key": key, "input_type": "CSV", "text_field": "text"}
    states = definition["States"]
    settings = _pass_state(states["Settings"], job, {"Execution": {"Name": "job-b"}})
    # WHEN it leaves the Settings state; THEN only a key under input/ reaches a map state, whose reader reads it
    outcome = states[_next_after_choice(states[states["Settings"]["Next"]], settings)]
    if is_read:
        assert outcome is states["Format"]
    else:
        assert outcome["Type"] == "Fail" and outcome["Error"] == "InputOutsideInputPrefix"
    for state in _maps(definition).values():
        assert state["ItemReader"]["Parameters"] == {"Bucket.$": "$.bucket", "Key.$": "$.key"}


def _statements(rendered: dict[str, Any]) -> list[dict[str, Any]]:
    role = rendered["Resources"][f"{MACHINE}Role"]["Properties"]
    return [statement for policy in role.get("Policies", []) for statement in policy["PolicyDocument"]["Statement"]]


def test_least_privilege(rendered: dict[str, Any]) -> None:
    statements = _statements(rendered)

    def resources_for(action: str) -> list[Any]:
        return [
            s["Resource"]
            for s in statements
            if action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        ]

    assert resources_for("s3:GetObject") == [
        {"Fn::Sub": "${BulkBucket.Arn}/input/*"},
        {"Fn::Sub": "${BulkBucket.Arn}/output/*"},
    ]
    assert resources_for("s3:PutObject") == [{"Fn::Sub": "${BulkBucket.Arn}/output/*"}]
    (invoke,) = resources_for("lambda:InvokeFunction")
    assert "Alias" in json.dumps(invoke)
    (start,) = resources_for("states:StartExecution")
    assert start["Fn::Sub"].endswith(":stateMachine:${AWS::StackName}-bulk-classify")
    for statement in statements:
        assert statement["Effect"] == "Allow"
        if statement["Resource"] == "*":  # only the log-delivery API, which takes no resource
            assert all(action.startswith("logs:") for action in statement["Action"])


def test_failed_jobs_alarm_and_the_bucket_is_private(rendered: dict[str, Any]) -> None:
    alarms = resources_of_type(rendered, "AWS::CloudWatch::Alarm").values()
    (failed,) = [a["Properties"] for a in alarms if a["Properties"].get("MetricName") == "ExecutionsFailed"]
    assert failed["Namespace"] == "AWS/States" and failed["AlarmActions"]
    assert failed["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": MACHINE}}]
    bucket = rendered["Resources"]["BulkBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == {"Ref": "BulkRetentionDays"}
    policy = rendered["Resources"]["BulkBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert policy[0]["Effect"] == "Deny" and policy[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    outputs = rendered["Outputs"]
    assert outputs["BulkBucketName"]["Value"] == {"Ref": "BulkBucket"}
    assert outputs["BulkStateMachineArn"]["Value"] == {"Ref": MACHINE}
