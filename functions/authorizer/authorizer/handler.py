"""The HTTP API's Lambda authorizer: a request goes on to the inference function only with the deployment's API key.

API Gateway calls it before the integration (payload format 2.0, simple responses), so a request without the key is
refused at the gateway with 403 and never invokes, nor bills, the inference function. It accepts the key in the two
forms the function accepts (``functions/inference/app/deps.py``): the ``x-api-key`` header, or
``Authorization: Bearer <key>`` (what huggingface_hub's ``InferenceClient(token=...)`` sends), the first when both are
there. The function keeps its own check as defence in depth.

No identity source is declared, so API Gateway cannot cache answers: HTTP APIs refuse a request that lacks *any*
declared identity source, and a client sends only one of the two headers. The key itself is cached here instead, for
``API_KEY_CACHE_SECONDS``, so a warm authorizer answers without calling the key store.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Mapping
from typing import Any, TypedDict

from .keys import KeyStore, KeyUnavailableError

logger = logging.getLogger(__name__)


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


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request presents: ``x-api-key``, else the token of ``Authorization: Bearer``; None without either.

    Mirrors FastAPI's ``APIKeyHeader`` and ``HTTPBearer`` as the function uses them: an empty header counts as absent
    and the scheme is matched without regard to case.

    Example
    -------
    >>> presented_key({"authorization": "Bearer abc"})
    'abc'
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    api_key = lowered.get("x-api-key")
    if api_key:
        return api_key
    scheme, _, token = lowered.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return token
    return None


def is_cors_preflight(event: AuthorizerEvent) -> bool:
    """A browser's preflight: it never carries credentials, and the function answers it without the model."""
    headers = {name.lower() for name in event.get("headers", {})}
    method = event.get("requestContext", {}).get("http", {}).get("method", "")
    return method == "OPTIONS" and {"origin", "access-control-request-method"} <= headers


def authorize(event: AuthorizerEvent, store: KeyStore) -> AuthorizerResponse:
    """Decide one request: allowed when no key is configured, for a CORS preflight, or with the right key."""
    if not store.is_configured or is_cors_preflight(event):
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
    if not hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), expected):
        logger.info("api_key_refused", extra={"reason": "wrong", "route": route})
        return {"isAuthorized": False}
    return {"isAuthorized": True}


def get_store() -> KeyStore:
    """The key store of this execution environment, built from the variables on first use."""
    global _store
    if _store is None:
        _store = KeyStore.from_environ(os.environ)
    return _store


def reset_store() -> None:
    """Forget the key store and its cached key (tests; a new execution environment starts without one)."""
    global _store
    _store = None


def handler(event: AuthorizerEvent, context: Any) -> AuthorizerResponse:
    """Lambda entry (``authorizer.handler.handler``)."""
    return authorize(event, get_store())
