"""Lambda entry of the zip flavor (Handler ``app.snapstart.handler``): ``app.handler``'s handler, plus SnapStart hooks.

With SnapStart, Lambda runs the init phase once, when a version is published, and starts later environments from a
snapshot of its memory. Importing ``app.handler`` already loads the model during init; the before-snapshot hook also
runs one prediction, so the snapshot holds an ONNX Runtime session and tokenizer that have done real work (memory
arenas allocated, lazy code paths imported) and a restored environment answers its first request at full speed.
The API key fetched during init is dropped before the snapshot and again after a restore: the snapshot holds no key,
and a restored environment reads the current one on its first keyed request, not the one of publication day.

``snapshot_restore_py`` is preinstalled in Lambda's Python runtimes and pinned in layers/dependencies/requirements.txt.
"""

from __future__ import annotations

import time

from snapshot_restore_py import register_after_restore, register_before_snapshot

from .handler import handler, logger, metrics, services

__all__ = ["handler", "log_restore", "warm_up_before_snapshot"]

#: What the warm-up prediction classifies; any short text exercises the whole inference path.
WARMUP_TEXTS = ("warm up",)


@register_before_snapshot  # type: ignore[untyped-decorator]  # the runtime's package ships no types
def warm_up_before_snapshot() -> None:
    """Run one prediction so the snapshot holds a warmed model; a model that failed to load is left to answer 503.

    An exception here fails the snapshot and so the version's publication: a model that cannot predict is refused
    at deploy time instead of in every restored environment.
    """
    services.api_key_guard.forget_key()
    classifier = services.model_state.wait()
    if classifier is None:
        logger.warning("snapshot_without_model", extra={"reason": services.model_state.failure})
        return
    started = time.perf_counter()
    classifier.predict(list(WARMUP_TEXTS))
    # Metrics buffered now would be flushed by every environment restored from this snapshot, as if each had
    # made this prediction (and loaded the model) itself.
    metrics.clear_metrics()
    logger.info("snapshot_warmed", extra={"warmup_ms": round((time.perf_counter() - started) * 1000, 1)})


@register_after_restore  # type: ignore[untyped-decorator]
def log_restore() -> None:
    """Mark in the logs where an environment restored from the snapshot starts; make it fetch the API key afresh."""
    services.api_key_guard.forget_key()
    logger.info("restored_from_snapshot", extra={"model_loaded": services.model_state.classifier is not None})
