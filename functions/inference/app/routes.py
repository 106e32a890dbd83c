"""The HTTP routes: thin functions over the classifier, with every error response declared for /docs.

Routes are ``async`` and call the model directly, on the event loop's thread. A plain ``def`` route would run
in a new worker thread per Lambda invocation (Mangum runs a fresh loop each time), which costs milliseconds and
makes torch build a new OpenMP thread team for every request. Inference is CPU-bound and serialised by the
backend's lock anyway, so a local server loses no parallelism it had.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from .classifier import Classifier
from .deps import ClassifierDep, ServicesDep
from .errors import (
    AuthUnavailableError,
    ModelUnavailableError,
    RequestTooLongError,
    TextTooLongError,
    batch_too_large,
)
from .request_context import request_context
from .schemas import (
    BatchPredictRequest,
    BatchPredictResponse,
    ErrorBody,
    HealthResponse,
    HubRequest,
    HubResponse,
    LabelScore,
    LabelsResponse,
    ModelInfoResponse,
    ModelSummary,
    Prediction,
    PredictRequest,
)
from .services import services_of
from .settings import Settings

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "The body is not UTF-8 JSON.",
        401: "The API key is missing or wrong (only when the deployment requires one).",
        413: "The body is larger than MAX_BODY_BYTES.",
        415: "The body is compressed, has a Content-Type other than JSON, or has none and is not JSON.",
        422: "A field is missing, of the wrong type, empty, too long, or the batch or its texts together too large.",
        503: "The model (or the API key store) is unavailable.",
    }.items()
}

#: Classification routes; the app adds the API key check to them when the deployment requires a key.
predict_router = APIRouter(tags=["predict"])
#: Model facts and the OpenAPI schema: like the predictions, they need the key when the deployment requires one.
service_router = APIRouter(tags=["service"])
#: Health: always open, so load balancers and dashboards need no key; it names no model location.
health_router = APIRouter(tags=["service"])


def _check_limits(texts: list[str], settings: Settings, classifier: Classifier) -> None:
    """Refuse a request over its limits before any model work. A text's model call costs about in proportion to
    its tokens, so MAX_REQUEST_TOKENS bounds what one call can ask for: MAX_BATCH texts of MAX_TEXT_CHARS would
    cost tens of normal batches (docs/performance.md measures both)."""
    if len(texts) > settings.max_batch:
        raise batch_too_large(settings.max_batch)
    if any(len(text) > settings.max_text_chars for text in texts):
        raise TextTooLongError(f"A text holds at most {settings.max_text_chars} characters.")
    # One text is at most the model's length, within the bound's floor (512): /predict pays for no count.
    if len(texts) > 1 and classifier.count_tokens(texts) > settings.max_request_tokens:
        raise RequestTooLongError(
            f"The texts of one request hold at most {settings.max_request_tokens} tokens together "
            "(a few characters each in ordinary prose, one for punctuation); send fewer or shorter texts."
        )


#: Sent with every prediction: the weights' short sha256, so clients and logs can tell which model answered.
MODEL_VERSION_HEADER = "x-model-version"


def _classify(
    texts: list[str], classifier: Classifier, request: Request, response: Response, top_k: int | None
) -> list[Prediction]:
    # Settings come from the app's services rather than a dependency: each dependency FastAPI solves costs the
    # hot path.
    settings = services_of(request.app).settings
    _check_limits(texts, settings, classifier)
    predictions = classifier.predict(texts)
    response.headers[MODEL_VERSION_HEADER] = classifier.version
    fields: dict[str, Any] = {
        "batch_size": len(texts),
        "text_chars": [len(text) for text in texts],
        "labels": [prediction.emotion for prediction in predictions],
        "warnings": [prediction.warnings for prediction in predictions],
        "model_version": classifier.version,
    }
    if settings.log_input_text:
        fields["texts"] = texts
    request_context(request.scope).add_log_fields(fields)
    if top_k is not None:
        for prediction in predictions:
            prediction.all_emotions = dict(islice(prediction.all_emotions.items(), top_k))
    return predictions


@predict_router.post("/predict", response_model=Prediction, responses=_ERRORS)
async def predict(body: PredictRequest, classifier: ClassifierDep, request: Request, response: Response) -> Prediction:
    """Classify one text into one of six emotions, with calibrated probabilities and whether to trust them."""
    return _classify([body.text], classifier, request, response, body.top_k)[0]


@predict_router.post("/predict/batch", response_model=BatchPredictResponse, responses=_ERRORS)
async def predict_batch(
    body: BatchPredictRequest, classifier: ClassifierDep, request: Request, response: Response
) -> BatchPredictResponse:
    """Classify up to MAX_BATCH texts; each gets exactly the answer POST /predict gives it, in the order given."""
    predictions = _classify(body.texts, classifier, request, response, body.top_k)
    return BatchPredictResponse.model_construct(predictions=predictions)


@predict_router.post("/", response_model=HubResponse, responses=_ERRORS, tags=["hugging face"])
async def hub_text_classification(
    body: HubRequest, classifier: ClassifierDep, request: Request, response: Response
) -> HubResponse:
    """The Hugging Face Inference API's text classification: one list of {label, score} per input, highest first.

    ``huggingface_hub.InferenceClient(model="<this API's URL>").text_classification(text)`` works against it.
    """
    texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    top_k = body.parameters.top_k if body.parameters else None
    return [
        [LabelScore.model_construct(label=label, score=score) for label, score in prediction.all_emotions.items()]
        for prediction in _classify(texts, classifier, request, response, top_k)
    ]


@health_router.get("/health", response_model=HealthResponse, responses={503: _ERRORS[503]})
async def health(services: ServicesDep) -> HealthResponse:
    """200 only when the model is loaded and, if a key is required, the key store is readable."""
    state = services.model_state
    if state.classifier is None:
        raise ModelUnavailableError
    guard = services.api_key_guard
    if guard.is_required and guard.last_failure is not None:
        raise AuthUnavailableError
    info = state.classifier.info
    return HealthResponse(
        model=ModelSummary(name=info.name, backend=info.backend),
        labels=list(state.classifier.labels),
        loaded_at=state.classifier.loaded_at,
        load_seconds=round(state.classifier.load_seconds, 3),
        trust_fitted=state.classifier.trust.fitted,
    )


@service_router.get("/labels", response_model=LabelsResponse, responses={503: _ERRORS[503]})
async def labels(classifier: ClassifierDep) -> LabelsResponse:
    """The labels the model predicts: the six emotions, or those of a model trained on your own data."""
    return LabelsResponse(labels=list(classifier.labels))


@service_router.get("/model", response_model=ModelInfoResponse, responses={503: _ERRORS[503]})
async def model(classifier: ClassifierDep) -> ModelInfoResponse:
    """Architecture, size, source and weights hash of the model that answers."""
    info = classifier.info
    return ModelInfoResponse(
        name=info.name,
        architecture=info.architecture,
        parameters=info.parameters,
        source=info.source,
        revision=classifier.revision,
        max_length=info.max_length,
        backend=info.backend,
        labels=list(classifier.labels),
    )


@service_router.get("/openapi.json", include_in_schema=False)
async def openapi_schema(request: Request) -> JSONResponse:
    """The OpenAPI schema; behind a stage path (root_path ``/dev``) it names that path as its server."""
    app = request.app
    root_path = request.scope.get("root_path", "").rstrip("/")
    schema = dict(app.openapi())
    if root_path:
        schema["servers"] = [{"url": root_path}]
    return JSONResponse(schema)
