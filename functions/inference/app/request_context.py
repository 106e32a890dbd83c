"""One request's id and log fields, resolved once at the boundary and handed on as one typed object.

The Lambda entry resolves the id for API Gateway events (API Gateway's, else a new one) and the event source
attaches it to the ASGI scope it builds; a plain ASGI server (``make serve``) has no entry, so the request
middleware resolves it there. Everything after reads the attached object and never resolves it again.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

#: The scope key the context travels under: one typed object instead of loose entries in ``scope["state"]``.
_SCOPE_KEY = "emotion_api.request"


@dataclass(slots=True)
class RequestContext:
    """The request id (body, ``x-request-id`` header, log line) and the fields of the request's one log line."""

    request_id: str
    log_fields: dict[str, Any] = field(default_factory=dict)

    def add_log_fields(self, fields: Mapping[str, Any]) -> None:
        """Add fields to the request's log line, which the request middleware writes once the answer is sent."""
        self.log_fields.update(fields)


def attach(scope: MutableMapping[str, Any], context: RequestContext) -> RequestContext:
    """Hand the context on with the request's scope."""
    scope[_SCOPE_KEY] = context
    return context


def attached(scope: Mapping[str, Any]) -> RequestContext | None:
    """The context the Lambda event source attached, if any: the request middleware resolves one only without it."""
    context: RequestContext | None = scope.get(_SCOPE_KEY)
    return context


def request_context(scope: Mapping[str, Any]) -> RequestContext:
    """The context of a request that has passed the request middleware (every route and error handler)."""
    context: RequestContext = scope[_SCOPE_KEY]
    return context
