"""Logger, metrics and tracer shared by the whole function, and the names of the metrics it emits.

Metrics are only recorded inside Lambda invocations, where the handler flushes them every time; a local server
would otherwise keep them in memory forever.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from .settings import get_settings

PREDICTIONS = "Predictions"
PREDICTED_LABEL = "PredictedLabel"
INFERENCE_LATENCY = "InferenceLatency"
TRUNCATED_TEXTS = "TruncatedTexts"
MODEL_LOAD_TIME = "ModelLoadTime"
WARMUP_PINGS = "WarmupPings"
DEADLINE_REFUSALS = "DeadlineRefusals"

# Health checks, /docs and refused requests record no metric; Powertools would warn about each such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

_settings = get_settings()
logger = Logger(service=_settings.service_name)
metrics = Metrics(namespace=_settings.metrics_namespace, service=_settings.service_name)


class DisabledTracer:
    """Stands in for Tracer where tracing is off: building a Tracer imports the X-Ray SDK and botocore even when
    disabled, which costs a cold start about half a second for nothing."""

    def capture_method(self, method: Callable[..., Any] | None = None, **_: Any) -> Any:
        return method if method is not None else (lambda decorated: decorated)

    capture_lambda_handler = capture_method


tracer: Tracer | DisabledTracer = (
    Tracer(service=_settings.service_name) if _settings.is_tracing_enabled else DisabledTracer()
)

_metrics_enabled = False
_LOG_FIELDS = "log_fields"


def add_log_fields(scope: MutableMapping[str, Any], fields: Mapping[str, Any]) -> None:
    """Add fields to the request's log line: every request is one line, written by the request middleware."""
    scope.setdefault("state", {}).setdefault(_LOG_FIELDS, {}).update(fields)


def logged_fields(scope: Mapping[str, Any]) -> dict[str, Any]:
    """What routes and error handlers added with ``add_log_fields``."""
    return scope.get("state", {}).get(_LOG_FIELDS, {})


def enable_metrics() -> None:
    """Called by the Lambda entry, whose ``log_metrics`` decorator flushes the metrics after every invocation."""
    global _metrics_enabled
    _metrics_enabled = True


def record_metric(name: str, value: float, unit: MetricUnit = MetricUnit.Count) -> None:
    """Add one metric value when running under the Lambda entry."""
    if _metrics_enabled:
        metrics.add_metric(name=name, unit=unit, value=value)


def record_load_time(milliseconds: float) -> None:
    """How long the cold start spent loading the model."""
    record_metric(MODEL_LOAD_TIME, milliseconds, MetricUnit.Milliseconds)


def record_predictions(labels: Sequence[str], latency_ms: float, truncated: int) -> None:
    """Metrics of one model call: how many texts (Average is the batch size), how long, one count per label.

    Invocations and errors are not repeated here: Lambda's own AWS/Lambda metrics count them for free, and each
    metric costs every request time in the EMF document.
    """
    if not _metrics_enabled:
        return
    metrics.add_metric(name=PREDICTIONS, unit=MetricUnit.Count, value=len(labels))
    metrics.add_metric(name=INFERENCE_LATENCY, unit=MetricUnit.Milliseconds, value=latency_ms)
    if truncated:
        metrics.add_metric(name=TRUNCATED_TEXTS, unit=MetricUnit.Count, value=truncated)
    for label, count in Counter(labels).items():
        # Label counts as their own metric names keep the dimension set fixed and the cardinality at six.
        metrics.add_metric(name=f"{PREDICTED_LABEL}_{label}", unit=MetricUnit.Count, value=count)
