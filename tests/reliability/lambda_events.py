"""API Gateway HTTP API events and Lambda proxy responses for the reliability tests.

Everything in this suite goes through ``app.handler.handler`` (the function the image runs), not FastAPI's
TestClient: API Gateway HTTP API (payload 2.0) events in, Lambda proxy responses out.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.schemas import MAX_ERROR_DETAILS

HOST = "abc123.execute-api.us-east-1.amazonaws.com"
BASE_URL = f"https://{HOST}"


def http_event(
    method: str,
    path: str,
    *,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    base64_body: bool = False,
    request_id: str | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, shaped like events/predict.json."""
    request_id = request_id or uuid.uuid4().hex[:16]
    all_headers = {"host": HOST, "user-agent": "reliability-tests", "x-forwarded-proto": "https"}
    all_headers.update({name.lower(): value for name, value in (headers or {}).items()})
    if isinstance(body, bytes):
        body, base64_body = base64.b64encode(body).decode("ascii"), True
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": HOST,
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "reliability-tests",
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "26/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1795780800000,
        },
        "isBase64Encoded": base64_body,
    }
    if body is not None:
        event["body"] = body
    return event


def event_from_url(method: str, url: str, *, body: bytes | None, headers: dict[str, str]) -> dict[str, Any]:
    """Turn an HTTP request (as a client would send it) into the event API Gateway would deliver."""
    parts = urlsplit(url)
    return http_event(method, parts.path or "/", body=body or None, headers=headers, query=parts.query)


def body_of(response: dict[str, Any]) -> Any:
    raw = response.get("body") or ""
    if response.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode("utf-8")
    return json.loads(raw)


def assert_error_shape(response: dict[str, Any], status: int | None = None, code: str | None = None) -> dict[str, Any]:
    """The one error shape: ``{"error": {"code", "message", "request_id"[, "details", "detail_count"]}}``, id also in
    the header; at most a few details, and a count of them all."""
    if status is not None:
        assert response["statusCode"] == status, response.get("body")
    body = body_of(response)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) <= {"code", "message", "request_id", "details", "detail_count"}, error
    assert ("details" in error) == ("detail_count" in error), error
    assert len(error.get("details", [])) <= min(error.get("detail_count", 0), MAX_ERROR_DETAILS), error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert error["request_id"] == response["headers"]["x-request-id"]
    for detail in error.get("details", []):
        assert set(detail) == {"loc", "type"}, detail
    if code is not None:
        assert error["code"] == code, error
    return error


def backend_for(model_dir: Path) -> str:
    """The default (ONNX) backend when the test model has an ONNX export, else torch."""
    return "onnx" if any(model_dir.glob("*.onnx")) else "torch"
