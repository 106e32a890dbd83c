"""The composition root: builds the services from the Settings it is given, then the FastAPI app around them.

The only place that knows every router and middleware. Nothing here reads the environment: the Lambda entry and
``make serve`` (``build_app`` as a uvicorn factory) pass the settings in, or get them once from ``get_settings``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from .api_docs import router as docs_router
from .classifier import load_model
from .demo import router as demo_router
from .deps import ApiKeyDep
from .errors import install_error_handlers
from .middleware import JsonCORSMiddleware, RequestMiddleware
from .model_source import S3Client
from .observability import Observability
from .routes import health_router, predict_router, service_router
from .security import ApiKeyGuard
from .services import Services
from .settings import Settings, get_settings

DESCRIPTION = """
Classifies a text into one of six emotions (anger, fear, joy, love, sadness, surprise) and returns the
probabilities of all six.

Every error has one JSON shape: `{"error": {"code", "message", "request_id"}}`. When the deployment
requires an API key, send it in the `x-api-key` header: every route needs it but `/health` and the demo page.
"""


def create_app(services: Services) -> FastAPI:
    """Assemble the app around ready services (a loaded or failed model); nothing heavy happens here."""
    app = FastAPI(
        title="Emotion classification API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "predict", "description": "Classify texts."},
            {"name": "service", "description": "Health and model facts."},
        ],
        # Not FastAPI's Swagger UI or ReDoc: they load from a CDN at a floating version, into the demo page's origin.
        # The schema is served by service_router and Swagger UI from the image by docs_router (app/api_docs.py),
        # both behind the key like every route but /health and the demo page.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    services.attach(app)
    install_error_handlers(app)
    # Wired only when a key is configured: an open deployment then neither pays for the check on every request
    # nor advertises a key header in its schema that it ignores.
    keyed = [ApiKeyDep] if services.api_key_guard.is_required else []
    app.include_router(predict_router, dependencies=keyed)
    app.include_router(service_router, dependencies=keyed)
    app.include_router(docs_router, dependencies=keyed)
    app.include_router(health_router)
    app.include_router(demo_router)
    settings = services.settings
    if settings.cors_allow_origins:
        app.add_middleware(
            JsonCORSMiddleware,
            allow_origins=list(settings.cors_allow_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["content-type", "x-api-key"],
            expose_headers=["x-request-id", "x-model-version"],
            max_age=600,
        )
    app.add_middleware(RequestMiddleware, max_body_bytes=settings.max_body_bytes, logger=services.observability.logger)
    return app


def build_services(
    settings: Settings,
    *,
    s3_client: S3Client | None = None,
    key_store_client: Any | None = None,
    observability: Observability | None = None,
) -> Services:
    """Logs, metrics and traces named by ``settings``; the model (cached per execution environment) and the key.

    Waits for the model: a load the Lambda entry started before importing this module is joined here, loaded.
    """
    observability = observability or Observability(settings)
    guard = ApiKeyGuard(settings, logger=observability.logger, boto3_client=key_store_client)
    guard.warm()
    model_state = load_model(settings, observability, s3_client=s3_client)
    return Services(settings, model_state, guard, observability)


def build_app(
    settings: Settings | None = None,
    *,
    s3_client: S3Client | None = None,
    key_store_client: Any | None = None,
    observability: Observability | None = None,
) -> FastAPI:
    """What the Lambda init and ``make serve`` run: the services, then the app. AWS clients are injectable."""
    return create_app(
        build_services(
            settings or get_settings(),
            s3_client=s3_client,
            key_store_client=key_store_client,
            observability=observability,
        )
    )
