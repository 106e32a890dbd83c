"""Request and response bodies of the HTTP API, with the examples shown in /docs."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .text_rules import PROBLEM_MESSAGES, text_problem

EXAMPLE_PROBABILITIES: dict[str, JsonValue] = {
    "joy": 0.9871,
    "love": 0.0052,
    "surprise": 0.0031,
    "sadness": 0.0019,
    "anger": 0.0015,
    "fear": 0.0012,
}


#: The closed set of reasons not to trust a prediction (app/trust.py says how each is decided).
WarningCode = Literal["no_clear_emotion", "not_english", "low_confidence"]
WARNING_CODES: tuple[WarningCode, ...] = get_args(WarningCode)

#: How many labels a response lists, highest first; all six by default.
TopK = Annotated[
    StrictInt | None,
    Field(ge=1, le=6, description="Return only the k most probable emotions in all_emotions (default: all six)."),
]


def _check_text(value: str) -> str:
    """Reject texts that carry nothing to classify or cannot be encoded (text_rules.py; the length is the route's)."""
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(PROBLEM_MESSAGES[problem])
    return value


Text = Annotated[StrictStr, AfterValidator(_check_text)]

#: The most problems an error body lists; ``detail_count`` says how many there were.
MAX_ERROR_DETAILS = 5

#: The most texts any request may list: MAX_BATCH's ceiling (settings.py). The routes apply MAX_BATCH itself.
MAX_ITEMS = 256
#: The validation error of a list over MAX_ITEMS: answered as batch_too_large, like a batch over MAX_BATCH.
TOO_MANY_ITEMS = "batch_too_large"


def _check_item_count(value: object) -> object:
    """Refuse an over-long list before its items are validated: 60,000 bad items must cost one error, not 60,000."""
    if isinstance(value, list) and len(value) > MAX_ITEMS:
        raise PydanticCustomError(
            TOO_MANY_ITEMS, "List should have at most {max_length} items", {"max_length": MAX_ITEMS}
        )
    return value


#: 1 to MAX_ITEMS texts.
TextList = Annotated[list[Text], BeforeValidator(_check_item_count), Field(min_length=1, max_length=MAX_ITEMS)]


class RequestBody(BaseModel):
    """A request body: unknown fields are refused, and a body of thousands of them is one problem, not thousands."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _few_unknown_fields(cls, data: object) -> object:
        if isinstance(data, dict) and len(data) > len(cls.model_fields) + MAX_ERROR_DETAILS:
            raise PydanticCustomError("extra_forbidden", "Too many fields; only the documented ones are accepted")
        return data


class PredictRequest(RequestBody):
    """One text to classify."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "I am feeling very happy today!"}]})

    text: Text = Field(description="The text to classify; at most MAX_TEXT_CHARS characters (default 5,000).")
    top_k: TopK = None


class BatchPredictRequest(RequestBody):
    """Several texts in one request, each answered exactly as /predict answers it alone (one model call a text)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"texts": ["I am feeling very happy today!", "This traffic makes me furious."]}]
        },
    )

    texts: TextList = Field(
        description="Texts to classify; 1 to MAX_BATCH items (default 32), MAX_REQUEST_TOKENS together (default 4096)."
    )
    top_k: TopK = None


class Prediction(BaseModel):
    """The predicted emotion and the probability of each of the six: what a backend returns and a route sends."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "emotion": "joy",
                    "confidence": 0.9871,
                    "all_emotions": EXAMPLE_PROBABILITIES,
                    "truncated": False,
                    "reliable": True,
                    "warnings": [],
                }
            ]
        }
    )

    emotion: str = Field(description="The most probable emotion.")
    confidence: float = Field(
        ge=0, le=1, description="Calibrated probability of the predicted emotion: right about that often."
    )
    all_emotions: dict[str, float] = Field(
        description="Calibrated probability of every label (or the top_k asked for), highest first."
    )
    truncated: bool = Field(description="True when the text was longer than the model reads and was cut.")
    reliable: bool = Field(description="False exactly when warnings is not empty: then treat the emotion as a guess.")
    warnings: list[WarningCode] = Field(
        description=(
            "Why not to trust the prediction: no_clear_emotion (the text states no emotion: a "
            "schedule, a fact, code), not_english (the model reads English only), low_confidence (calibrated top "
            "probability under the model's threshold)."
        ),
    )


class BatchPredictResponse(BaseModel):
    """One prediction per input text, in the order given."""

    predictions: list[Prediction]


class HubParameters(RequestBody):
    """The Hugging Face text-classification parameters this service honours."""

    top_k: TopK = None
    function_to_apply: Literal["softmax"] | None = Field(
        default=None, description="Only softmax: the scores are calibrated probabilities."
    )


class HubRequest(RequestBody):
    """The Hugging Face Inference API's text-classification request (what huggingface_hub's client sends)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"inputs": "I am feeling very happy today!"},
                {"inputs": ["I am feeling very happy today!", "This traffic makes me furious."]},
                {"inputs": "I am feeling very happy today!", "parameters": {"top_k": 2}},
            ]
        },
    )

    inputs: Text | TextList = Field(
        description="One text, or 1 to MAX_BATCH texts of MAX_REQUEST_TOKENS together (default 4096)."
    )
    parameters: HubParameters | None = None


class LabelScore(BaseModel):
    """One label and its calibrated probability."""

    label: str
    score: float


#: One list per input, highest score first: the Hugging Face text-classification response.
HubResponse = list[list[LabelScore]]


class ModelSummary(BaseModel):
    """Which model answers; where it was loaded from is in ``/model``, behind the key, not here."""

    name: str
    backend: str


class HealthResponse(BaseModel):
    """The service can classify: the model is loaded."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "model_loaded": True,
                    "model": {
                        "name": "emotion-distilbert-minilm-l6-distilled",
                        "backend": "onnx",
                    },
                    "labels": ["anger", "fear", "joy", "love", "sadness", "surprise"],
                    "loaded_at": "2026-11-26T12:00:00Z",
                    "load_seconds": 0.41,
                    "trust_fitted": True,
                }
            ]
        }
    )

    status: str = "ok"
    model_loaded: bool = True
    model: ModelSummary
    labels: list[str]
    loaded_at: str = Field(description="When this execution environment loaded the model (UTC, ISO 8601).")
    load_seconds: float = Field(description="How long loading the model took at cold start.")
    trust_fitted: bool = Field(
        description="False when the model ships no fitted trust checks (data too small to fit them): its "
        "probabilities are uncalibrated and no_clear_emotion is never raised."
    )


class LabelsResponse(BaseModel):
    """The labels the model predicts, in alphabetical order."""

    labels: list[str]


class ModelInfoResponse(BaseModel):
    """What is inside the model that answers."""

    model_config = ConfigDict(protected_namespaces=())

    name: str
    architecture: str
    parameters: int = Field(description="Number of weights.")
    source: str = Field(description="Where the model was loaded from: a directory or an s3:// URI.")
    revision: str = Field(description="sha256 of the weights file, so deployments can be compared.")
    max_length: int = Field(description="Tokens the model reads; longer texts are truncated.")
    backend: str
    labels: list[str]


class ErrorDetail(BaseModel):
    """Where a request was invalid: the field's location and the kind of problem, never the input itself."""

    loc: list[str | int]
    type: str


class ErrorInfo(BaseModel):
    """A machine-readable code, a message for people, and the id to quote when asking for help."""

    code: str = Field(examples=["invalid_input"])
    message: str = Field(examples=["The request body is not valid."])
    request_id: str = Field(examples=["c6af9ac6-7b61-11e6-9a41-93e8deadbeef"])
    details: list[ErrorDetail] | None = Field(
        None, description="For an invalid body: the first few problems found (at most MAX_ERROR_DETAILS)."
    )
    detail_count: int | None = Field(None, description="How many problems were found in all, listed or not.")


class ErrorBody(BaseModel):
    """The body of every non-2xx response."""

    error: ErrorInfo
