"""scripts/deploy/stage_config.py: each stage's region and the parameters a deploy passes (samconfig's, plus
its own)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scripts.deploy import stage_config
from scripts.deploy.stage_config import StageConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_the_deploy_adds_the_alarm_recipient_and_parameters_to_samconfigs_overrides() -> None:
    environ = {"ALARM_EMAIL": "oncall@example.org", "PARAMETERS": "ProvisionedConcurrency=0 LogLevel=DEBUG"}
    overrides = stage_config.deploy_overrides("prod", environ)
    assert overrides["AlarmEmail"] == "oncall@example.org"
    assert overrides["ProvisionedConcurrency"] == "0" and overrides["LogLevel"] == "DEBUG"
    assert overrides["Stage"] == "prod" and overrides["DeploymentType"] == "Canary10Percent10Minutes"


def test_values_sam_would_split_are_refused() -> None:
    with pytest.raises(StageConfigError, match="AlarmEmail"):
        stage_config.deploy_overrides("prod", {"ALARM_EMAIL": "two words@example.org"})
    with pytest.raises(StageConfigError, match="not Key=Value"):
        stage_config.deploy_overrides("prod", {"PARAMETERS": "ProvisionedConcurrency"})


def test_an_unknown_environment_names_the_known_ones() -> None:
    with pytest.raises(StageConfigError, match=r"no environment 'staging'.*dev.*prod"):
        stage_config.region("staging")


def cli(*args: str, env: dict[str, str]) -> str:
    """What `python3 -m scripts.deploy.stage_config ...` prints, as make and the workflow call it."""
    result = subprocess.run(
        [sys.executable, "-m", "scripts.deploy.stage_config", *args],
        cwd=ROOT,
        env={**env, "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_the_cli_prints_one_word_per_parameter_for_sam() -> None:
    words = cli("overrides", "prod", env={"ALARM_EMAIL": "oncall@example.org"}).split()
    assert "Stage=prod" in words and "AlarmEmail=oncall@example.org" in words
    assert all("=" in word and '"' not in word for word in words)


def test_github_variables_set_the_region_and_the_provisioned_concurrency_without_a_commit() -> None:
    # GIVEN the variables the deploy workflow passes from GitHub
    environ = {"DEPLOY_REGION": "eu-west-1", "PROVISIONED_CONCURRENCY": "0"}
    # THEN every stage goes to that region and prod provisions what the variable says
    assert stage_config.region("prod", environ=environ) == "eu-west-1"
    assert stage_config.region("dev", environ=environ) == "eu-west-1"
    assert stage_config.region("prod", environ={}) == "us-east-1"
    assert stage_config.deploy_overrides("prod", environ)["ProvisionedConcurrency"] == "0"
    assert stage_config.deploy_overrides("prod", {})["ProvisionedConcurrency"] == "1"
    assert cli("region", "prod", env={"DEPLOY_REGION": "ap-south-1"}).strip() == "ap-south-1"
