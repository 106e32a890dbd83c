"""Who gets in, what the logs keep, which origins may call: checked through the Lambda entry.

Complements tests/api/test_api_key.py (TestClient) and tests/unit/test_security.py (constant-time compare).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from lambda_events import assert_error_shape, backend_for, body_of, http_event
from moto import mock_aws
from reports import record
from support import forget_handler, fresh_handler, log_records, redirect_logs

from scripts.common.lambda_context import LocalLambdaContext

JSON = {"content-type": "application/json"}
KEY = "Zq8-reliability-KEY-7f3c9e1b2a"


@pytest.fixture
def environment(
    monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path
) -> Iterator[Callable[..., tuple[ModuleType, Callable[[], str]]]]:
    """A cold start with the given settings, and a reader of everything the function logged since."""
    stream = redirect_logs(monkeypatch)

    def start(**env: str) -> tuple[ModuleType, Callable[[], str]]:
        module = fresh_handler(monkeypatch, tiny_model_dir, backend=backend_for(tiny_model_dir), **env)
        return module, stream.getvalue

    yield start
    forget_handler()


def _predict(module: ModuleType, headers: dict[str, str] | None = None, text: str = "I am happy") -> dict[str, Any]:
    event = http_event("POST", "/predict", body=json.dumps({"text": text}), headers={**JSON, **(headers or {})})
    return module.handler(event, LocalLambdaContext())


PRESENTED = {
    "missing": None,
    "empty": "",
    "wrong": "not-the-key",
    "prefix of the key": KEY[:-1],
    "key plus one character": KEY + "x",
    "different case": KEY.lower(),
    "key with spaces around": f" {KEY} ",
    "non-ASCII": "ключ-" + KEY[5:],
    "10 KB guess": "A" * 10_000,
}


@mock_aws
def test_only_the_exact_key_gets_in_and_it_is_never_logged(environment: Callable[..., Any]) -> None:
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name="emotion/key", SecretString=KEY)
    module, logged = environment(API_KEY_SECRET_NAME="emotion/key", LOG_INPUT_TEXT="true")
    outcomes = {}
    for name, presented in PRESENTED.items():
        response = _predict(module, {"x-api-key": presented} if presented is not None else {})
        assert_error_shape(response, 401, "unauthorized")
        outcomes[name] = response["statusCode"]
    right = _predict(module, {"x-api-key": KEY})
    assert right["statusCode"] == 200
    # Health stays open, so a load balancer or the smoke test can probe it without the key.
    health = module.handler(http_event("GET", "/health"), LocalLambdaContext())
    assert health["statusCode"] == 200
    assert KEY not in logged() and KEY.lower() not in logged(), "the key is never logged, even in debug mode"
    record("security", "API key", tried=len(PRESENTED) + 1, let_in="only the exact key", denied=outcomes)


def test_logs_carry_id_length_label_latency_but_not_the_text(environment: Callable[..., Any]) -> None:
    module, logged = environment()
    marker = "my very private diary entry number 4471"
    event = http_event("POST", "/predict/batch", body=json.dumps({"texts": [marker, "I am sad"]}), headers=JSON)
    event["requestContext"]["requestId"] = "Privacy-1"
    response = module.handler(event, LocalLambdaContext())
    assert response["statusCode"] == 200
    labels = [p["emotion"] for p in body_of(response)["predictions"]]
    (request,) = [r for r in log_records(logged()) if r["message"] == "request"]
    assert request["request_id"] == request["correlation_id"] == "Privacy-1"
    assert request["text_chars"] == [len(marker), len("I am sad")]
    assert request["labels"] == labels
    assert request["latency_ms"] >= 0
    assert "private diary" not in logged() and "texts" not in request
    record(
        "security",
        "privacy (default)",
        logged=sorted({"request_id", "text_chars", "labels", "latency_ms"}),
        text_logged=False,
    )


def test_the_text_is_logged_only_when_debug_logging_is_asked_for(environment: Callable[..., Any]) -> None:
    module, logged = environment(LOG_INPUT_TEXT="true")
    assert _predict(module, text="debugging text 9931")["statusCode"] == 200
    assert "debugging text 9931" in logged()
    record("security", "privacy (LOG_INPUT_TEXT=true)", text_logged=True)


def test_cors_answers_only_the_configured_origins(environment: Callable[..., Any]) -> None:
    module, _ = environment(CORS_ALLOW_ORIGINS="https://app.example")
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "content-type"}

    def options(origin: str) -> dict[str, Any]:
        event = http_event("OPTIONS", "/predict", headers={"origin": origin, **preflight})
        return module.handler(event, LocalLambdaContext())

    allowed = options("https://app.example")
    assert allowed["headers"]["access-control-allow-origin"] == "https://app.example"
    for origin in ("https://evil.example", "https://app.example.evil.example", "null", "http://app.example"):
        refused = options(origin)
        assert "access-control-allow-origin" not in refused["headers"]
        assert_error_shape(refused, 400, "cors_refused")
        simple = _predict(module, {"origin": origin})
        assert "access-control-allow-origin" not in simple["headers"]
    assert _predict(module, {"origin": "https://app.example"})["headers"]["access-control-allow-origin"] == (
        "https://app.example"
    )
    record("security", "CORS", allowed=["https://app.example"], refused=4)


def test_no_cors_headers_without_configured_origins(environment: Callable[..., Any]) -> None:
    module, _ = environment()
    response = _predict(module, {"origin": "https://app.example"})
    assert not any(name.startswith("access-control-") for name in response["headers"])
