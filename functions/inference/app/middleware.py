"""The request boundary: request ids, body limits, CORS refusals and the last-resort 500, before any route runs.

Pure ASGI rather than BaseHTTPMiddleware, so the buffered body is replayed to the app unchanged.
"""

from __future__ import annotations

import json
import re
import time
import uuid

from aws_lambda_powertools import Logger
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import (
    REQUEST_ID_HEADER,
    CorsRefusedError,
    PayloadTooLargeError,
    ServiceError,
    UnsupportedMediaTypeError,
    error_response,
)
from .request_context import RequestContext, attach, attached, request_context

#: Matched whole (``fullmatch``): with ``^...$`` and ``match``, ``$`` also matches before a final newline, so an id
#: ending in one would be echoed into a response header (issue 36, finding 6).
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_BODY_METHODS = {"POST", "PUT", "PATCH"}


def _request(scope: Scope, headers: dict[str, str]) -> RequestContext:
    """The context the Lambda entry attached; without one (a plain ASGI server), a safe client-sent id or a new one.

    This is the only place outside the Lambda entry that decides a request id.
    """
    context = attached(scope)
    if context is not None:
        return context
    incoming = headers.get(REQUEST_ID_HEADER, "")
    return attach(scope, RequestContext(incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else str(uuid.uuid4())))


def _media_type_error(method: str, headers: dict[str, str]) -> ServiceError | None:
    """A refusal for a compressed body or an explicit non-JSON type; a missing type is decided on the body."""
    if method not in _BODY_METHODS:
        return None
    if headers.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
        return UnsupportedMediaTypeError()
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        return UnsupportedMediaTypeError()
    return None


def _typed_as_json(scope: Scope, body: bytes) -> ServiceError | None:
    """Declare a body sent without Content-Type as JSON when it is JSON; refuse it (415) when it is not.

    API Gateway's test events, `sam local generate-event` and `requests.post(url, data=...)` send JSON with no
    Content-Type. FastAPI reads only a declared JSON body, so without the header it would answer a misleading 422
    "field required"; with it, the request takes the same path as any JSON request.
    """
    if body:
        try:
            json.loads(body)
        except (ValueError, RecursionError):
            return UnsupportedMediaTypeError()
    scope["headers"] = [*scope["headers"], (b"content-type", b"application/json")]
    return None


class RequestMiddleware:
    """Assigns the request id, enforces MAX_BODY_BYTES and the JSON media type, logs one line per request."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, logger: Logger) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        request = _request(scope, headers)
        request_id = request.request_id
        status = {"code": 500, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                headers = list(message.get("headers", []))
                if not any(key.lower() == REQUEST_ID_HEADER.encode() for key, _ in headers):
                    headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            refusal = _media_type_error(scope["method"], headers)
            body = await self._read_body(receive) if refusal is None else b""
            if body is None:
                refusal = PayloadTooLargeError()
            elif refusal is None and scope["method"] in _BODY_METHODS and "content-type" not in headers:
                refusal = _typed_as_json(scope, body)
            if refusal is not None:
                response = error_response(refusal, request)
                status["code"] = refusal.status_code
                await response(scope, receive, send)
                return
            await self.app(scope, _replay(body or b"", receive), send_with_id)
        except Exception:
            self.logger.exception("unhandled_error", extra={"request_id": request_id, "path": scope.get("path")})
            if status["started"]:
                return
            status["code"] = 500
            response = error_response(ServiceError(), request)
            await response(scope, receive, send)
        finally:
            self.logger.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope.get("path"),
                    "status": status["code"],
                    "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                    **request.log_fields,
                },
            )

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it passes the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS handling, except that a refused preflight answers in the API's error shape, not plain text.

    The refusal keeps Starlette's status and CORS headers (``Vary: Origin`` included); only the body changes.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope) if scope["type"] == "http" and scope["method"] == "OPTIONS" else None
        if headers is None or "origin" not in headers or "access-control-request-method" not in headers:
            await super().__call__(scope, receive, send)
            return
        response = self.preflight_response(request_headers=headers)
        if response.status_code >= 400:
            cors_headers = {
                name: value for name, value in response.headers.items() if name.startswith(("access-control-", "vary"))
            }
            response = error_response(CorsRefusedError(), request_context(scope), headers=cors_headers)
        await response(scope, receive, send)


def _replay(body: bytes, receive_more: Receive) -> Receive:
    """Hand the buffered body to the app once, then wait on the real channel (for a disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await receive_more()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
