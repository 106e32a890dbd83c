"""The API key never reaches a log, at any level: each of the three functions run at LOG_LEVEL=DEBUG, everything read.

The Lambda runtime sets the root logger to the function's application log level; at DEBUG botocore then logs every
AWS response body, the key store's ``GetSecretValue`` answer included, unless the functions hold it back.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws
from support import forget_handler, fresh_handler, load_event, redirect_logs

from apikey import LIBRARY_LOGGERS
from scripts.common.lambda_context import LocalLambdaContext

KEY = "k3y-That-Must-Never-Be-Logged-0123456789"
SECRET = "emotion-api-test/debug-key"
#: Written at DEBUG when the environment is set up: seen in the output, it proves DEBUG records are kept.
DEBUG_PROBE = "debug-records-are-kept"


class Written:
    """Everything the functions write: the root logger (what the Lambda runtime ships), Powertools, stdout/stderr."""

    def __init__(self, root: io.StringIO, powertools: io.StringIO, capfd: pytest.CaptureFixture[str]) -> None:
        self._root, self._powertools, self._capfd = root, powertools, capfd

    def text(self) -> str:
        captured = self._capfd.readouterr()
        return "\n".join([self._root.getvalue(), self._powertools.getvalue(), captured.out, captured.err])


@pytest.fixture
def debug_environment(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> Iterator[Written]:
    """A fresh process at LOG_LEVEL=DEBUG as the Lambda runtime sets it up, with the key in Secrets Manager (moto)."""
    parameters.clear_caches()
    with mock_aws():
        # The test's own call to the store is made before logging opens up: only the functions' calls are judged.
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name=SECRET, SecretString=KEY)
        root = logging.getLogger()
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        saved = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
        saved_root = root.level
        for name in LIBRARY_LOGGERS:  # as a new execution environment has them: following the root logger
            logging.getLogger(name).setLevel(logging.NOTSET)
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        for name in ("LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL", "POWERTOOLS_LOG_LEVEL"):
            monkeypatch.setenv(name, "DEBUG")
        monkeypatch.setenv("API_KEY_SECRET_NAME", SECRET)
        logging.getLogger("tests").debug(DEBUG_PROBE)
        yield Written(stream, redirect_logs(monkeypatch), capfd)
    root.removeHandler(handler)
    root.setLevel(saved_root)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)
    parameters.clear_caches()


def fresh_import(name: str) -> ModuleType:
    """Import a function's entry module afresh, as its cold start would."""
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def test_the_inference_function_never_logs_the_key(
    debug_environment: Written, tiny_model_dir: Path, fake_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the inference function's cold start at DEBUG (it fetches the key during init)
    module = fresh_handler(monkeypatch, tiny_model_dir, backend=fake_backend)
    try:
        # WHEN a request with the key and one without it are served
        event = load_event("predict.json")
        event["headers"]["x-api-key"] = KEY
        assert module.handler(event, LocalLambdaContext())["statusCode"] == 200
        assert module.handler(load_event("predict.json"), LocalLambdaContext())["statusCode"] == 401
    finally:
        forget_handler()
    written = debug_environment.text()
    # THEN the function's logs were written at DEBUG, and the key is nowhere in them
    assert DEBUG_PROBE in written and "model_loaded" in written
    assert KEY not in written


def test_the_authorizer_never_logs_the_key(debug_environment: Written) -> None:
    module = fresh_import("authorizer.handler")
    event = json.loads(json.dumps(load_event("predict.json")))
    event["headers"]["x-api-key"] = KEY
    assert module.handler(event, LocalLambdaContext())["isAuthorized"] is True
    event["headers"]["x-api-key"] = KEY[::-1]
    assert module.handler(event, LocalLambdaContext())["isAuthorized"] is False
    written = debug_environment.text()
    assert DEBUG_PROBE in written and "api_key_refused" in written
    assert KEY not in written


class Reports:
    """A CodeDeploy client that keeps the status reported."""

    def __init__(self) -> None:
        self.statuses: list[str] = []

    def put_lifecycle_event_hook_execution_status(self, **kwargs: Any) -> None:
        self.statuses.append(kwargs["status"])


class Unreachable:
    """A Lambda client whose invocations fail: the hook must report, and still not log the key it read."""

    def invoke(self, **kwargs: Any) -> Any:
        raise ConnectionError("no such function here")


def test_the_pretraffic_hook_never_logs_the_key(debug_environment: Written, monkeypatch: pytest.MonkeyPatch) -> None:
    module = fresh_import("pretraffic.handler")
    monkeypatch.setenv(module.TARGET_ENV, "arn:aws:lambda:us-east-1:123456789012:function:emotion-api:7")
    reports = Reports()
    event = {"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "hook-1"}
    result = module.run(
        event, environ=os.environ, lambda_client=Unreachable(), codedeploy_client=reports, client_for=boto3.client
    )
    assert reports.statuses == ["Failed"] and result["problems"]
    written = debug_environment.text()
    assert DEBUG_PROBE in written and "pretraffic_result" in written
    assert KEY not in written
