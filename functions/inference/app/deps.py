"""FastAPI dependencies as Annotated aliases, so route signatures stay short.

They are ``async``: FastAPI runs every plain ``def`` dependency in a worker thread, and those hops cost a
request more than the int8 model call itself. The API key check may read Secrets Manager/SSM when its cache
expires (every API_KEY_CACHE_SECONDS), blocking the loop for that one fetch.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from apikey import API_KEY_HEADER, presented_key

from .classifier import Classifier
from .errors import AuthUnavailableError, ModelUnavailableError, UnauthorizedError
from .security import KeyUnavailableError
from .services import Services, services_of

# The two security schemes only declare the key's headers in the OpenAPI schema; the key itself is read by the
# parser the authorizer and the pre-traffic hook share (``apikey.presented_key``), so all three agree on it.
_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="Required when the deployment sets a key."
)
#: The same key as ``Authorization: Bearer``: what huggingface_hub's InferenceClient(token=...) sends.
_bearer = HTTPBearer(auto_error=False, description="The API key as a bearer token, instead of x-api-key.")


async def get_services(request: Request) -> Services:
    return services_of(request.app)


async def get_classifier(request: Request) -> Classifier:
    # Reads the state itself rather than depending on get_services: FastAPI resolves every dependency
    # afresh on each request, and each level costs the hot path tens of microseconds.
    state = services_of(request.app).model_state
    classifier = state.classifier
    if classifier is None and state.is_loading:
        # A request that arrives before the model is whole waits for it (a failed load answers 503).
        classifier = await state.ready()
    if classifier is None:
        raise ModelUnavailableError
    return classifier


async def require_api_key(
    request: Request,
    _declared_key: Annotated[str | None, Depends(_api_key_header)],
    _declared_bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    guard = services_of(request.app).api_key_guard
    try:
        is_valid = guard.is_valid(presented_key(request.headers))
    except KeyUnavailableError:
        raise AuthUnavailableError from None
    if not is_valid:
        raise UnauthorizedError


ServicesDep = Annotated[Services, Depends(get_services)]
ClassifierDep = Annotated[Classifier, Depends(get_classifier)]
ApiKeyDep = Depends(require_api_key)
