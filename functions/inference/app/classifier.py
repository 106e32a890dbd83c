"""The model of this execution environment: loaded during init, cached, and reused by every warm invocation.

The load runs on a thread of its own (``start_loading``), so that the Lambda entry can start it before it imports
the web framework: ONNX Runtime builds its session and hashlib hashes the weights without holding the GIL, so most
of the load happens while the main thread imports FastAPI (docs/cold-start.md measures what that saves).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
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

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Tokens the model would read of all these texts together: what one request's work grows with."""
        return sum(self._backend.count_tokens(texts))

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


class ModelState:
    """The model of one execution environment: loading, loaded (a classifier) or failed (the reason there is none).

    ``classifier`` is None until the classifier is whole (weights, tokenizer and trust data loaded), then set in
    one step: nothing ever reads a half-loaded model. While it loads, /health answers 503 and a request waits for
    it (``ready``); after a failure both answer 503.
    """

    def __init__(self, classifier: Classifier | None = None, failure: str | None = None) -> None:
        self.classifier = classifier
        self.failure = failure
        self._done: Future[None] = Future()
        if classifier is not None or failure is not None:
            self._done.set_result(None)

    @classmethod
    def loading(cls) -> ModelState:
        """A state whose load has started and not finished."""
        return cls()

    @property
    def is_loading(self) -> bool:
        return not self._done.done()

    def finish(self, *, classifier: Classifier | None = None, failure: str | None = None) -> None:
        """Publish the outcome of the load and wake whoever waits for it."""
        self.classifier, self.failure = classifier, failure
        self._done.set_result(None)

    def crash(self, error: BaseException) -> None:
        """A load that failed on a bug rather than a bad model: whoever waits gets the exception, as before."""
        self._done.set_exception(error)

    def wait(self, timeout: float | None = None) -> Classifier | None:
        """Block until the load has finished; the classifier, or None when it failed."""
        self._done.result(timeout)
        return self.classifier

    async def ready(self) -> Classifier | None:
        """``wait`` for a request on the event loop: other requests (/health) go on meanwhile."""
        if self.is_loading:
            await asyncio.wrap_future(self._done)
        return self.classifier


#: What a loaded model is keyed on: where it comes from, which backend runs it, with how many threads.
ModelKey = tuple[str, str, int]
_cache: dict[ModelKey, ModelState] = {}
_cache_lock = threading.Lock()


def model_key(settings: Settings) -> ModelKey:
    source = settings.model_s3_uri or str(settings.model_path)
    return source, settings.model_backend, settings.inference_threads()


def start_loading(settings: Settings, observability: Observability, *, s3_client: S3Client | None = None) -> ModelState:
    """Start loading the model on a thread, once per execution environment and key (``model_key``); return at once.

    Later calls return the same state, loading or loaded. A failure is logged once, with its traceback, and kept:
    the function keeps answering (503) instead of crash-looping through cold starts.
    """
    key = model_key(settings)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        state = _cache[key] = ModelState.loading()
    thread = threading.Thread(
        target=_load_into, args=(state, settings, observability, s3_client), name="model-load", daemon=True
    )
    thread.start()
    return state


def load_model(settings: Settings, observability: Observability, *, s3_client: S3Client | None = None) -> ModelState:
    """``start_loading``, then wait for the load to finish: the state is loaded or failed."""
    state = start_loading(settings, observability, s3_client=s3_client)
    state.wait()
    return state


def _load_into(state: ModelState, settings: Settings, observability: Observability, s3_client: S3Client | None) -> None:
    try:
        _load(state, settings, observability, s3_client)
    except BaseException as error:  # a bug, not a bad model: re-raised where the load is waited for
        with _cache_lock:  # and not kept, as an exception out of a synchronous load was not: a later call retries
            if _cache.get(model_key(settings)) is state:
                del _cache[model_key(settings)]
        state.crash(error)


def _load(state: ModelState, settings: Settings, observability: Observability, s3_client: S3Client | None) -> None:
    logger = observability.logger
    threads = settings.inference_threads()
    started = time.perf_counter()
    try:
        model_dir, source = resolve_model_dir(settings, s3_client=s3_client)
        backend = load_backend(settings.model_backend, model_dir, source=source, num_threads=threads)
        weights = backend.info.weights_file
        sha256 = sha256_of(weights)
        trust = Trust.load(model_dir, weights_file=weights, weights_sha256=sha256)
    except ModelLoadError as exc:
        logger.exception("model_load_failed", extra={"reason": str(exc)})
        state.finish(failure=str(exc))
        return
    load_seconds = time.perf_counter() - started
    classifier = Classifier(backend, trust, sha256=sha256, load_seconds=load_seconds, observability=observability)
    observability.record_load_time(load_seconds * 1000)
    logger.info(
        "model_loaded",
        extra={
            "model": backend.info.name,
            "source": source,
            "backend": backend.info.backend,
            "threads": threads,
            "load_ms": round(load_seconds * 1000, 1),
            "version": classifier.version,
            "trust_fitted": trust.fitted,
        },
    )
    if not trust.fitted:
        logger.warning(
            "trust_not_fitted", extra={"reason": "no trust.json beside the model: uncalibrated, no detector"}
        )
    state.finish(classifier=classifier)


def reset_model_cache() -> None:
    """Forget every loaded model, as a new execution environment would (tests)."""
    with _cache_lock:
        _cache.clear()
