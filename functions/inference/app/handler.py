"""AWS Lambda entry: builds the app during init, then hands each event to the event source that claims it.

Everything heavy happens at import, during the Lambda init phase: Mangum runs lifespan hooks on every
invocation, so nothing that must happen once may live there. The entry knows event sources, never a route.

The model starts loading on a thread of its own before the web framework is imported, so that ONNX Runtime's
session creation and the weights' hash (which release the GIL) overlap FastAPI's imports; ``build_app`` joins
the load, so init still ends with the model loaded (or failed, answering 503), never half-loaded.
"""

from __future__ import annotations

import gc

# The init creates some hundred thousand objects that live as long as the process (modules, classes, the model's
# Python side), and the collector would walk them again and again while they are made: it is off for the init
# (about a tenth of a cold start, docs/cold-start.md), and what the init made is then frozen out of every later
# collection, so warm requests never scan it either.
gc.disable()
try:
    import uuid
    from typing import Any

    from aws_lambda_powertools.utilities.typing import LambdaContext

    from apikey import hold_library_loggers

    from .classifier import start_loading
    from .framework import import_fastapi
    from .observability import Observability
    from .settings import get_settings

    # Before anything calls AWS: at LOG_LEVEL=DEBUG botocore would log the key store's answer, the key with it.
    hold_library_loggers()
    settings = get_settings()
    observability = Observability(settings)
    # Enabled before the load, so that its ModelLoadTime is flushed with the first invocation's metrics.
    observability.enable_metrics()
    start_loading(settings, observability)
    # Imported once the load runs: the framework's imports are what the load overlaps.
    import_fastapi()

    from .api import build_app
    from .errors import UnsupportedEventError, error_body
    from .gateway import request_id_of_event
    from .services import services_of
    from .sources import Invocation, event_sources

    app = build_app(settings, observability=observability)
    services = services_of(app)
    logger, metrics, tracer = observability.logger, observability.metrics, observability.tracer
    sources = event_sources(app)
    _is_cold_start = True
finally:
    gc.freeze()
    gc.enable()


# Powertools types log_metrics and capture_lambda_handler as returning Callable[..., Any].
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)  # type: ignore[untyped-decorator]
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: Any, context: LambdaContext) -> Any:
    """One invocation: the first source that claims the event answers it; an event none claims is refused."""
    global _is_cold_start
    cold_start, _is_cold_start = _is_cold_start, False
    event_request_id = request_id_of_event(event)
    logger.set_correlation_id(event_request_id)  # what correlation_id_path finds, without a JMESPath search
    invocation = Invocation(request_id=event_request_id or str(uuid.uuid4()), cold_start=cold_start)
    for source in sources:
        if source.infer(event):
            return source.handle(event, context, invocation)
    logger.warning("unsupported_event", extra={"request_id": invocation.request_id})
    return error_body(UnsupportedEventError(), invocation.request_id)
