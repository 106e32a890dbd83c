"""The HTTP API's Lambda authorizer: a request goes on to the inference function only with the deployment's API key.

API Gateway calls it before the integration (payload format 2.0, simple responses), so a request without the key is
refused at the gateway with 403 and never invokes, nor bills, the inference function. It accepts the key in the two
forms the function accepts, read by the one parser they share (``apikey``, from the ApiKeyLayer): the ``x-api-key``
header, or ``Authorization: Bearer <key>`` (what huggingface_hub's ``InferenceClient(token=...)`` sends), the first
when both are there. The function keeps its own check as defence in depth. Preflights never reach it: the keyed
routes are POST routes, so API Gateway answers a CORS preflight itself (or 404s an OPTIONS without CORS); an
``OPTIONS`` that did arrive would be refused like any request without the key.

No identity source is declared, so API Gateway cannot cache answers: HTTP APIs refuse a request that lacks *any*
declared identity source, and a client sends only one of the two headers. The key itself is cached here instead, for
``API_KEY_CACHE_SECONDS``, so a warm authorizer answers without calling the key store.
"""

from __future__ import annotations

import logging
import os
from typing import Any, TypedDict

from apikey import KeyStore, KeyUnavailableError, hold_library_loggers, is_match, presented_key

from .keys import store_from_environ

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


def authorize(event: AuthorizerEvent, store: KeyStore) -> AuthorizerResponse:
    """Decide one request: allowed when no key is configured, or with the right key."""
    if not store.is_configured:
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
    return authorize(event, get_store())
