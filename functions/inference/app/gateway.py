"""API Gateway specifics Mangum leaves to us: stage prefixes, strict body decoding, the request id read from the
event, and replies built without the app.

Behind a named stage the browser sees ``/dev/openapi.json``; with ``root_path`` set to ``/dev`` FastAPI routes the
request and the schema names ``/dev`` as its server.
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import cached_property
from typing import Any

from mangum.handlers import APIGateway, HTTPGateway
from mangum.types import LambdaHandler, Scope

from .errors import REQUEST_ID_HEADER, ServiceError, error_body


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

    @cached_property
    def scope(self) -> Scope:
        context = self.event["requestContext"]
        return _with_stage_root(super().scope, context.get("stage"), path_has_stage=True)


class StageAwareAPIGateway(APIGateway):
    """REST API events: ``path`` lacks the stage, ``requestContext.path`` has it unless a custom domain is used."""

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
