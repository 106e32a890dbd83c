"""One error family and the handlers that render every failure as the same JSON body.

Messages are fixed strings chosen here: exception text, input values and stack traces never reach a client.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .request_context import RequestContext, request_context
from .schemas import MAX_ERROR_DETAILS, TOO_MANY_ITEMS, ErrorBody, ErrorDetail, ErrorInfo
from .services import services_of

REQUEST_ID_HEADER = "x-request-id"


class ServiceError(Exception):
    """Base of the errors the API answers on purpose; subclasses fix status, code and message."""

    status_code = 500
    code = "internal_error"
    message = "Something went wrong on our side. Quote the request id if you report it."

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.headers = headers


class InvalidInputError(ServiceError):
    """Raised when a request is well-formed JSON but breaks a documented limit."""

    status_code = 422
    code = "invalid_input"
    message = "The request body is not valid."


class TextTooLongError(InvalidInputError):
    """Raised when a text has more characters than MAX_TEXT_CHARS."""

    code = "text_too_long"


class BatchTooLargeError(InvalidInputError):
    """Raised when a batch has more texts than MAX_BATCH."""

    code = "batch_too_large"


class RequestTooLongError(InvalidInputError):
    """Raised when the model would read more tokens of one request's texts together than MAX_REQUEST_TOKENS."""

    code = "request_too_long"


def batch_too_large(max_batch: int) -> BatchTooLargeError:
    """The refusal of a batch over MAX_BATCH, whether the route or the schema (over MAX_ITEMS) counted it."""
    return BatchTooLargeError(f"A batch holds at most {max_batch} texts.")


class InvalidBodyError(ServiceError):
    """Raised when the body cannot be read as JSON: bad JSON, bad base64, bytes that are not UTF-8."""

    status_code = 400
    code = "invalid_body"
    message = "The request body must be UTF-8 encoded JSON."


class PayloadTooLargeError(ServiceError):
    """Raised when the body is larger than MAX_BODY_BYTES."""

    status_code = 413
    code = "payload_too_large"
    message = "The request body is too large."


class UnsupportedMediaTypeError(ServiceError):
    """Raised when the body is not JSON or is compressed."""

    status_code = 415
    code = "unsupported_media_type"
    message = "Send the body as uncompressed JSON with 'Content-Type: application/json'."


class UnauthorizedError(ServiceError):
    """Raised when the API key is missing or wrong; both cases answer alike so neither can be told apart."""

    status_code = 401
    code = "unauthorized"
    message = "A valid API key is required in the 'x-api-key' header."


class ModelUnavailableError(ServiceError):
    """Raised when the model failed to load in this execution environment."""

    status_code = 503
    code = "model_unavailable"
    message = "The model is not loaded, so the service cannot classify right now."


class AuthUnavailableError(ServiceError):
    """Raised when the API key could not be fetched: requests are refused rather than let through."""

    status_code = 503
    code = "auth_unavailable"
    message = "The API key store could not be read, so requests cannot be authorised right now."


class CorsRefusedError(ServiceError):
    """Raised when a CORS preflight asks for an origin, method or header the deployment does not allow."""

    status_code = 400
    code = "cors_refused"
    message = "This origin, method or header is not allowed by the API's CORS settings (CORS_ALLOW_ORIGINS)."


class DeadlineExceededError(ServiceError):
    """Raised when the invocation has too little time left to do the work before Lambda would kill it."""

    status_code = 504
    code = "deadline_exceeded"
    message = "Too little time was left to answer this request. Retry it."


class UnsupportedEventError(ServiceError):
    """Raised when the function is invoked with an event no event source of the entry claims."""

    status_code = 400
    code = "unsupported_event"
    message = "Only API Gateway and warm-up events are handled."


class NotFoundError(ServiceError):
    """Raised when no route has the requested path."""

    status_code = 404
    code = "not_found"
    message = "There is no such path. See /openapi.json for the API."


class MethodNotAllowedError(ServiceError):
    """Raised when the path exists but not for this method."""

    status_code = 405
    code = "method_not_allowed"
    message = "This path does not accept that method. See /openapi.json for the API."


class HttpError(ServiceError):
    """Any other HTTP error status the framework raises, kept with its status."""

    code = "http_error"
    message = "The request could not be served."

    def __init__(self, status_code: int, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(headers=headers)
        self.status_code = status_code


#: The framework's own HTTP errors, as the service errors that describe them. A bare 400 from FastAPI means the
#: body could not be decoded (bytes that are not UTF-8), hence invalid_body.
_HTTP_ERRORS: dict[int, type[ServiceError]] = {
    400: InvalidBodyError,
    401: UnauthorizedError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
}


def error_body(
    error: ServiceError, request_id: str, *, details: list[ErrorDetail] | None = None, detail_count: int | None = None
) -> dict[str, Any]:
    """The one error body, as JSON-ready data: ``{"error": {"code", "message", "request_id"[, "details", ...]}}``."""
    info = ErrorInfo(
        code=error.code, message=error.message, request_id=request_id, details=details, detail_count=detail_count
    )
    return ErrorBody(error=info).model_dump(exclude_none=True)


def error_response(
    error: ServiceError,
    request: RequestContext,
    *,
    details: list[ErrorDetail] | None = None,
    detail_count: int | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The one error body as an HTTP response, the request id in the body and the header.

    The code (and the details) also go on the request's one log line, so every error is findable by code.
    """
    log_fields: dict[str, Any] = {"error_code": error.code}
    if details:
        log_fields["details"] = [detail.model_dump() for detail in details]
        log_fields["detail_count"] = detail_count
    request.add_log_fields(log_fields)
    return JSONResponse(
        error_body(error, request.request_id, details=details, detail_count=detail_count),
        status_code=error.status_code,
        headers={**(headers or error.headers or {}), REQUEST_ID_HEADER: request.request_id},
    )


#: A location part a client can act on: a field name or an index. Pydantic also puts the names of union members and
#: validators there (``function-after[_check_text(), str]``), which say nothing to a client and expose internals.
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _validation_details(errors: Sequence[Any]) -> list[ErrorDetail]:
    """Keep only where (field names and indexes) and what kind, for the first MAX_ERROR_DETAILS problems:
    pydantic's messages and inputs could echo the client's text, and a body listing every problem of a large
    request would be larger than Lambda may answer."""
    return [
        ErrorDetail(
            loc=[part for part in err.get("loc", ()) if isinstance(part, int) or _FIELD_NAME.fullmatch(str(part))],
            type=str(err.get("type", "value_error")),
        )
        for err in errors[:MAX_ERROR_DETAILS]
    ]


async def _on_service_error(request: Request, exc: ServiceError) -> JSONResponse:
    return error_response(exc, request_context(request.scope))


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    details = _validation_details(errors)
    error: ServiceError
    if any(detail.type == "json_invalid" for detail in details):
        error = InvalidBodyError()
    elif any(detail.type == TOO_MANY_ITEMS for detail in details):
        error = batch_too_large(services_of(request.app).settings.max_batch)
    else:
        error = InvalidInputError()
    return error_response(error, request_context(request.scope), details=details, detail_count=len(errors))


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    kind = _HTTP_ERRORS.get(exc.status_code)
    headers = dict(exc.headers) if exc.headers else None
    error = kind(headers=headers) if kind else HttpError(exc.status_code, headers=headers)
    return error_response(error, request_context(request.scope))


def install_error_handlers(app: FastAPI) -> None:
    """Render expected failures as the one error body; the request middleware catches the unexpected ones."""
    app.add_exception_handler(ServiceError, _on_service_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
