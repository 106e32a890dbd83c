"""AWS Lambda entry: answers warm-up pings itself and hands API Gateway events to the app through Mangum.

Everything heavy happens at import, during the Lambda init phase: Mangum runs lifespan hooks on every
invocation, so nothing that must happen once may live there.
"""

from __future__ import annotations

import uuid
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from .api import build_app
from .errors import DeadlineExceededError, InvalidBodyError, ServiceError
from .gateway import GATEWAY_HANDLERS, BodyDecodeError, decode_body, direct_response, is_http_event, request_id_of_event
from .observability import (
    DEADLINE_REFUSALS,
    WARMUP_PINGS,
    enable_metrics,
    logger,
    metrics,
    record_metric,
    tracer,
)

enable_metrics()
app = build_app()
_mangum = Mangum(app, lifespan="off", custom_handlers=GATEWAY_HANDLERS)
_is_cold_start = True


def is_warmup_event(event: Any) -> bool:
    """The scheduler's ``{"warmup": true}`` input, or a classic EventBridge scheduled event."""
    if not isinstance(event, dict):
        return False
    return event.get("warmup") is True or (
        event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"
    )


def _answer_warmup(cold_start: bool) -> dict[str, Any]:
    state = app.state.model_state
    record_metric(WARMUP_PINGS, 1)
    logger.info("warmup", extra={"cold_start": cold_start, "model_loaded": state.classifier is not None})
    return {
        "warmup": True,
        "cold_start": cold_start,
        "model_loaded": state.classifier is not None,
        "model": state.classifier.info.name if state.classifier is not None else None,
    }


def _remaining_ms(context: Any) -> int | None:
    """Milliseconds Lambda leaves this invocation; None when the context cannot tell."""
    getter = getattr(context, "get_remaining_time_in_millis", None)
    try:
        return int(getter()) if callable(getter) else None
    except (TypeError, ValueError):
        return None


def _refuse(event: dict[str, Any], error: ServiceError, request_id: str) -> dict[str, Any]:
    body = {"error": {"code": error.code, "message": error.message, "request_id": request_id}}
    return direct_response(event, error.status_code, body, request_id)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One invocation: a warm-up ping, an API Gateway request, or an event we refuse."""
    global _is_cold_start
    cold_start, _is_cold_start = _is_cold_start, False
    if is_warmup_event(event):
        return _answer_warmup(cold_start)
    event_request_id = request_id_of_event(event)
    logger.set_correlation_id(event_request_id)  # what correlation_id_path finds, without a JMESPath search
    request_id = event_request_id or str(uuid.uuid4())
    if not is_http_event(event):
        logger.warning("unsupported_event", extra={"request_id": request_id})
        return {
            "error": {
                "code": "unsupported_event",
                "message": "Only API Gateway and warm-up events are handled.",
                "request_id": request_id,
            }
        }
    remaining_ms = _remaining_ms(context)
    if remaining_ms is not None and remaining_ms < app.state.settings.min_remaining_ms:
        # Answer now, in the error shape, rather than start work Lambda would kill half-way (a bare 502/timeout).
        record_metric(DEADLINE_REFUSALS, 1)
        logger.warning("deadline_too_close", extra={"request_id": request_id, "remaining_ms": remaining_ms})
        return _refuse(event, DeadlineExceededError(), request_id)
    try:
        event = decode_body(event)
    except BodyDecodeError:
        return _refuse(event, InvalidBodyError(), request_id)
    try:
        return _mangum(event, context)
    except Exception:
        # The app answers its own failures; this catches an event Mangum cannot read (e.g. "headers": null),
        # so the caller still gets the error shape and the log the stack trace, not a bare Lambda error.
        logger.exception("unhandled_event_error", extra={"request_id": request_id})
        return _refuse(event, ServiceError(), request_id)
