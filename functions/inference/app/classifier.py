"""The model of this execution environment: loaded during init, cached, and reused by every warm invocation."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from .backends import Backend, ModelInfo, ModelLoadError, load_backend
from .model_source import S3Client, resolve_model_dir
from .observability import Observability
from .schemas import Prediction
from .settings import Settings


class Classifier:
    """A loaded backend plus what the API reports about it; every model call is traced and measured."""

    def __init__(self, backend: Backend, *, load_seconds: float, observability: Observability) -> None:
        self._backend = backend
        self._observability = observability
        self.load_seconds = load_seconds
        self.loaded_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._traced_predict = observability.tracer.capture_method(self._predict)

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

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Classify a batch; each call is a traced subsegment and emits the prediction metrics."""
        predictions: list[Prediction] = self._traced_predict(texts)
        return predictions

    def _predict(self, texts: Sequence[str]) -> list[Prediction]:
        started = time.perf_counter()
        predictions = self._backend.predict(texts)
        latency_ms = (time.perf_counter() - started) * 1000
        truncated = sum(prediction.truncated for prediction in predictions)
        self._observability.record_predictions([p.emotion for p in predictions], latency_ms, truncated)
        return predictions


@dataclass
class ModelState:
    """Either a classifier or the reason there is none; the API answers 503 in the second case."""

    classifier: Classifier | None = None
    failure: str | None = None


#: What a loaded model is keyed on: where it comes from, which backend runs it, with how many threads.
ModelKey = tuple[str, str, int]
_cache: dict[ModelKey, ModelState] = {}


def model_key(settings: Settings) -> ModelKey:
    source = settings.model_s3_uri or str(settings.model_path)
    return source, settings.model_backend, settings.inference_threads()


def load_model(settings: Settings, observability: Observability, *, s3_client: S3Client | None = None) -> ModelState:
    """Load the model once per execution environment and key (``model_key``); later calls return the same state.

    A failure is logged once, with its traceback, and kept: the function keeps answering (503) instead of
    crash-looping through cold starts.
    """
    key = model_key(settings)
    if key in _cache:
        return _cache[key]
    logger = observability.logger
    started = time.perf_counter()
    try:
        model_dir, source = resolve_model_dir(settings, s3_client=s3_client)
        backend = load_backend(settings.model_backend, model_dir, source=source, num_threads=key[2])
    except ModelLoadError as exc:
        logger.exception("model_load_failed", extra={"reason": str(exc)})
        _cache[key] = ModelState(failure=str(exc))
        return _cache[key]
    load_seconds = time.perf_counter() - started
    _cache[key] = ModelState(classifier=Classifier(backend, load_seconds=load_seconds, observability=observability))
    observability.record_load_time(load_seconds * 1000)
    logger.info(
        "model_loaded",
        extra={
            "model": backend.info.name,
            "source": source,
            "backend": backend.info.backend,
            "threads": key[2],
            "load_ms": round(load_seconds * 1000, 1),
        },
    )
    return _cache[key]


def reset_model_cache() -> None:
    """Forget every loaded model, as a new execution environment would (tests)."""
    _cache.clear()
