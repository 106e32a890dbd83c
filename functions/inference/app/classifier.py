"""The one model of this execution environment: loaded during init, reused by every warm invocation."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from .backends import Backend, ModelInfo, ModelLoadError, load_backend
from .model_source import S3Client, resolve_model_dir
from .observability import logger, record_load_time, record_predictions, tracer
from .settings import Settings


@dataclass(frozen=True)
class Prediction:
    """One classified text: label, its probability, all probabilities (highest first), truncation."""

    emotion: str
    confidence: float
    all_emotions: dict[str, float]
    truncated: bool


class Classifier:
    """A loaded backend plus what the API reports about it."""

    def __init__(self, backend: Backend, *, load_seconds: float) -> None:
        self._backend = backend
        self.load_seconds = load_seconds
        self.loaded_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def labels(self) -> tuple[str, ...]:
        return self._backend.labels

    @property
    def info(self) -> ModelInfo:
        return self._backend.info

    @cached_property
    def revision(self) -> str:
        """sha256 of the weights, computed on first request for it rather than during the cold start."""
        digest = hashlib.sha256()
        with self.info.weights_file.open("rb") as weights:
            for chunk in iter(lambda: weights.read(1 << 20), b""):
                digest.update(chunk)
        return f"sha256:{digest.hexdigest()}"

    @tracer.capture_method
    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        started = time.perf_counter()
        raw = self._backend.predict(texts)
        latency_ms = (time.perf_counter() - started) * 1000
        predictions = []
        for item in raw:
            ranked = dict(sorted(item.probabilities.items(), key=lambda pair: pair[1], reverse=True))
            emotion, confidence = next(iter(ranked.items()))
            predictions.append(Prediction(emotion, confidence, ranked, item.truncated))
        record_predictions([p.emotion for p in predictions], latency_ms, sum(p.truncated for p in predictions))
        return predictions


@dataclass
class ModelState:
    """Either a classifier or the reason there is none; the API answers 503 in the second case."""

    classifier: Classifier | None = None
    failure: str | None = None


_state: ModelState | None = None


@tracer.capture_method
def load_model(settings: Settings, *, s3_client: S3Client | None = None) -> ModelState:
    """Load the model once per execution environment; later calls return the same state.

    A failure is logged once, with its traceback, and kept: the function keeps answering (503) instead of
    crash-looping through cold starts.
    """
    global _state
    if _state is not None:
        return _state
    started = time.perf_counter()
    try:
        model_dir, source = resolve_model_dir(settings, s3_client=s3_client)
        backend = load_backend(
            settings.model_backend, model_dir, source=source, num_threads=settings.inference_threads()
        )
    except ModelLoadError as exc:
        logger.exception("model_load_failed", extra={"reason": str(exc)})
        _state = ModelState(failure=str(exc))
        return _state
    load_seconds = time.perf_counter() - started
    _state = ModelState(classifier=Classifier(backend, load_seconds=load_seconds))
    record_load_time(load_seconds * 1000)
    logger.info(
        "model_loaded",
        extra={
            "model": backend.info.name,
            "source": source,
            "backend": backend.info.backend,
            "threads": settings.inference_threads(),
            "load_ms": round(load_seconds * 1000, 1),
        },
    )
    return _state


def reset_model_state() -> None:
    """Forget the loaded model, so tests can load another."""
    global _state
    _state = None
