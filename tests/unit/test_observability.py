"""The prediction metrics: what the dashboard and the drift alarm (template.yaml) read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.observability import PREDICTIONS, UNRELIABLE_PREDICTIONS, Observability
from app.schemas import Prediction
from app.settings import Settings


@pytest.fixture
def observability() -> Iterator[Observability]:
    built = Observability(Settings())
    built.enable_metrics()
    built.metrics.clear_metrics()
    yield built
    built.metrics.clear_metrics()


def prediction(*warnings: str) -> Prediction:
    return Prediction.model_validate(
        {
            "emotion": "joy",
            "confidence": 0.9,
            "all_emotions": {"joy": 0.9, "sadness": 0.1},
            "truncated": False,
            "reliable": not warnings,
            "warnings": list(warnings),
        }
    )


def test_unreliable_predictions_count_texts_with_any_warning_once(observability: Observability) -> None:
    # GIVEN three texts: one trusted, one with a warning, one with two
    batch = [prediction(), prediction("not_english"), prediction("no_clear_emotion", "low_confidence")]
    # WHEN their metrics are recorded
    observability.record_predictions(batch, latency_ms=12.0)
    values = {name: metric["Value"] for name, metric in observability.metrics.metric_set.items()}
    # THEN the drift alarm's share is 2 of 3, not 3 warnings of 3 texts
    assert values[PREDICTIONS] == [3.0]
    assert values[UNRELIABLE_PREDICTIONS] == [2.0]
    assert values["Warning_no_clear_emotion"] == [1.0]


def test_a_trusted_batch_reports_zero_unreliable_predictions(observability: Observability) -> None:
    """Zero is a value, so the dashboard's share reads 0 % rather than a gap."""
    observability.record_predictions([prediction(), prediction()], latency_ms=3.0)
    assert observability.metrics.metric_set[UNRELIABLE_PREDICTIONS]["Value"] == [0.0]
