"""The kinds of event the Lambda entry answers, one class each, in the shape Mangum gives its own handlers.

Each source says whether an event is its own (``infer``) and answers it (``handle``); the entry walks
``event_sources`` in order and refuses what none claims. A new kind of event (SQS, a Step Functions batch)
joins by adding a class here and an instance to that list, without touching the others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import FastAPI
from mangum import Mangum
from mangum.protocols import HTTPCycle

from .bulk import classify_rows
from .errors import DeadlineExceededError, InvalidBodyError, ModelUnavailableError, ServiceError
from .gateway import (
    GATEWAY_HANDLERS,
    BodyDecodeError,
    decode_body,
    direct_response,
    is_http_event,
    method_and_path,
)
from .observability import DEADLINE_REFUSALS, WARMUP_PINGS
from .request_context import RequestContext, attach
from .services import Services, services_of


@dataclass(frozen=True)
class Invocation:
    """What the entry resolved once for this invocation."""

    request_id: str
    cold_start: bool


class EventSource(Protocol):
    """One kind of event: recognised by ``infer``, answered by ``handle``."""

    def infer(self, event: Any) -> bool: ...

    def handle(self, event: dict[str, Any], context: Any, invocation: Invocation) -> Any: ...


class WarmupSource:
    """The scheduler's ``{"warmup": true}`` input or a classic EventBridge scheduled event: answered without the app."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def infer(self, event: Any) -> bool:
        return isinstance(event, dict) and (
            event.get("warmup") is True
            or (event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event")
        )

    def handle(self, event: dict[str, Any], context: Any, invocation: Invocation) -> dict[str, Any]:
        state, observability = self._services.model_state, self._services.observability
        observability.record_metric(WARMUP_PINGS, 1)
        loaded = state.classifier is not None
        observability.logger.info("warmup", extra={"cold_start": invocation.cold_start, "model_loaded": loaded})
        return {
            "warmup": True,
            "cold_start": invocation.cold_start,
            "model_loaded": loaded,
            "model": state.classifier.info.name if state.classifier is not None else None,
        }


class ApiGatewaySource:
    """REST and HTTP API proxy events, through Mangum to the app; refused early when Lambda's deadline is too close
    or the body cannot be decoded, in the app's error shape."""

    def __init__(self, app: FastAPI) -> None:
        self._services = services_of(app)
        self.app = app
        self.mangum = Mangum(app, lifespan="off", custom_handlers=GATEWAY_HANDLERS)

    def infer(self, event: Any) -> bool:
        return is_http_event(event)

    def handle(self, event: dict[str, Any], context: Any, invocation: Invocation) -> dict[str, Any]:
        logger, request_id = self._services.observability.logger, invocation.request_id
        started = time.perf_counter()
        remaining_ms = _remaining_ms(context)
        if remaining_ms is not None and remaining_ms < self._services.settings.min_remaining_ms:
            # Answer now, in the error shape, rather than start work Lambda would kill half-way (a bare 502).
            self._services.observability.record_metric(DEADLINE_REFUSALS, 1)
            logger.warning("deadline_too_close", extra={"request_id": request_id, "remaining_ms": remaining_ms})
            return self._refuse(event, DeadlineExceededError(), request_id, started)
        try:
            event = decode_body(event)
        except BodyDecodeError:
            return self._refuse(event, InvalidBodyError(), request_id, started)
        try:
            return self._through_app(event, context, RequestContext(request_id))
        except Exception:
            # The app answers its own failures; this catches an event Mangum cannot read (e.g. "headers": null),
            # so the caller still gets the error shape and the log the stack trace, not a bare Lambda error.
            logger.exception("unhandled_event_error", extra={"request_id": request_id})
            return self._refuse(event, ServiceError(), request_id, started)

    def _refuse(self, event: dict[str, Any], error: ServiceError, request_id: str, started: float) -> dict[str, Any]:
        """A reply built without the app, with the request's one log line all the same: the 5xx alarm counts
        those lines (template.yaml: ServerErrorsMetricFilter), so a failure before the app must write one too."""
        method, path = method_and_path(event)
        self._services.observability.logger.info(
            "request",
            extra={
                "request_id": request_id,
                "method": method,
                "path": path,
                "status": error.status_code,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                "error_code": error.code,
            },
        )
        return direct_response(event, error, request_id)

    def _through_app(self, event: dict[str, Any], context: Any, request: RequestContext) -> dict[str, Any]:
        """Mangum's HTTP cycle (lifespan off), with the entry's request context handed to the app in the scope."""
        gateway = self.mangum.infer(event, context)
        scope = gateway.scope
        attach(scope, request)
        response: dict[str, Any] = gateway(HTTPCycle(scope, gateway.body)(self.app))
        return response


class DistributedMapSource:
    """A batch of rows from a Step Functions Distributed Map (``{"Items": [...], "BatchInput": {...}}``).

    Each item is ``{"index": n, "row": {...}}`` (the state machine's ItemSelector adds the row's index in the
    file) or a bare row; ``BatchInput.text_field`` names the column to read (default ``text``). Answers one
    result per item, in order, ``{"index", "emotion", "confidence", <six probabilities>, "reliable",
    "warnings", "error"}``; a row that cannot be classified gets an ``error`` code (bulk.ROW_ERRORS) and the batch
    goes on. The same items give the same bytes, so a retried batch rewrites the same result.
    """

    def __init__(self, services: Services) -> None:
        self._services = services

    def infer(self, event: Any) -> bool:
        return isinstance(event, dict) and isinstance(event.get("Items"), list)

    def handle(self, event: dict[str, Any], context: Any, invocation: Invocation) -> dict[str, Any]:
        classifier = self._services.model_state.wait()
        if classifier is None:
            # Raised, not answered: Step Functions retries the batch on a Lambda error, never on a result.
            raise ModelUnavailableError
        batch_input = event.get("BatchInput")
        text_field = str((batch_input if isinstance(batch_input, dict) else {}).get("text_field") or "text")
        items: list[Any] = event["Items"]
        wrapped = [isinstance(item, dict) and "row" in item and "index" in item for item in items]
        rows = [item["row"] if is_wrapped else item for item, is_wrapped in zip(items, wrapped, strict=True)]
        results = classify_rows(
            classifier,
            rows,
            text_field=text_field,
            max_chars=self._services.settings.max_text_chars,
        )
        errors = sum(result["error"] is not None for result in results)
        self._services.observability.logger.info(
            "batch", extra={"request_id": invocation.request_id, "items": len(items), "row_errors": errors}
        )
        indices = [
            item["index"] if is_wrapped else position
            for position, (item, is_wrapped) in enumerate(zip(items, wrapped, strict=True))
        ]
        return {"results": [{"index": index, **result} for index, result in zip(indices, results, strict=True)]}


def event_sources(app: FastAPI) -> list[EventSource]:
    """Every kind of event the function answers, in the order the entry asks them."""
    services = services_of(app)
    return [WarmupSource(services), DistributedMapSource(services), ApiGatewaySource(app)]


def _remaining_ms(context: Any) -> int | None:
    """Milliseconds Lambda leaves this invocation; None when the context cannot tell."""
    getter = getattr(context, "get_remaining_time_in_millis", None)
    try:
        return int(getter()) if callable(getter) else None
    except (TypeError, ValueError):
        return None
