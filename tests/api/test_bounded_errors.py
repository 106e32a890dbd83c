"""A small bad request gets a small answer: any invalid body up to MAX_BODY_BYTES is refused with a short 4xx, fast.

Past Lambda's 6 MB response limit an error body would fail the invocation, the gateway would answer 5xx and the
function's error alarm (a deployment's rollback alarm) would fire: anyone could roll back a deployment.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import assert_error, forget_handler, fresh_handler, load_event, redirect_logs

from app.schemas import MAX_ERROR_DETAILS, MAX_ITEMS
from scripts.common.lambda_context import LocalLambdaContext

#: The largest error body any invalid request may get.
MAX_ERROR_BODY_BYTES = 64 * 1024
#: MAX_BODY_BYTES' default: the largest body the function reads.
MAX_BODY_BYTES = 1_048_576
#: CPU seconds an invalid request may cost; before the fix, 800 KB of numbers cost 9 s. Most refusals take 5-50 ms;
#: parsing 1 MB of empty arrays (350,000 objects) takes about 0.3 s by itself, more on a loaded machine.
MAX_CPU_SECONDS = 2.0


def filled(prefix: str, item: str, suffix: str, size: int) -> str:
    """``prefix item,item,...,item suffix``: as many items as fit in ``size`` bytes."""
    count = (size - len(prefix) - len(suffix)) // (len(item) + 1)
    return prefix + ",".join([item] * count) + suffix


#: (route, body): wrong-typed items, valid but too many items, unknown fields, all as large as the function reads.
HOSTILE_BODIES: dict[str, tuple[str, Callable[[int], str]]] = {
    "batch of numbers": ("/predict/batch", lambda size: filled('{"texts":[', "1", "]}", size)),
    "hub list of numbers": ("/", lambda size: filled('{"inputs":[', "1", "]}", size)),
    "batch of empty texts": ("/predict/batch", lambda size: filled('{"texts":[', '""', "]}", size)),
    "batch of valid texts": ("/predict/batch", lambda size: filled('{"texts":[', '"a"', "]}", size)),
    "hub list of objects": ("/", lambda size: filled('{"inputs":[', "{}", "]}", size)),
    "batch of nested lists": ("/predict/batch", lambda size: filled('{"texts":[', "[]", "]}", size)),
    "unknown fields": (
        "/predict",
        lambda size: '{"text":"hi",' + ",".join(f'"f{i}":0' for i in range(size // 12)) + "}",
    ),
}


def assert_small_refusal(status: int, body: bytes) -> dict[str, Any]:
    """A 4xx in the one error shape, at most 64 KB, listing at most a few details and naming nothing internal."""
    assert 400 <= status < 500, body[:200]
    assert len(body) <= MAX_ERROR_BODY_BYTES, len(body)
    error: dict[str, Any] = json.loads(body)["error"]
    details = error.get("details", [])
    assert len(details) <= MAX_ERROR_DETAILS
    for detail in details:
        for part in detail["loc"]:
            assert isinstance(part, int) or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part), detail
    return error


@pytest.mark.parametrize("size", [120_000, MAX_BODY_BYTES - 1024], ids=["120KB", "1MB"])
@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
def test_a_large_invalid_request_gets_a_small_answer_in_milliseconds(client: TestClient, name: str, size: int) -> None:
    # GIVEN an invalid body of up to 1 MB
    path, build = HOSTILE_BODIES[name]
    body = build(size)
    assert len(body) <= MAX_BODY_BYTES
    # WHEN it is posted
    started = time.process_time()
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    spent = time.process_time() - started
    # THEN the refusal is short, and cheap to make
    assert_small_refusal(response.status_code, response.content)
    assert spent < MAX_CPU_SECONDS, f"{name}: {spent:.2f} s of CPU"


def test_the_refusal_counts_every_problem_but_lists_only_the_first(client: TestClient) -> None:
    # GIVEN a batch of three numbers among texts (within MAX_ITEMS, so every item is checked)
    response = client.post("/predict/batch", json={"texts": [1, "fine", 2, 3, 4, 5, 6, 7]})
    # THEN the first problems are named by place and kind, and the count says how many there were
    error = assert_error(response, 422, "invalid_input")
    assert error["details"][0] == {"loc": ["body", "texts", 0], "type": "string_type"}
    assert len(error["details"]) == MAX_ERROR_DETAILS
    assert error["detail_count"] == 7


@pytest.mark.parametrize(("path", "field"), [("/predict/batch", "texts"), ("/", "inputs")])
def test_an_over_long_list_is_one_problem_the_batch_being_too_large(client: TestClient, path: str, field: str) -> None:
    # GIVEN more items than any batch may hold, none of them valid
    response = client.post(path, json={field: [1] * (MAX_ITEMS + 1)})
    # THEN the answer is the one a batch over MAX_BATCH gets, with one detail, not one per item
    error = assert_error(response, 422, "batch_too_large")
    assert error["message"] == "A batch holds at most 32 texts."
    assert {"loc": ["body", field], "type": "batch_too_large"} in error["details"]
    assert error["detail_count"] <= 2  # for inputs, also "not a single text"


def test_hub_errors_name_fields_not_validators(client: TestClient) -> None:
    # GIVEN a Hugging Face request whose inputs are neither a text nor a list of texts
    error = assert_error(client.post("/", json={"inputs": [1]}), 422, "invalid_input")
    # THEN the details name the field and the item, never pydantic's union members or validator functions
    assert {"loc": ["body", "inputs", 0], "type": "string_type"} in error["details"]
    assert "function-after" not in json.dumps(error) and "_check_text" not in json.dumps(error)


def test_the_schema_bounds_every_list_a_request_may_carry(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["BatchPredictRequest"]["properties"]["texts"]["maxItems"] == MAX_ITEMS
    hub_list = next(option for option in schemas["HubRequest"]["properties"]["inputs"]["anyOf"] if "items" in option)
    assert hub_list["maxItems"] == MAX_ITEMS


@pytest.mark.parametrize("name", ["batch of numbers", "hub list of numbers", "unknown fields"])
def test_through_the_lambda_handler_the_answer_and_the_log_stay_small(
    tiny_model_dir: Path, fake_backend: str, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # GIVEN the Lambda entry, its logs captured
    logs = redirect_logs(monkeypatch)
    module = fresh_handler(monkeypatch, tiny_model_dir, backend=fake_backend)
    path, build = HOSTILE_BODIES[name]
    event = load_event("predict-batch.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["body"] = build(MAX_BODY_BYTES - 1024)
    # WHEN API Gateway hands it a 1 MB invalid body
    started = time.process_time()
    response = module.handler(event, LocalLambdaContext())
    spent = time.process_time() - started
    forget_handler()
    # THEN the proxy response is a small 4xx, far below Lambda's 6 MB limit, and so is the request's log line
    assert_small_refusal(response["statusCode"], response["body"].encode())
    assert spent < MAX_CPU_SECONDS, f"{name}: {spent:.2f} s of CPU"
    assert max(len(line) for line in logs.getvalue().splitlines()) <= MAX_ERROR_BODY_BYTES
