"""Request and response bodies of the HTTP API, with the examples shown in /docs."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, StrictStr

EXAMPLE_PROBABILITIES: dict[str, JsonValue] = {
    "joy": 0.9871,
    "love": 0.0052,
    "surprise": 0.0031,
    "sadness": 0.0019,
    "anger": 0.0015,
    "fear": 0.0012,
}


def _check_text(value: str) -> str:
    """Reject texts that carry nothing to classify or cannot be encoded (lone surrogates from JSON escapes)."""
    if not value.strip():
        raise ValueError("text must contain at least one non-whitespace character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


Text = Annotated[StrictStr, AfterValidator(_check_text)]


class PredictRequest(BaseModel):
    """One text to classify."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"text": "I am feeling very happy today!"}]}
    )

    text: Text = Field(description="The text to classify; at most MAX_TEXT_CHARS characters (default 5,000).")


class BatchPredictRequest(BaseModel):
    """Several texts classified in one model call."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"texts": ["I am feeling very happy today!", "This traffic makes me furious."]}]
        },
    )

    texts: list[Text] = Field(min_length=1, description="Texts to classify; 1 to MAX_BATCH items (default 32).")


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
                }
            ]
        }
    )

    emotion: str = Field(description="The most probable emotion.")
    confidence: float = Field(ge=0, le=1, description="Probability of the predicted emotion.")
    all_emotions: dict[str, float] = Field(description="Probability of every label, highest first; they sum to 1.")
    truncated: bool = Field(description="True when the text was longer than the model reads and was cut.")


class BatchPredictResponse(BaseModel):
    """One prediction per input text, in the order given."""

    predictions: list[Prediction]


class ModelSummary(BaseModel):
    """Which model answers."""

    name: str
    source: str
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
                        "source": "/var/task/model",
                        "backend": "onnx",
                    },
                    "labels": ["anger", "fear", "joy", "love", "sadness", "surprise"],
                    "loaded_at": "2026-11-26T12:00:00Z",
                    "load_seconds": 0.41,
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
    details: list[ErrorDetail] | None = None


class ErrorBody(BaseModel):
    """The body of every non-2xx response."""

    error: ErrorInfo
