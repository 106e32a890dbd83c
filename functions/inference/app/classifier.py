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

    @property
    def backend(self) -> Backend:
        """The backend under the trust checks: offline tools score and fit on its raw outputs."""
        return self._backend

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Classify texts, each in its own model call; the whole call is one traced subsegment and metrics record.

        The int8 graph quantises activations with one scale per model call, so in a shared call the longest or
        loudest text would move every other text's probabilities and, near a tie or a threshold, its label or
        warnings. Alone, each text gets exactly the answer ``POST /predict`` gives it, whatever the other texts
        of the request, their number, order and lengths (docs/batch-invariance.md measures what this costs).
        """
        predictions: list[Prediction] = self._traced_predict(texts)
        return predictions

    def _predict(self, texts: Sequence[str]) -> list[Prediction]:
        started = time.perf_counter()
        predictions = [prediction for text in texts for prediction in self._judge(text)]
        latency_ms = (time.perf_counter() - started) * 1000
        self._observability.record_predictions(predictions, latency_ms)
        return predictions

    def _judge(self, text: str) -> list[Prediction]:
        return self.trust.judge([text], self._backend.run([text]), self._backend.config.labels_by_index)


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
