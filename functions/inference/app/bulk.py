"""Rows of a file, classified with the API's own rules: one result per row, in order, a bad row never failing the rest.

Used by the Step Functions Distributed Map batch source (``sources.DistributedMapSource``) and by the local
``make classify`` (scripts/cli/classify.py), so a file gets the same answers in the cloud and on a laptop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

from .classifier import Classifier
from .schemas import Prediction
from .text_rules import text_problem

#: Why a row has no prediction; the closed set of the ``error`` column.
RowError = Literal["missing_text", "not_text", "empty_text", "text_too_long", "invalid_unicode"]
ROW_ERRORS: tuple[RowError, ...] = get_args(RowError)


def row_text(row: Any, text_field: str, max_chars: int) -> tuple[str | None, RowError | None]:
    """The row's text, or the reason it cannot be classified (text_rules.py: the API's request rules)."""
    if not isinstance(row, Mapping):
        return None, "not_text"
    if text_field not in row or row[text_field] is None:
        return None, "missing_text"
    text = row[text_field]
    if not isinstance(text, str):
        return None, "not_text"
    problem = text_problem(text, max_chars)
    return (text, None) if problem is None else (None, problem)


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
    classifier: Classifier, rows: Sequence[Any], *, text_field: str = "text", max_chars: int
) -> list[dict[str, Any]]:
    """A result for every row, in the rows' order; each valid text in its own model call, as ``POST /predict``.

    ``Classifier.predict`` gives every text its own model call, so each row gets exactly the API's answer, on a
    laptop and on Lambda alike (docs/batch-invariance.md compares that with a batch-invariant int8 graph).
    """
    checked = [row_text(row, text_field, max_chars) for row in rows]
    valid = [index for index, (text, _) in enumerate(checked) if text is not None]
    texts = [checked[index][0] or "" for index in valid]
    by_row = dict(zip(valid, classifier.predict(texts), strict=True)) if valid else {}
    labels = classifier.labels
    return [result_of(by_row.get(index), error, labels) for index, (_, error) in enumerate(checked)]
