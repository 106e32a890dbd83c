"""Logs, metrics and traces, built from the Settings they are given, and the names of the metrics the function emits.

Metrics are only recorded inside Lambda invocations, where the handler flushes them every time; a local server
would otherwise keep them in memory forever.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, overload

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from .schemas import Prediction
from .settings import Settings

PREDICTIONS = "Predictions"
PREDICTED_LABEL = "PredictedLabel"
INFERENCE_LATENCY = "InferenceLatency"
TRUST_WARNING = "Warning"
#: Predictions carrying any warning: over Predictions, the drift alarm's share (one text may carry two warnings).
UNRELIABLE_PREDICTIONS = "UnreliablePredictions"
TRUNCATED_TEXTS = "TruncatedTexts"
MODEL_LOAD_TIME = "ModelLoadTime"
WARMUP_PINGS = "WarmupPings"
DEADLINE_REFUSALS = "DeadlineRefusals"

# Health checks, /docs and refused requests record no metric; Powertools would warn about each such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

F = TypeVar("F", bound=Callable[..., Any])


class DisabledTracer:
    """Stands in for Tracer where tracing is off: building a Tracer imports the X-Ray SDK and botocore even when
    disabled, which costs a cold start about half a second for nothing."""

    @overload
    def capture_method(self, method: F, **_: Any) -> F: ...

    @overload
    def capture_method(self, method: None = None, **_: Any) -> Callable[[F], F]: ...

    def capture_method(self, method: F | None = None, **_: Any) -> F | Callable[[F], F]:
        return method if method is not None else (lambda decorated: decorated)

    capture_lambda_handler = capture_method


class Observability:
    """The Logger, Metrics and Tracer of one app, named after its settings.

    Powertools configures one stdlib logger per service name, the first time a Logger of that name is built; later
    instances share its handler (tests redirect ``logger.registered_handler.stream``).
    """

    def __init__(self, settings: Settings) -> None:
        self.logger = Logger(service=settings.service_name)
        self.metrics = Metrics(namespace=settings.metrics_namespace, service=settings.service_name)
        self.tracer: Tracer | DisabledTracer = (
            Tracer(service=settings.service_name) if settings.is_tracing_enabled else DisabledTracer()
        )
        self.metrics_enabled = False

    def enable_metrics(self) -> None:
        """Called by the Lambda entry, whose ``log_metrics`` decorator flushes the metrics after every invocation."""
        self.metrics_enabled = True

    def record_metric(self, name: str, value: float, unit: MetricUnit = MetricUnit.Count) -> None:
        """Add one metric value when running under the Lambda entry."""
        if self.metrics_enabled:
            self.metrics.add_metric(name=name, unit=unit, value=value)

    def record_load_time(self, milliseconds: float) -> None:
        """How long the cold start spent loading the model."""
        self.record_metric(MODEL_LOAD_TIME, milliseconds, MetricUnit.Milliseconds)

    def record_predictions(self, predictions: Sequence[Prediction], latency_ms: float) -> None:
        """Metrics of one model call: how many texts (Average is the batch size), how long, one count per label
        and one per trust warning (so a dashboard shows how much traffic the model cannot judge).

        Invocations and errors are not repeated here: Lambda's own AWS/Lambda metrics count them for free, and each
        metric costs every request time in the EMF document.
        """
        if not self.metrics_enabled:
            return
        self.metrics.add_metric(name=PREDICTIONS, unit=MetricUnit.Count, value=len(predictions))
        self.metrics.add_metric(name=INFERENCE_LATENCY, unit=MetricUnit.Milliseconds, value=latency_ms)
        truncated = sum(prediction.truncated for prediction in predictions)
        if truncated:
            self.metrics.add_metric(name=TRUNCATED_TEXTS, unit=MetricUnit.Count, value=truncated)
        # Label and warning counts as their own metric names keep the dimension set fixed and the cardinality low.
        for label, count in Counter(prediction.emotion for prediction in predictions).items():
            self.metrics.add_metric(name=f"{PREDICTED_LABEL}_{label}", unit=MetricUnit.Count, value=count)
        unreliable = sum(bool(prediction.warnings) for prediction in predictions)
        self.metrics.add_metric(name=UNRELIABLE_PREDICTIONS, unit=MetricUnit.Count, value=unreliable)
        for code, count in Counter(code for prediction in predictions for code in prediction.warnings).items():
            self.metrics.add_metric(name=f"{TRUST_WARNING}_{code}", unit=MetricUnit.Count, value=count)
