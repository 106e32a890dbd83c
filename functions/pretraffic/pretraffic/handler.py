"""CodeDeploy's PreTraffic hook for the inference function's ``live`` alias.

Before CodeDeploy moves any traffic to a new version, it calls this function with the deployment's ids. The hook
invokes that version directly (``TARGET_FUNCTION_VERSION``, the version's ARN, set by template.yaml) with the sample
requests of ``checks``: the health route, one prediction and one bad request (and, where a key is required, a
request without it). If any answer is wrong, or an invocation fails, it reports ``Failed`` and CodeDeploy stops the
deployment and leaves the alias on the old version; otherwise ``Succeeded``. It always reports, so a deployment never
waits out CodeDeploy's one-hour hook timeout because of an error here.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypedDict

from apikey import STORE_VARIABLES, KeyUnavailableError, hold_library_loggers, read_stored_key

from .checks import BadAnswerError, Check, build_checks, parse_answer

TARGET_ENV = "TARGET_FUNCTION_VERSION"
#: Long enough for a cold start of the image (model load included) plus the function's 28 s timeout.
INVOKE_READ_TIMEOUT_SECONDS = 90

logger = logging.getLogger(__name__)
hold_library_loggers()

Status = Literal["Succeeded", "Failed"]


class HookEvent(TypedDict):
    """What CodeDeploy sends a lifecycle hook."""

    DeploymentId: str
    LifecycleEventHookExecutionId: str


class HookResult(TypedDict):
    """What the hook reported, and why (also its return value, visible in the hook's logs)."""

    status: Status
    problems: list[str]


def run_checks(target: str, checks: list[Check], lambda_client: Any) -> list[str]:
    """Invoke ``target`` with each check's event; the problems found, each prefixed with its check's name."""
    qualifier = target.rsplit(":", 1)[-1]
    problems: list[str] = []
    for check in checks:
        try:
            response = lambda_client.invoke(
                FunctionName=target, InvocationType="RequestResponse", Payload=json.dumps(check.event).encode()
            )
            payload = response["Payload"].read()
        except Exception as exc:  # an invocation that cannot be made is a failed check, not a crashed hook
            problems.append(f"{check.name}: the invocation failed ({type(exc).__name__})")
            continue
        if response.get("FunctionError"):
            problems.append(f"{check.name}: the function raised an error ({response['FunctionError']})")
            continue
        executed = response.get("ExecutedVersion")
        if qualifier.isdigit() and executed is not None and executed != qualifier:
            problems.append(f"{check.name}: version {executed} answered, expected {qualifier}")
        try:
            answer = parse_answer(payload)
        except BadAnswerError as exc:
            problems.append(f"{check.name}: {exc}")
            continue
        problems.extend(f"{check.name}: {problem}" for problem in check.verify(answer))
    return problems


def read_api_key(environ: Mapping[str, str], client_for: Callable[[str], Any]) -> str | None:
    """The key the samples must carry (the store the function reads, through the shared ``apikey`` module), or None
    when the deployment requires none; raises KeyUnavailableError when it cannot be read."""
    secret_name, parameter_name = (environ.get(name, "").strip() or None for name in STORE_VARIABLES)
    if secret_name is None and parameter_name is None:
        return None
    return read_stored_key(secret_name=secret_name, parameter_name=parameter_name, client_for=client_for).decode()


def run(
    event: HookEvent,
    *,
    environ: Mapping[str, str],
    lambda_client: Any,
    codedeploy_client: Any,
    client_for: Callable[[str], Any],
) -> HookResult:
    """Check the target version and report the outcome to CodeDeploy; clients are passed in (tests stub them)."""
    target = environ.get(TARGET_ENV, "").strip()
    problems: list[str]
    if not target:
        problems = [f"{TARGET_ENV} is not set"]
    else:
        try:
            api_key = read_api_key(environ, client_for)
        except KeyUnavailableError as exc:
            problems = [f"the API key cannot be read ({exc})"]
        else:
            problems = run_checks(target, build_checks(api_key), lambda_client)
    status: Status = "Failed" if problems else "Succeeded"
    for problem in problems:
        logger.error("pretraffic_check_failed", extra={"problem": problem, "target": target})
    logger.info("pretraffic_result", extra={"status": status, "target": target, "deployment_id": event["DeploymentId"]})
    codedeploy_client.put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status,
    )
    return {"status": status, "problems": problems}


def handler(event: HookEvent, context: Any) -> HookResult:
    """Lambda entry (``pretraffic.handler.handler``): real clients, the function's variables."""
    import boto3
    from botocore.config import Config

    # One attempt per invocation: a retried prediction would hide a timeout, and the hook runs once per deployment.
    invoke_config = Config(
        read_timeout=INVOKE_READ_TIMEOUT_SECONDS, connect_timeout=10, retries={"total_max_attempts": 1}
    )
    return run(
        event,
        environ=os.environ,
        lambda_client=boto3.client("lambda", config=invoke_config),
        codedeploy_client=boto3.client("codedeploy"),
        client_for=boto3.client,
    )
