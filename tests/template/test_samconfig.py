"""samconfig.toml: the environments, their stacks, their parameter overrides and what each builds."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from template_support import ROOT, SAMCONFIG_PATH, evaluate_conditions, overrides, samconfig

from scripts.deploy import stage_config

ENVIRONMENTS = ("default", "dev", "prod")
STACKS = {"default": "emotion-api-sandbox", "dev": "emotion-api-dev", "prod": "emotion-api-prod"}


def test_samconfig_environments(template: dict[str, Any]) -> None:
    """`sam deploy --config-env dev|prod` must target their own stacks with valid parameter overrides."""
    config = samconfig()
    assert str(config["version"]) == "0.1"
    assert set(ENVIRONMENTS) <= set(config)
    for env in ENVIRONMENTS:
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        for command in ("build", "deploy"):
            for name, value in overrides(env, command).items():
                parameter = template["Parameters"][name]
                if "AllowedValues" in parameter:
                    assert value in {str(v) for v in parameter["AllowedValues"]}, (env, command, name)
                if "AllowedPattern" in parameter:
                    assert re.fullmatch(parameter["AllowedPattern"], value), (env, command, name)
        assert config[env]["global"]["parameters"]["stack_name"] == STACKS[env]
        assert re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", config[env]["global"]["parameters"]["region"]), env
    for env in ("dev", "prod"):
        assert overrides(env)["Stage"] == env
        # The pipeline passes the bootstrap's bucket and repository; sam's own would be a second artifact store.
        deploy = config[env]["deploy"]["parameters"]
        assert "resolve_s3" not in deploy and "resolve_image_repos" not in deploy
    # A personal sandbox resolves its own bucket and repository (sam deploy --guided).
    assert config["default"]["deploy"]["parameters"]["resolve_s3"] is True
    assert config["default"]["deploy"]["parameters"]["resolve_image_repos"] is True
    assert config["dev"]["deploy"]["parameters"]["confirm_changeset"] is False
    assert config["prod"]["deploy"]["parameters"]["confirm_changeset"] is True
    # the size `make right-size` recommends, in both stages (docs/right-size.json)
    recommended = json.loads((ROOT / "docs" / "right-size.json").read_text(encoding="utf-8"))["recommended_mb"]
    assert overrides("prod")["MemorySize"] == overrides("dev")["MemorySize"] == str(recommended)
    assert overrides("prod")["ProvisionedConcurrency"] == "1"


def test_dev_and_prod_stacks_never_collide() -> None:
    """Each environment deploys its own stack, stage, artifact prefix and tags: no two share any of them.

    (The default environment once shared dev's stack name with different overrides, so a `sam deploy` from a laptop
    rewrote dev's stack with the sandbox's settings.) Names inside a stack carry its stack name:
    test_deployment.py::test_every_named_resource_carries_its_stack_name.
    """
    config = samconfig()
    for key, read in (
        ("stack", lambda env: config[env]["global"]["parameters"]["stack_name"]),
        ("stage", lambda env: overrides(env)["Stage"]),
        ("s3 prefix", lambda env: config[env]["deploy"]["parameters"]["s3_prefix"]),
        ("stage tag", lambda env: config[env]["deploy"]["parameters"]["tags"]),
    ):
        values = [read(env) for env in ENVIRONMENTS]
        assert len(set(values)) == len(values), (key, values)


def test_the_image_is_built_for_the_architecture_each_stage_deploys() -> None:
    """`sam build --config-env ENV` reads [ENV.build]: its Architecture must be the one [ENV.deploy] runs on, and dev
    and prod must agree, since prod deploys the image built (once) for dev."""
    for env in ENVIRONMENTS:
        built, deployed = overrides(env, "build").get("Architecture"), overrides(env, "deploy").get("Architecture")
        assert built is not None, f"[{env}.build] sets no Architecture: sam build would make the default x86_64 image"
        assert built == deployed, (env, built, deployed)
    assert overrides("dev", "build")["Architecture"] == overrides("prod")["Architecture"]


def test_every_deployed_stage_requires_a_key_by_default(template: dict[str, Any]) -> None:
    """An open stage is anyone's to spend: dev, prod and the sandbox require the key (a generated secret unless a key
    source is named)."""
    for env in ("dev", "prod", "default"):
        conditions = evaluate_conditions(template, overrides(env))
        assert conditions["RequiresApiKey"] and conditions["CreatesApiKeySecret"], env


def test_the_alarm_address_has_one_place_the_environment(tmp_path: Path) -> None:
    """samconfig.toml never names the alarm recipient; naming it there is refused with where it belongs."""
    for env in ("dev", "prod", "default"):
        assert not {"AlarmEmail", "AlarmTopicArn"} & set(overrides(env)), env
    config = SAMCONFIG_PATH.read_text(encoding="utf-8")
    path = tmp_path / "samconfig.toml"
    path.write_text(config.replace('Stage=\\"dev\\"', 'Stage=\\"dev\\" AlarmEmail=\\"a@b.org\\"', 1), encoding="utf-8")
    with pytest.raises(stage_config.StageConfigError, match="one place, the environment variable ALARM_EMAIL"):
        stage_config.deploy_overrides("dev", {}, path)


def test_dev_shifts_all_at_once_and_prod_gradually() -> None:
    assert overrides("dev")["DeploymentType"] == "AllAtOnce"
    assert re.fullmatch(r"(Canary|Linear)10Percent\w+", overrides("prod")["DeploymentType"])


def test_dev_and_prod_share_a_region() -> None:
    """Each stage names its region, and the two must agree: prod deploys the image dev pushed to dev's ECR repository,
    and Lambda pulls images from its own region only."""
    config = samconfig()
    assert config["dev"]["global"]["parameters"]["region"] == config["prod"]["global"]["parameters"]["region"]
