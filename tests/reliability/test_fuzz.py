"""Property-based fuzzing of the API from its own OpenAPI schema, through the real Lambda entry.

Schemathesis generates requests from ``/openapi.json`` (fetched through the handler too). Each request goes out
through a ``requests`` session whose transport adapter turns it into an API Gateway HTTP API event, calls
``app.handler.handler`` and turns the proxy response back into an HTTP response: what API Gateway does in
front of the function. Checks on every response: no 5xx, status code, content type and body conform to the
schema, and every error body has the one error shape.

Examples per operation and mode: ``FUZZ_EXAMPLES`` (default 25, derandomized, in the suite; ``make fuzz`` runs
1,000 with fresh randomness, ``FUZZ_RANDOM=1``).
"""

from __future__ import annotations

import base64
import io
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from lambda_events import BASE_URL, assert_error_shape, event_from_url
from reports import record
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from urllib3 import HTTPHeaderDict, HTTPResponse

from scripts.common.lambda_context import LocalLambdaContext

pytestmark = pytest.mark.slow

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


class LambdaAdapter(BaseAdapter):
    """A requests transport that delivers each request to the Lambda handler as API Gateway would."""

    def __init__(self, handler: Any) -> None:
        super().__init__()
        self.handler = handler
        self.statuses: Counter[int] = Counter()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        body = request.body.encode("utf-8") if isinstance(request.body, str) else request.body
        headers = {name: value for name, value in request.headers.items()}
        event = event_from_url(str(request.method), str(request.url), body=body, headers=headers)
        proxy = self.handler(event, LocalLambdaContext())
        self.statuses[proxy["statusCode"]] += 1
        raw = proxy.get("body") or ""
        content = base64.b64decode(raw) if proxy.get("isBase64Encoded") else raw.encode("utf-8")
        headers = HTTPHeaderDict(proxy.get("headers") or {})
        for cookie in proxy.get("cookies") or []:
            headers.add("set-cookie", cookie)
        response = requests.Response()
        response.status_code = proxy["statusCode"]
        response.headers = CaseInsensitiveDict(headers)
        response.raw = HTTPResponse(
            body=io.BytesIO(content), headers=headers, status=proxy["statusCode"], version=11, preload_content=False
        )
        response._content = content
        response.url = str(request.url)
        response.request = request
        response.reason = "OK" if proxy["statusCode"] < 400 else "Error"
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


def error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every non-2xx answer is ``{"error": {"code", "message", "request_id"[, "details"]}}``."""
    if response.status_code < 400:
        return None
    proxy = {
        "statusCode": response.status_code,
        "headers": {name: values[0] for name, values in response.headers.items()},
        "body": response.content.decode("utf-8"),
    }
    assert_error_shape(proxy)
    return True


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def session(lambda_handler: ModuleType) -> Iterator[requests.Session]:
    session = requests.Session()
    session.mount("https://", LambdaAdapter(lambda_handler.handler))
    yield session
    session.close()


@pytest.fixture(scope="module")
def schema(session: requests.Session) -> Any:
    """The app's own schema, fetched through the handler like any client would."""
    response = session.get(f"{BASE_URL}/openapi.json")
    assert response.status_code == 200
    return schemathesis.openapi.from_dict(json.loads(response.content))


def _schema_operations() -> list[str]:
    """Every operation in the app's schema, read at collection time from an app without a model (cheap)."""
    from app.api import create_app
    from app.classifier import ModelState
    from app.observability import Observability
    from app.security import ApiKeyGuard
    from app.services import Services
    from app.settings import Settings

    settings = Settings()
    observability = Observability(settings)
    guard = ApiKeyGuard(settings, logger=observability.logger)
    services = Services(settings, ModelState(failure="collection"), guard, observability)
    paths = create_app(services).openapi()["paths"]
    return [f"{method.upper()} {path}" for path, methods in paths.items() for method in methods]


OPERATIONS = _schema_operations()


def test_the_fuzzed_schema_is_the_served_one(schema: Any) -> None:
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert labels == set(OPERATIONS)
    assert {"POST /predict", "POST /predict/batch", "GET /health"} <= labels


#: Negative cases only where there is input to negate (GET operations take no parameters).
CASES = [
    pytest.param(label, mode, id=f"{label}-{mode}")
    for label in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or not label.startswith("GET ")
]


def _fuzz(operation: Any, session: requests.Session, mode: GenerationMode, examples: int) -> int:
    """Generate ``examples`` requests for one operation, send each through ``session``, check every answer."""
    calls = 0

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=os.environ.get("FUZZ_RANDOM") != "1",
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal calls
        calls += 1
        response = case.call(base_url=BASE_URL, session=session)
        case.validate_response(response, checks=CHECKS, additional_checks=[error_shape])

    run()
    return calls


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_fuzz_through_the_lambda_handler(
    schema: Any, session: requests.Session, label: str, mode: GenerationMode
) -> None:
    adapter: LambdaAdapter = session.get_adapter(BASE_URL)  # type: ignore[assignment]
    before = adapter.statuses.copy()
    started = time.perf_counter()
    calls = _fuzz(schema.find_operation_by_label(label), session, mode, FUZZ_EXAMPLES)
    statuses = adapter.statuses - before
    assert calls > 0
    assert not any(status >= 500 for status in statuses)
    record(
        "fuzz",
        f"{label} ({mode})",
        examples=calls,
        statuses=dict(sorted(statuses.items())),
        seconds=round(time.perf_counter() - started, 2),
    )


BROKEN = {
    "a 500, even in the error shape": lambda real: {**real, "statusCode": 500},
    "a 400 in another error shape": lambda real: {**real, "statusCode": 400, "body": '{"detail": "bad input"}'},
    "a 200 that breaks the schema": lambda real: {**real, "statusCode": 200, "body": '{"emotion": 3}'},
}


@pytest.mark.parametrize("broken", BROKEN)
def test_the_checks_catch_a_broken_service(schema: Any, lambda_handler: ModuleType, broken: str) -> None:
    """The same run against a handler that answers wrongly must fail: the fuzz test can fail."""

    def wrong(event: Any, context: Any) -> Any:
        return BROKEN[broken](lambda_handler.handler(event, context))

    session = requests.Session()
    session.mount("https://", LambdaAdapter(wrong))
    with pytest.raises(FailureGroup):
        _fuzz(schema.find_operation_by_label("POST /predict"), session, GenerationMode.POSITIVE, 5)
