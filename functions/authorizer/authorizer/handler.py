"""The HTTP API's Lambda authorizer: a request goes on to the inference function only with the deployment's API key.

API Gateway calls it before the integration (payload format 2.0, simple responses), so a request without the key is
refused at the gateway with 403 and never invokes, nor bills, the inference function. It accepts the key in the two
forms the function accepts, read by the one parser they share (``apikey``, from the ApiKeyLayer): the ``x-api-key``
header, or ``Authorization: Bearer <key>`` (what huggingface_hub's ``InferenceClient(token=...)`` sends), the first
when both are there. The function keeps its own check as defence in depth. A CORS preflight (which never carries the
key) goes through only when CORS_ALLOW_ORIGINS allows its origin: without CORS, an anonymous ``OPTIONS`` is refused
here rather than billed to the function.

No identity source is declared, so API Gateway cannot cache answers: HTTP APIs refuse a request that lacks *any*
declared identity source, and a client sends only one of the two headers. The key itself is cached here instead, for
``API_KEY_CACHE_SECONDS``, so a warm authorizer answers without calling the key store.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, TypedDict

from apikey import KeyStore, KeyUnavailableError, hold_library_loggers, is_match, presented_key

from .keys import store_from_environ

#: Where template.yaml puts CorsAllowOrigins (Globals), for the function and this authorizer alike.
CORS_ORIGINS_ENV = "CORS_ALLOW_ORIGINS"

logger = logging.getLogger(__name__)
hold_library_loggers()


class HttpContext(TypedDict, total=False):
    method: str
    path: str


class RequestContext(TypedDict, total=False):
    http: HttpContext
    requestId: str


class AuthorizerEvent(TypedDict, total=False):
    """What API Gateway sends a REQUEST authorizer with payload format 2.0 (the fields read here)."""

    version: str
    type: str
    routeKey: str
    headers: dict[str, str]
    requestContext: RequestContext


class AuthorizerResponse(TypedDict):
    """A simple response: API Gateway answers 403 itself when ``isAuthorized`` is false."""

    isAuthorized: bool


_store: KeyStore | None = None


def is_cors_preflight(event: AuthorizerEvent) -> bool:
    """A browser's preflight: ``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``; never credentials."""
    headers = {name.lower() for name in event.get("headers", {})}
    method = event.get("requestContext", {}).get("http", {}).get("method", "")
    return method == "OPTIONS" and {"origin", "access-control-request-method"} <= headers


def allowed_origins(environ: Mapping[str, str]) -> frozenset[str]:
    """The origins CORS_ALLOW_ORIGINS names: the variable template.yaml sets from CorsAllowOrigins, as the
    function's own CORS settings and the HTTP API's CorsConfiguration are."""
    return frozenset(origin.strip() for origin in environ.get(CORS_ORIGINS_ENV, "").split(",") if origin.strip())


def is_allowed_preflight(event: AuthorizerEvent, origins: frozenset[str]) -> bool:
    """A preflight from an origin CORS allows; with CORS off there is none, and an anonymous OPTIONS is refused."""
    if not is_cors_preflight(event):
        return False
    origin = next((value for name, value in event.get("headers", {}).items() if name.lower() == "origin"), "")
    return origin in origins or "*" in origins


def authorize(
    event: AuthorizerEvent, store: KeyStore, *, cors_origins: frozenset[str] = frozenset()
) -> AuthorizerResponse:
    """Decide one request: allowed when no key is configured, for a preflight CORS allows, or with the right key."""
    if not store.is_configured or is_allowed_preflight(event, cors_origins):
        return {"isAuthorized": True}
    route = event.get("routeKey", "")
    presented = presented_key(event.get("headers", {}))
    if presented is None:
        logger.info("api_key_refused", extra={"reason": "missing", "route": route})
        return {"isAuthorized": False}
    try:
        expected = store.expected_key()
    except KeyUnavailableError as exc:
        # Fail closed: a key store that cannot be read lets nobody in (the function answers 503 in that case).
        logger.error("api_key_unavailable", extra={"reason": str(exc), "route": route})
        return {"isAuthorized": False}
    if not is_match(presented, expected):
        logger.info("api_key_refused", extra={"reason": "wrong", "route": route})
        return {"isAuthorized": False}
    return {"isAuthorized": True}


def get_store() -> KeyStore:
    """The key store of this execution environment, built from the variables on first use."""
    global _store
    if _store is None:
        _store = store_from_environ(os.environ)
    return _store


def reset_store() -> None:
    """Forget the key store and its cached key (tests; a new execution environment starts without one)."""
    global _store
    _store = None


def handler(event: AuthorizerEvent, context: Any) -> AuthorizerResponse:
    """Lambda entry (``authorizer.handler.handler``)."""
    return authorize(event, get_store(), cors_origins=allowed_origins(os.environ))
