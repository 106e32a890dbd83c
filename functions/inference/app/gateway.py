"""API Gateway specifics Mangum leaves to us: stage prefixes, strict body decoding, the request id read from the
event, and replies built without the app.

Behind a named stage the browser sees ``/dev/openapi.json``; with ``root_path`` set to ``/dev`` FastAPI routes the
request and the schema names ``/dev`` as its server.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from functools import cached_property
from typing import Any

from mangum.handlers import APIGateway, HTTPGateway
from mangum.types import LambdaConfig, LambdaContext, LambdaEvent, LambdaHandler, Scope

from .errors import REQUEST_ID_HEADER, ServiceError, error_body

#: The headers Mangum builds the ASGI ``server`` from, and the values it can build one from: a host name with an
#: optional numeric port (RFC 3986 reg-name), and a numeric port. Mangum splits the Host on ":" and calls int() on
#: the rest, so ``a:b``, ``a:1:2`` or ``x-forwarded-port: abc`` raised before the app ran (issue 36, finding 5).
_SERVER_HEADERS = {
    "host": re.compile(r"[A-Za-z0-9\-._~%!$&'()*+,;=]+(?::[0-9]{1,5})?"),
    "x-forwarded-port": re.compile(r"[0-9]{1,5}"),
}


def without_unusable_server_headers(event: LambdaEvent) -> LambdaEvent:
    """The event without a ``Host`` or ``X-Forwarded-Port`` no server address can be read from: such a header is
    ignored, as if it had not been sent, so the request is answered and logged like any other instead of failing.

    Both header maps are read as Mangum merges them (``multiValueHeaders`` joined with ", ", winning).
    """
    merged: dict[str, str] = {}
    for field in ("headers", "multiValueHeaders"):
        headers = event.get(field)
        if isinstance(headers, dict):
            for name, value in headers.items():
                merged[str(name).lower()] = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    unusable = {name for name, valid in _SERVER_HEADERS.items() if name in merged and not valid.fullmatch(merged[name])}
    if not unusable:
        return event
    cleaned = dict(event)
    for field in ("headers", "multiValueHeaders"):
        headers = event.get(field)
        if isinstance(headers, dict):
            cleaned[field] = {name: value for name, value in headers.items() if str(name).lower() not in unusable}
    return cleaned


def _with_stage_root(scope: Scope, stage: str | None, *, path_has_stage: bool) -> Scope:
    if not stage or stage == "$default":
        return scope
    prefix = f"/{stage}"
    if path_has_stage:
        if scope["path"] == prefix or scope["path"].startswith(prefix + "/"):
            scope["root_path"] = prefix
    else:
        scope["root_path"] = prefix
        scope["path"] = prefix + scope["path"]
    return scope


class StageAwareHTTPGateway(HTTPGateway):
    """HTTP API events (payload 1.0 and 2.0); a named stage is part of the raw path.

    The scope is built once per invocation: Mangum reads it a second time only to pick the response format.
    """

    def __init__(self, event: LambdaEvent, context: LambdaContext, config: LambdaConfig) -> None:
        super().__init__(without_unusable_server_headers(event), context, config)

    @cached_property
    def scope(self) -> Scope:
        context = self.event["requestContext"]
        return _with_stage_root(super().scope, context.get("stage"), path_has_stage=True)


class StageAwareAPIGateway(APIGateway):
    """REST API events: ``path`` lacks the stage, ``requestContext.path`` has it unless a custom domain is used."""

    def __init__(self, event: LambdaEvent, context: LambdaContext, config: LambdaConfig) -> None:
        super().__init__(without_unusable_server_headers(event), context, config)

    @cached_property
    def scope(self) -> Scope:
        context = self.event["requestContext"]
        stage = context.get("stage")
        full_path = str(context.get("path") or "")
        has_prefix = bool(stage) and full_path.startswith(f"/{stage}/")
        return _with_stage_root(super().scope, stage if has_prefix else None, path_has_stage=False)


GATEWAY_HANDLERS: list[type[LambdaHandler]] = [StageAwareHTTPGateway, StageAwareAPIGateway]


def is_http_event(event: Any) -> bool:
    """API Gateway (REST or HTTP API) proxy events; anything else is not ours to hand to Mangum."""
    return (
        isinstance(event, dict)
        and isinstance(event.get("requestContext"), dict)
        and ("version" in event or "resource" in event)
    )


class BodyDecodeError(Exception):
    """Raised when ``isBase64Encoded`` is set but the body is not valid base64."""


def decode_body(event: dict[str, Any]) -> dict[str, Any]:
    """Return the event with its body as raw bytes, decoding base64 strictly (Mangum would crash on bad input)."""
    body = event.get("body")
    if body is None or isinstance(body, bytes):
        return event
    if not isinstance(body, str):
        raise BodyDecodeError
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BodyDecodeError from None
    else:
        # surrogatepass keeps invalid text invalid: the JSON parser then answers 400 rather than crashing here.
        raw = body.encode("utf-8", "surrogatepass")
    return {**event, "body": raw, "isBase64Encoded": False}


def request_id_of_event(event: Any) -> str | None:
    """API Gateway's request id, also used as the logs' correlation id: the Lambda entry reads it once."""
    if isinstance(event, dict) and isinstance(event.get("requestContext"), dict):
        request_id = event["requestContext"].get("requestId")
        return str(request_id) if request_id else None
    return None


def method_and_path(event: dict[str, Any]) -> tuple[str | None, str | None]:
    """The method and path as the event states them (payload 2.0 or 1.0), for a reply built without the app."""
    http = event.get("requestContext", {}).get("http")
    if isinstance(http, dict):
        return _text_or_none(http.get("method")), _text_or_none(http.get("path"))
    return _text_or_none(event.get("httpMethod")), _text_or_none(event.get("path"))


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def direct_response(event: dict[str, Any], error: ServiceError, request_id: str) -> dict[str, Any]:
    """A proxy response in the API's error shape, for requests refused before they reach the app."""
    headers = {"content-type": "application/json", REQUEST_ID_HEADER: request_id}
    response: dict[str, Any] = {
        "statusCode": error.status_code,
        "headers": headers,
        "body": json.dumps(error_body(error, request_id)),
        "isBase64Encoded": False,
    }
    if event.get("version") != "2.0":
        response["multiValueHeaders"] = {}
    return response
