"""A corpus of hostile requests, kept as API Gateway event files in events/corpus/, run through the Lambda entry.

Each event gets its documented answer from events/corpus/expected.json: a 4xx in the one error shape (or a 200
where the input is valid text), never a 5xx; and the very next good request in the same execution environment
succeeds. The few events that are too big to keep in git (a 1 MB text, a 10,000-item batch, a 2 MB body, JSON
nested 100,000 deep) are built here at test time from the same template.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from lambda_events import assert_error_shape, body_of, http_event
from reports import record
from support import EVENTS_DIR, LABELS, load_event

CORPUS_DIR = EVENTS_DIR / "corpus"
EXPECTED: dict[str, dict[str, Any]] = json.loads((CORPUS_DIR / "expected.json").read_text(encoding="utf-8"))
JSON = {"content-type": "application/json"}


def _generated() -> dict[str, tuple[Callable[[], dict[str, Any]], dict[str, Any]]]:
    """Events over 100 KB, built at test time rather than committed."""
    return {
        "generated:text-1mb": (
            lambda: http_event("POST", "/predict", body=json.dumps({"text": "a" * 1_000_000}), headers=JSON),
            {"category": "limits", "what": "a 1,000,000-character text", "status": 422, "code": "text_too_long"},
        ),
        "generated:batch-10000": (
            lambda: http_event(
                "POST", "/predict/batch", body=json.dumps({"texts": ["I am happy"] * 10_000}), headers=JSON
            ),
            {"category": "limits", "what": "a batch of 10,000 texts", "status": 422, "code": "batch_too_large"},
        ),
        "generated:body-2mb": (
            lambda: http_event("POST", "/predict", body=json.dumps({"text": "a" * 2_000_000}), headers=JSON),
            {
                "category": "limits",
                "what": "a 2 MB body (over MAX_BODY_BYTES)",
                "status": 413,
                "code": "payload_too_large",
            },
        ),
        "generated:body-2mb-base64": (
            lambda: http_event("POST", "/predict", body=json.dumps({"text": "b" * 2_000_000}).encode(), headers=JSON),
            {
                "category": "limits",
                "what": "a 2 MB body sent base64-encoded",
                "status": 413,
                "code": "payload_too_large",
            },
        ),
        "generated:json-nested-100000": (
            lambda: http_event(
                "POST", "/predict", body='{"text": ' + "[" * 100_000 + "]" * 100_000 + "}", headers=JSON
            ),
            {"category": "body syntax", "what": "JSON nested 100,000 deep", "status": 400, "code": "invalid_body"},
        ),
    }


GENERATED = _generated()


def _load(name: str) -> dict[str, Any]:
    if name in GENERATED:
        return GENERATED[name][0]()
    return json.loads((CORPUS_DIR / name).read_text(encoding="utf-8"))


def _expected(name: str) -> dict[str, Any]:
    return GENERATED[name][1] if name in GENERATED else EXPECTED[name]


CORPUS = sorted(EXPECTED) + sorted(GENERATED)


def test_every_corpus_file_has_an_expectation() -> None:
    files = {path.name for path in CORPUS_DIR.glob("*.json")} - {"expected.json"}
    assert files == set(EXPECTED)
    assert len(files) >= 60


def test_committed_corpus_files_stay_small() -> None:
    """Big inputs are generated at test time; the repository keeps nothing over 100 KB."""
    assert max(path.stat().st_size for path in CORPUS_DIR.glob("*.json")) < 100_000


def _assert_prediction(body: Any) -> None:
    predictions = body.get("predictions", [body])
    assert predictions
    for prediction in predictions:
        assert set(prediction["all_emotions"]) == set(LABELS)
        assert sum(prediction["all_emotions"].values()) == pytest.approx(1.0, abs=1e-4)
        assert prediction["emotion"] in LABELS


@pytest.mark.parametrize("name", CORPUS)
def test_hostile_input_gets_its_documented_answer(invoke: Any, name: str) -> None:
    event, expected = _load(name), _expected(name)
    started = time.perf_counter()
    response = invoke(event)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if expected["status"] is None:
        # Not an API Gateway event: refused in a plain error object, since there is no HTTP response to give.
        assert response["error"]["code"] == expected["code"]
        observed = "refused"
    elif expected["status"] == 200:
        assert response["statusCode"] == 200, response["body"]
        _assert_prediction(body_of(response))
        observed = "200"
    else:
        error = assert_error_shape(response, expected["status"], expected["code"])
        request_id = (event.get("requestContext") or {}).get("requestId")
        if request_id:
            assert error["request_id"] == request_id
        # Only events API Gateway never sends may get a 5xx (a handler-level 500 in the error shape).
        assert response["statusCode"] < 500 or expected["category"] == "not from API Gateway"
        observed = f"{response['statusCode']} {error['code']}"
    # The very next good request in the same execution environment still succeeds.
    good = invoke(load_event("predict.json"))
    assert good["statusCode"] == 200, good["body"]
    record(
        "corpus",
        name.removeprefix("generated:").removesuffix(".json"),
        category=expected["category"],
        what=expected["what"],
        expected=f"{expected['status'] or 'refused'} {expected['code'] or ''}".strip(),
        observed=observed,
        generated=name in GENERATED,
        ms=round(elapsed_ms, 1),
        next_good_request=good["statusCode"],
    )


def test_corpus_files_are_plain_lambda_events() -> None:
    """Replayable as they are with scripts/cli/invoke.py or `sam local invoke -e`: no test-only fields."""
    for name, expected in EXPECTED.items():
        event = json.loads((CORPUS_DIR / name).read_text(encoding="utf-8"))
        if expected["category"] == "not from API Gateway":
            continue
        assert set(event) <= {"version", "routeKey", "rawPath", "rawQueryString", "headers", "requestContext",
                              "isBase64Encoded", "body"}, name  # fmt: skip
        assert event["version"] == "2.0" and event["requestContext"]["http"]["path"] == event["rawPath"], name
