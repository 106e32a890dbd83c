"""Builds the FastAPI application; the only place that knows every router and middleware."""

from __future__ import annotations

from fastapi import FastAPI

from .classifier import ModelState, load_model
from .demo import router as demo_router
from .deps import ApiKeyDep
from .errors import install_error_handlers
from .middleware import JsonCORSMiddleware, RequestMiddleware
from .routes import predict_router, service_router
from .security import ApiKeyGuard
from .settings import Settings, get_settings

DESCRIPTION = """
Classifies a text into one of six emotions (anger, fear, joy, love, sadness, surprise) and returns the
probabilities of all six.

Every error has one JSON shape: `{"error": {"code", "message", "request_id"}}`. When the deployment
requires an API key, send it in the `x-api-key` header.
"""


def create_app(settings: Settings, model_state: ModelState, api_key_guard: ApiKeyGuard) -> FastAPI:
    """Assemble the app around an already loaded (or failed) model; nothing heavy happens here."""
    app = FastAPI(
        title="Emotion classification API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "predict", "description": "Classify texts."},
            {"name": "service", "description": "Health and model facts."},
        ],
    )
    app.state.settings = settings
    app.state.model_state = model_state
    app.state.api_key_guard = api_key_guard
    install_error_handlers(app)
    # Wired only when a key is configured: an open deployment then neither pays for the check on every request
    # nor advertises a key header in /docs that it ignores.
    app.include_router(predict_router, dependencies=[ApiKeyDep] if api_key_guard.is_required else [])
    app.include_router(service_router)
    app.include_router(demo_router)
    if settings.cors_allow_origins:
        app.add_middleware(
            JsonCORSMiddleware,
            allow_origins=list(settings.cors_allow_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["content-type", "x-api-key"],
            expose_headers=["x-request-id"],
            max_age=600,
        )
    app.add_middleware(RequestMiddleware, max_body_bytes=settings.max_body_bytes)
    return app


def build_app(settings: Settings | None = None) -> FastAPI:
    """Load the model and the API key once, then build the app: what the Lambda init and ``make serve`` run."""
    settings = settings or get_settings()
    guard = ApiKeyGuard(settings)
    guard.warm()
    return create_app(settings, load_model(settings), guard)
