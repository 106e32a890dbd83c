"""Rows of a file, classified with the API's own rules: one result per row, in order, a bad row never failing the rest.

Used by the Step Functions Distributed Map batch source (``sources.DistributedMapSource``) and by the local
``make classify`` (scripts/classify.py), so a file gets the same answers in the cloud and on a laptop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

from .classifier import Classifier
from .schemas import Prediction

#: Why a row has no prediction; the closed set of the ``error`` column.
RowError = Literal["missing_text", "not_text", "empty_text", "text_too_long", "invalid_unicode"]
ROW_ERRORS: tuple[RowError, ...] = get_args(RowError)


def row_text(row: Any, text_field: str, max_chars: int) -> tuple[str | None, RowError | None]:
    """The row's text, or the reason it cannot be classified (the same rules as the API's request schema)."""
    if not isinstance(row, Mapping):
        return None, "not_text"
    if text_field not in row or row[text_field] is None:
        return None, "missing_text"
    text = row[text_field]
    if not isinstance(text, str):
        return None, "not_text"
    if not text.strip():
        return None, "empty_text"
    if len(text) > max_chars:
        return None, "text_too_long"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, from JSON escapes or undecodable bytes
        return None, "invalid_unicode"
    return text, None


def result_of(prediction: Prediction | None, error: RowError | None, labels: Sequence[str]) -> dict[str, Any]:
    """One flat result row: emotion, confidence, each label's probability, the trust fields, the error code."""
    if prediction is None:
        return {"emotion": None, "confidence": None, **dict.fromkeys(labels), "reliable": None, "warnings": None,
                "error": error}  # fmt: skip
    return {
        "emotion": prediction.emotion,
        "confidence": prediction.confidence,
        **{label: prediction.all_emotions[label] for label in labels},
        "reliable": prediction.reliable,
        "warnings": list(prediction.warnings),
        "error": None,
    }


def classify_rows(
    classifier: Classifier,
    rows: Sequence[Any],
    *,
    text_field: str = "text",
    max_chars: int,
    sub_batch: int = 1,
) -> list[dict[str, Any]]:
    """A result for every row, in the rows' order; the valid texts are classified in length-sorted sub-batches.

    ``sub_batch=1`` (the default) gives each text its own model call, as ``POST /predict`` does: the int8
    graph quantises activations per batch, so only then is a row's answer the API's to the last digit.
    """
    checked = [row_text(row, text_field, max_chars) for row in rows]
    valid = sorted((index for index, (text, _) in enumerate(checked) if text is not None),
                   key=lambda index: len(checked[index][0] or ""))  # fmt: skip
    predictions: dict[int, Prediction] = {}
    for start in range(0, len(valid), sub_batch):
        chunk = valid[start : start + sub_batch]
        for index, prediction in zip(chunk, classifier.predict([checked[i][0] or "" for i in chunk]), strict=True):
            predictions[index] = prediction
    labels = classifier.labels
    return [result_of(predictions.get(index), error, labels) for index, (_, error) in enumerate(checked)]
