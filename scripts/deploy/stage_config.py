"""Each stage's deploy settings from samconfig.toml, as the Makefile and the deploy workflow pass them to sam and aws.

Standard library only: it runs before any virtualenv exists (make's variables, the workflow's first steps).

    python3 -m scripts.deploy.stage_config region prod        the stage's region (samconfig [prod.global.parameters])
    python3 -m scripts.deploy.stage_config stack prod         its application stack's name
    python3 -m scripts.deploy.stage_config overrides prod     its parameter overrides, one Key=Value a word

``sam deploy --parameter-overrides`` given on the command line replaces samconfig's list instead of adding to it, so
``overrides`` prints samconfig's list with what the deploy adds: the alarm recipient (``ALARM_EMAIL``,
``ALARM_TOPIC_ARN``, which prod's rule ProdAlarmsReachSomeone requires; its only place), the provisioned concurrency
(``PROVISIONED_CONCURRENCY``) and any ``PARAMETERS="Key=Value ..."``. ``DEPLOY_REGION`` moves a stage to another
region. The deploy workflow sets all four from GitHub variables, so a new account needs no commit.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SAMCONFIG = Path(__file__).resolve().parents[2] / "samconfig.toml"
#: Environment variables the deploy reads, and the template parameters they set.
ENVIRONMENT_PARAMETERS = {
    "ALARM_EMAIL": "AlarmEmail",
    "ALARM_TOPIC_ARN": "AlarmTopicArn",
    "PROVISIONED_CONCURRENCY": "ProvisionedConcurrency",
}
#: Parameters with one place only, the environment (a GitHub variable in the pipeline): never samconfig.toml.
ENVIRONMENT_ONLY = ("AlarmEmail", "AlarmTopicArn")
#: The region of every stage when set (dev and prod share one: prod runs the image dev pushed to ECR).
REGION_VARIABLE = "DEPLOY_REGION"


class StageConfigError(Exception):
    """Raised when samconfig.toml has no such environment or a value sam cannot take as one word."""


def samconfig(path: Path = SAMCONFIG) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def section(env: str, command: str, path: Path = SAMCONFIG) -> dict[str, Any]:
    """One ``[env.command.parameters]`` table (empty when absent); an unknown environment is an error."""
    config = samconfig(path)
    if env not in config:
        known = ", ".join(sorted(name for name in config if isinstance(config[name], dict)))
        raise StageConfigError(f"samconfig.toml has no environment {env!r} (it has {known})")
    return dict(config[env].get(command, {}).get("parameters", {}))


def region(env: str, path: Path = SAMCONFIG, environ: Mapping[str, str] | None = None) -> str:
    """The stage's region: DEPLOY_REGION, else samconfig's; every aws and sam call is given it."""
    environ = os.environ if environ is None else environ
    if environ.get(REGION_VARIABLE):
        return environ[REGION_VARIABLE]
    value = section(env, "global", path).get("region")
    if not value:
        raise StageConfigError(f"samconfig.toml [{env}.global.parameters] sets no region")
    return str(value)


def stack_name(env: str, path: Path = SAMCONFIG) -> str:
    return str(section(env, "global", path)["stack_name"])


def deploy_overrides(env: str, environ: Mapping[str, str], path: Path = SAMCONFIG) -> dict[str, str]:
    """samconfig's deploy parameter overrides, then the alarm recipient and PARAMETERS from ``environ``."""
    given = section(env, "deploy", path).get("parameter_overrides", "")
    values = dict(item.split("=", 1) for item in shlex.split(given))
    for name in ENVIRONMENT_ONLY:
        if name in values:
            variable = next(v for v, p in ENVIRONMENT_PARAMETERS.items() if p == name)
            raise StageConfigError(
                f"samconfig.toml [{env}.deploy] sets {name}: it has one place, the environment variable {variable} "
                "(in GitHub, the stage environment's variable of that name)"
            )
    for variable, parameter in ENVIRONMENT_PARAMETERS.items():
        if environ.get(variable):
            values[parameter] = environ[variable]
    for item in shlex.split(environ.get("PARAMETERS", "")):
        name, sep, value = item.partition("=")
        if not sep:
            raise StageConfigError(f"PARAMETERS: {item!r} is not Key=Value")
        values[name] = value
    for name, value in values.items():
        if not value or any(char.isspace() for char in value):
            raise StageConfigError(f"parameter {name}={value!r}: empty or with spaces, sam cannot take it as one word")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["region", "stack", "overrides"])
    parser.add_argument("env")
    parser.add_argument("--samconfig", type=Path, default=SAMCONFIG)
    args = parser.parse_args(argv)
    try:
        if args.what == "region":
            print(region(args.env, args.samconfig))
        elif args.what == "stack":
            print(stack_name(args.env, args.samconfig))
        else:
            overrides = deploy_overrides(args.env, os.environ, args.samconfig)
            print(" ".join(f"{name}={value}" for name, value in overrides.items()))
    except StageConfigError as error:
        print(f"stage_config: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
