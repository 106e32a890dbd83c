"""The longest names the parameters allow still fit AWS's limits, untruncated, and the roles still cover them.

The application stack is named ProjectName-Stage (samconfig.toml, the bootstrap's ARN patterns). With the longest
ProjectName the bootstrap accepts and the longest Stage both templates accept, every name CloudFormation gives or
generates (``<stack>-<LogicalId>-<13 characters>``) must fit its service's limit whole: a truncated one would lose
the ``<project>-<stage>-`` prefix the execution role's statements match.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from permissions_support import (
    Stack,
    bootstrap_stack,
    bootstrap_template,
    cloudformation_name,
    missing,
    role_statements,
)
from template_support import TEMPLATE_PATH, render
from test_permissions import execution_needs

from scripts.common.sam_template import load_template

#: AWS's length limit of each kind of name the stack creates.
LIMITS = {
    "AWS::Lambda::Function": 64,
    "AWS::IAM::Role": 64,
    "AWS::IAM::ManagedPolicy": 128,
    "AWS::S3::Bucket": 63,
    "AWS::Logs::LogGroup": 512,
    "AWS::SNS::Topic": 256,
    "AWS::CloudWatch::Alarm": 255,
    "AWS::CloudWatch::Dashboard": 255,
    "AWS::CodeDeploy::Application": 100,
    "AWS::CodeDeploy::DeploymentGroup": 100,
    "AWS::Scheduler::Schedule": 64,
    "AWS::StepFunctions::StateMachine": 80,
    "AWS::Lambda::LayerVersion": 140,
    "AWS::SecretsManager::Secret": 512,
}


def longest(parameter: dict[str, Any]) -> str:
    """The longest value a parameter's MaxLength and AllowedPattern allow, built from its pattern's first letter."""
    value = "a" * int(parameter["MaxLength"])
    assert re.fullmatch(parameter["AllowedPattern"], value), parameter
    assert not re.fullmatch(parameter["AllowedPattern"], value + "a"), "the pattern allows more than MaxLength"
    return value


@pytest.fixture(scope="module")
def longest_stack() -> Stack:
    project = longest(bootstrap_template()["Parameters"]["ProjectName"])
    stage = longest(bootstrap_template()["Parameters"]["Stage"])
    template_stage = load_template(TEMPLATE_PATH)["Parameters"]["Stage"]
    assert longest(template_stage) == stage, "template.yaml and the bootstrap must allow the same stages"
    parameters = {"Stage": stage, "DeployZipFlavor": "true", "RequireApiKey": "true", "AlarmEmail": "a@example.org"}
    return Stack(render(parameters), f"{project}-{stage}", "ap-southeast-2", parameters, cloudformation_name)


def test_every_derived_name_fits_its_limit_whole(longest_stack: Stack) -> None:
    checked = {}
    for logical_id, res in longest_stack.resources.items():
        limit = LIMITS.get(res["Type"])
        if limit is None:
            continue
        name = longest_stack.physical_name(logical_id)
        checked[logical_id] = len(name)
        assert len(name) <= limit, f"{logical_id} ({res['Type']}): {name} has {len(name)} characters, over {limit}"
    # the hook's fixed name and the generated role names are among them, at or next to their limit
    assert checked["PreTrafficHookFunction"] == len("CodeDeployHook_aaaaaaaaaaaa-aaaaaaaa-pretraffic")
    assert max(length for name, length in checked.items() if name.endswith("Role")) == 64
    assert len(checked) >= 30


def test_the_execution_role_still_covers_the_longest_names(longest_stack: Stack) -> None:
    project, stage = longest_stack.name.split("-")
    bootstrap = bootstrap_stack(stage, longest_stack.region, project=project)
    statements = role_statements(bootstrap, "CloudFormationExecutionRole")
    assert missing(execution_needs(longest_stack, bootstrap), statements, "CloudFormationExecutionRole") == []
