"""The model of this execution environment: loaded during init, cached, and reused by every warm invocation."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .backends import Backend, ModelInfo, ModelLoadError, load_backend
from .model_source import S3Client, resolve_model_dir, sha256_of
from .observability import Observability
from .schemas import Prediction
from .settings import Settings
from .trust import Trust


class Classifier:
    """A loaded backend, its trust checks and what the API reports about them; every model call is traced."""

    def __init__(
        self, backend: Backend, trust: Trust, *, sha256: str, load_seconds: float, observability: Observability
    ) -> None:
        self._backend = backend
        self.trust = trust
        self._observability = observability
        self.load_seconds = load_seconds
        self.loaded_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        #: sha256 of the weights, so deployments can be compared.
        self.revision = f"sha256:{sha256}"
        #: The short hash sent as x-model-version with every prediction.
        self.version = sha256[:12]
        self.labels = tuple(sorted(backend.config.labels_by_index))
        self._traced_predict = observability.tracer.capture_method(self._predict)

    @property
    def info(self) -> ModelInfo:
        return self._backend.info

    def predict(self, texts: Sequence[str], *, each_alone: bool = False) -> list[Prediction]:
        """Classify a batch; each call is a traced subsegment and emits the prediction metrics.

        ``each_alone`` gives every text its own model call, so each answer is the one ``POST /predict`` gives
        (int8 activations are quantised per model call); the rows of a bulk job are traced and counted as one call.
        """
        predictions: list[Prediction] = self._traced_predict(texts, each_alone)
        return predictions

    def _predict(self, texts: Sequence[str], each_alone: bool) -> list[Prediction]:
        started = time.perf_counter()
        if each_alone:
            predictions = [prediction for text in texts for prediction in self._judge([text])]
        else:
            predictions = self._judge(texts)
        latency_ms = (time.perf_counter() - started) * 1000
        self._observability.record_predictions(predictions, latency_ms)
        return predictions

    def _judge(self, texts: Sequence[str]) -> list[Prediction]:
        return self.trust.judge(texts, self._backend.run(texts), self._backend.config.labels_by_index)


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
        weights = backend.info.weights_file
        sha256 = sha256_of(weights)
        trust = Trust.load(model_dir, weights_file=weights, weights_sha256=sha256)
    except ModelLoadError as exc:
        logger.exception("model_load_failed", extra={"reason": str(exc)})
        _cache[key] = ModelState(failure=str(exc))
        return _cache[key]
    load_seconds = time.perf_counter() - started
    classifier = Classifier(backend, trust, sha256=sha256, load_seconds=load_seconds, observability=observability)
    _cache[key] = ModelState(classifier=classifier)
    observability.record_load_time(load_seconds * 1000)
    logger.info(
        "model_loaded",
        extra={
            "model": backend.info.name,
            "source": source,
            "backend": backend.info.backend,
            "threads": key[2],
            "load_ms": round(load_seconds * 1000, 1),
            "version": classifier.version,
            "trust_fitted": trust.fitted,
        },
    )
    if not trust.fitted:
        logger.warning(
            "trust_not_fitted", extra={"reason": "no trust.json beside the model: uncalibrated, no detector"}
        )
    return _cache[key]


def reset_model_cache() -> None:
    """Forget every loaded model, as a new execution environment would (tests)."""
    _cache.clear()
