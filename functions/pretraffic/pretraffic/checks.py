"""The sample requests the hook sends the new version, and what each answer must be.

Each request is an API Gateway HTTP API event (payload format 2.0), the shape the function receives in production;
each check returns the problems it found in the answer (an empty list: the answer is right). The checks read what
a client relies on: status codes, the error shape's code, the prediction's labels and probabilities, the
``x-model-version`` and ``x-request-id`` headers.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apikey import API_KEY_HEADER

#: A text whose emotion no working model gets wrong, and that emotion.
SAMPLE_TEXT = "I am feeling very happy today!"
SAMPLE_EMOTION = "joy"
#: The first 12 hex digits of the weights' sha256 (README: "x-model-version").
MODEL_VERSION = re.compile(r"[0-9a-f]{12}")
PROBABILITY_TOLERANCE = 0.01


@dataclass(frozen=True)
class Answer:
    """The function's HTTP answer: status, headers (names lower-cased) and the body parsed as JSON (None if not)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class Check:
    """One sample request and the rule its answer must follow."""

    name: str
    event: dict[str, Any]
    verify: Callable[[Answer], list[str]]


class BadAnswerError(ValueError):
    """Raised when an invocation's payload is not an API Gateway proxy response."""


def http_event(
    method: str, path: str, *, body: Any = None, api_key: str | None = None, request_id: str
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event for ``method path``, with a JSON body and the key when given."""
    headers = {"accept": "application/json", "user-agent": "emotion-api-pretraffic-hook"}
    if body is not None:
        headers["content-type"] = "application/json"
    if api_key is not None:
        headers[API_KEY_HEADER] = api_key
    route_key = f"{method} {path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "pretraffic",
            "apiId": "pretraffic",
            "domainName": "pretraffic.invalid",
            "domainPrefix": "pretraffic",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers["user-agent"],
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000,
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = json.dumps(body)
    return event


def parse_answer(payload: bytes) -> Answer:
    """The proxy response a Lambda invocation returned; raises BadAnswerError for anything else."""
    try:
        response = json.loads(payload)
    except ValueError:
        raise BadAnswerError("the payload is not JSON") from None
    if not isinstance(response, dict) or not isinstance(response.get("statusCode"), int):
        raise BadAnswerError("the payload has no statusCode")
    headers = {str(name).lower(): str(value) for name, value in (response.get("headers") or {}).items()}
    raw = response.get("body") or ""
    if response.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode("utf-8", "replace")
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    return Answer(status=response["statusCode"], headers=headers, body=body)


def _expect_status(answer: Answer, status: int) -> list[str]:
    return [] if answer.status == status else [f"status {answer.status}, expected {status}"]


def _error_code(answer: Answer) -> object:
    error = answer.body.get("error") if isinstance(answer.body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def verify_health(answer: Answer) -> list[str]:
    """GET /health: 200 and the model loaded."""
    problems = _expect_status(answer, 200)
    body = answer.body if isinstance(answer.body, dict) else {}
    if body.get("status") != "ok" or body.get("model_loaded") is not True:
        problems.append("the health answer does not say the model is loaded")
    return problems


def verify_prediction(answer: Answer, expected_emotion: str | None = SAMPLE_EMOTION) -> list[str]:
    """POST /predict: 200, probabilities that sum to one, the top one named, the model version in a header."""
    problems = _expect_status(answer, 200)
    body = answer.body if isinstance(answer.body, dict) else {}
    scores = body.get("all_emotions")
    if not isinstance(scores, dict) or len(scores) < 2:
        return [*problems, "the prediction has no probabilities"]
    values = [value for value in scores.values() if isinstance(value, int | float) and 0.0 <= value <= 1.0]
    if len(values) != len(scores) or not math.isclose(sum(values), 1.0, abs_tol=PROBABILITY_TOLERANCE):
        problems.append("the probabilities are not a distribution")
    elif body.get("emotion") != max(scores, key=scores.__getitem__):
        problems.append("the predicted emotion is not the most probable one")
    elif not (
        isinstance(confidence := body.get("confidence"), int | float)
        and math.isclose(confidence, scores[body["emotion"]], abs_tol=1e-6)
    ):
        problems.append("the confidence is not the predicted emotion's probability")
    if expected_emotion is not None and body.get("emotion") != expected_emotion:
        problems.append(f"predicted {body.get('emotion')!r} for the sample text, expected {expected_emotion!r}")
    if not MODEL_VERSION.fullmatch(answer.headers.get("x-model-version", "")):
        problems.append("no x-model-version header")
    return problems


def verify_invalid_input(answer: Answer) -> list[str]:
    """An empty text: 422 with the error shape's ``invalid_input`` and a request id."""
    problems = _expect_error(answer, 422, "invalid_input")
    if not answer.headers.get("x-request-id"):
        problems.append("no x-request-id header")
    return problems


def verify_unauthorized(answer: Answer) -> list[str]:
    """A prediction without the key, where one is required: 401 ``unauthorized`` (the function's own check)."""
    return _expect_error(answer, 401, "unauthorized")


def _expect_error(answer: Answer, status: int, code: str) -> list[str]:
    problems = _expect_status(answer, status)
    if _error_code(answer) != code:
        problems.append(f"the error code is not {code}")
    return problems


def build_checks(api_key: str | None, *, expected_emotion: str | None = SAMPLE_EMOTION) -> list[Check]:
    """The health route, one prediction and one bad request; and, when a key is required, a request without it."""
    checks = [
        Check("health", http_event("GET", "/health", request_id="pretraffic-health"), verify_health),
        Check(
            "prediction",
            http_event("POST", "/predict", body={"text": SAMPLE_TEXT}, api_key=api_key, request_id="pretraffic-1"),
            lambda answer: verify_prediction(answer, expected_emotion),
        ),
        Check(
            "invalid_input",
            http_event("POST", "/predict", body={"text": ""}, api_key=api_key, request_id="pretraffic-2"),
            verify_invalid_input,
        ),
    ]
    if api_key is not None:
        checks.append(
            Check(
                "unauthorized",
                http_event("POST", "/predict", body={"text": SAMPLE_TEXT}, request_id="pretraffic-3"),
                verify_unauthorized,
            )
        )
    return checks
