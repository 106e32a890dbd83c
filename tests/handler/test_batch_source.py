"""A Step Functions Distributed Map batch through the real handler: one result per item, in order, bad rows kept."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from support import LABELS, load_event

from app.bulk import ROW_ERRORS
from scripts.common.lambda_context import LocalLambdaContext


def _batch(items: list[Any], **batch_input: Any) -> dict[str, Any]:
    return {"Items": items, "BatchInput": batch_input}


def test_every_item_gets_a_result_in_order(handler_module: ModuleType) -> None:
    event = load_event("batch-distributed-map.json")
    response = handler_module.handler(event, LocalLambdaContext())
    results = response["results"]
    assert [result["index"] for result in results] == [0, 1, 2, 3, 4, 5]
    assert [result["error"] for result in results] == [None, None, "empty_text", "not_text", "missing_text", None]
    for result in (results[0], results[1], results[5]):
        assert result["emotion"] in LABELS and result["emotion"] == max(LABELS, key=result.__getitem__)
        assert sum(result[label] for label in LABELS) == pytest.approx(1.0)
        assert result["reliable"] is (result["warnings"] == [])
    assert results[2]["emotion"] is None and results[2]["confidence"] is None
    assert {result["error"] for result in results} - {None} <= set(ROW_ERRORS)


def test_a_retried_batch_gives_the_same_bytes(handler_module: ModuleType) -> None:
    event = load_event("batch-distributed-map.json")
    first = json.dumps(handler_module.handler(event, LocalLambdaContext()), sort_keys=True)
    second = json.dumps(
        handler_module.handler(load_event("batch-distributed-map.json"), LocalLambdaContext()), sort_keys=True
    )
    assert first == second


def test_the_answers_are_the_apis_to_the_last_digit(handler_module: ModuleType) -> None:
    """A row's answer does not depend on the rows beside it: in a batch the int8 activations would share a scale."""
    texts = ["I am so happy", "what a lovely surprise", "i feel scared and alone tonight", "so angry " * 40, "ok"]
    items = [{"index": i, "row": {"text": t}} for i, t in enumerate(texts)]
    results = handler_module.handler(_batch(items), LocalLambdaContext())["results"]
    for text, result in zip(texts, results, strict=True):
        single = handler_module.services.model_state.classifier.predict([text])[0]
        assert (result["emotion"], result["confidence"]) == (single.emotion, single.confidence)
        assert {label: result[label] for label in LABELS} == single.all_emotions
        assert (result["reliable"], result["warnings"]) == (single.reliable, list(single.warnings))


def test_a_batch_is_counted_as_one_model_call(handler_module: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    """Rows are classified one by one, but metrics stay one entry per invocation, not one per row (EMF holds 100)."""
    items = [{"index": i, "row": {"text": f"i feel happy today {i}"}} for i in range(150)] + [{"index": 150, "row": {}}]
    handler_module.handler(_batch([]), LocalLambdaContext())  # flushes what earlier tests left in the buffer
    capsys.readouterr()
    handler_module.handler(_batch(items), LocalLambdaContext())
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [doc["Predictions"] for doc in emf if "Predictions" in doc] == [[150.0]]


def test_bare_rows_a_named_column_and_hostile_values(handler_module: ModuleType) -> None:
    items = [{"message": "I love you"}, {"message": "x" * 6000}, {"message": "bad \ud800 surrogate"}, "not a row"]
    results = handler_module.handler(_batch(items, text_field="message"), LocalLambdaContext())["results"]
    assert [result["index"] for result in results] == [0, 1, 2, 3]
    assert [result["error"] for result in results] == [None, "text_too_long", "invalid_unicode", "not_text"]


def test_an_empty_batch_is_an_empty_answer(handler_module: ModuleType) -> None:
    assert handler_module.handler(_batch([]), LocalLambdaContext()) == {"results": []}
