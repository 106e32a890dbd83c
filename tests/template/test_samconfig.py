"""samconfig.toml: the environments, their stacks and their parameter overrides."""

from __future__ import annotations

import re
import shlex
import tomllib
from typing import Any

from template_support import SAMCONFIG_PATH


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
