"""API Gateway events through the real Lambda entry: what `sam local invoke -e events/...` would return."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from support import (
    EVENT_ANSWERS,
    EVENTS_DIR,
    LABELS,
    api_gateway_source,
    forget_handler,
    fresh_handler,
    load_event,
    log_records,
)

from scripts.common.lambda_context import LocalLambdaContext


def _body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def test_predict_event_returns_200_with_six_probabilities(handler_module: ModuleType) -> None:
    response = handler_module.handler(load_event("predict.json"), LocalLambdaContext())
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "application/json"
    body = _body(response)
    assert set(body["all_emotions"]) == set(LABELS)
    assert sum(body["all_emotions"].values()) == pytest.approx(1.0, abs=1e-5)
    # The API Gateway request id is the request id callers see.
    assert response["headers"]["x-request-id"] == load_event("predict.json")["requestContext"]["requestId"]


@pytest.mark.parametrize("name", [name for name, answer in EVENT_ANSWERS.items() if answer == (200, None)])
def test_good_events_succeed(handler_module: ModuleType, name: str) -> None:
    response = handler_module.handler(load_event(name), LocalLambdaContext())
    assert response["statusCode"] == 200, response["body"]


def test_batch_event_keeps_order(tiny_model_dir: Path, fake_backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a handler over the fake backend, which reads "happy", "angry", "miss" and "wow" as four emotions
    module = fresh_handler(monkeypatch, tiny_model_dir, backend=fake_backend)
    event = load_event("predict-batch.json")
    event["body"] = json.dumps({"texts": ["so happy", "I am angry", "I miss you", "wow"]})
    # WHEN the batch is classified; THEN the n-th prediction is the n-th text's
    predictions = _body(module.handler(event, LocalLambdaContext()))["predictions"]
    assert [p["emotion"] for p in predictions] == ["joy", "anger", "sadness", "surprise"]
    forget_handler()


BAD_EVENTS = {name: answer for name, answer in EVENT_ANSWERS.items() if name.startswith("bad-")}


def test_every_event_file_has_a_documented_answer() -> None:
    assert {path.name for path in EVENTS_DIR.glob("*.json")} == set(EVENT_ANSWERS)


@pytest.mark.parametrize(("name", "expected"), BAD_EVENTS.items())
def test_bad_events_get_a_4xx_json_error(handler_module: ModuleType, name: str, expected: tuple[int, str]) -> None:
    event = load_event(name)
    response = handler_module.handler(event, LocalLambdaContext())
    assert (response["statusCode"], _body(response)["error"]["code"]) == expected
    assert _body(response)["error"]["request_id"] == event["requestContext"]["requestId"]
    # The very next good request in the same environment still succeeds.
    assert handler_module.handler(load_event("predict.json"), LocalLambdaContext())["statusCode"] == 200


@pytest.mark.parametrize("name", ["warmup-scheduler.json", "warmup-eventbridge.json"])
def test_warmup_is_answered_without_fastapi(
    handler_module: ModuleType, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    def no_mangum(*args: object) -> None:
        raise AssertionError("a warm-up must not reach the app")

    monkeypatch.setattr(api_gateway_source(handler_module), "mangum", no_mangum)
    first = handler_module.handler(load_event(name), LocalLambdaContext())
    second = handler_module.handler(load_event(name), LocalLambdaContext())
    assert first == {"warmup": True, "cold_start": True, "model_loaded": True, "model": first["model"]}
    assert second["cold_start"] is False


def test_the_model_loads_once_per_environment(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, reset_model: None
) -> None:
    import importlib
    import sys

    import app.classifier
    from app.settings import get_settings

    loads: list[Path] = []
    real_load = app.classifier.load_backend

    def counting_load(kind: str, model_dir: Path, **kwargs: Any) -> Any:
        loads.append(model_dir)
        return real_load(kind, model_dir, **kwargs)

    monkeypatch.setattr(app.classifier, "load_backend", counting_load)
    monkeypatch.setenv("MODEL_PATH", str(tiny_model_dir))
    get_settings.cache_clear()
    sys.modules.pop("app.handler", None)
    handler_module = importlib.import_module("app.handler")
    # The load happened during init, before any invocation.
    assert loads == [tiny_model_dir]
    for _ in range(3):
        assert handler_module.handler(load_event("predict.json"), LocalLambdaContext())["statusCode"] == 200
    assert loads == [tiny_model_dir]
    sys.modules.pop("app.handler", None)
    get_settings.cache_clear()


def test_the_schema_works_under_a_stage_path(handler_module: ModuleType) -> None:
    schema = _body(handler_module.handler(load_event("openapi-stage.json"), LocalLambdaContext()))
    assert "/predict" in schema["paths"]
    assert schema["servers"] == [{"url": "/dev"}]


def test_no_documentation_page_loads_code_from_elsewhere(handler_module: ModuleType) -> None:
    def get(path: str) -> dict[str, Any]:
        event = load_event("openapi-stage.json")
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        return dict(handler_module.handler(event, LocalLambdaContext()))

    # ReDoc and FastAPI's own Swagger UI load scripts from a CDN at a floating version: neither is served.
    for path in ("/dev/redoc", "/dev/docs/oauth2-redirect"):
        response = get(path)
        assert response["statusCode"] == 404, path
        assert "cdn" not in response["body"].lower()
    # /docs is Swagger UI from the image (app/api_docs.py): under a stage path, through Lambda, its page refers to
    # its files by relative URL only, and each comes back whole (Swagger UI's bundle is the largest, ~1.5 MB).
    page = get("/dev/docs")
    assert page["statusCode"] == 200
    assert "cdn" not in page["body"].lower() and "//" not in page["body"]
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "docs.js"):
        asset = get(f"/dev/docs/{name}")
        assert asset["statusCode"] == 200, name
        assert f'"docs/{name}"' in page["body"]
    assert "SwaggerUIBundle" in get("/dev/docs/swagger-ui-bundle.js")["body"]


def test_unknown_event_types_are_refused_cleanly(handler_module: ModuleType) -> None:
    response = handler_module.handler({"hello": "world"}, LocalLambdaContext())
    assert response["error"]["code"] == "unsupported_event"


def test_metrics_are_flushed_as_emf_every_invocation(
    handler_module: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    handler_module.handler(load_event("predict-batch.json"), LocalLambdaContext())
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {
        metric["Name"]
        for doc in emf
        for directive in doc["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    assert {"Predictions", "InferenceLatency"} <= names
    assert any(name.startswith("PredictedLabel_") for name in names)
    # Lambda's own metrics count invocations; repeating them would only slow every request down.
    assert not names & {"Invocations", "BatchSize"}


@pytest.fixture
def log_stream(handler_module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What the function's logger writes from here on."""
    stream = io.StringIO()
    monkeypatch.setattr(handler_module.logger.registered_handler, "stream", stream)
    return stream


def test_logs_carry_the_request_id_but_not_the_text(handler_module: ModuleType, log_stream: io.StringIO) -> None:
    handler_module.handler(load_event("predict.json"), LocalLambdaContext())
    out = log_stream.getvalue()
    (line,) = log_records(out)  # one line per request, carrying what the route added
    assert line["message"] == "request"
    assert line["correlation_id"] == load_event("predict.json")["requestContext"]["requestId"]
    assert line["text_chars"] == [len("I am feeling very happy today!")]
    assert line["labels"] and line["status"] == 200
    assert "feeling very happy" not in out


@pytest.mark.parametrize(
    ("event_file", "status", "code"),
    [
        ("bad-empty-text.json", 422, "invalid_input"),
        ("bad-batch-too-large.json", 422, "batch_too_large"),
        ("bad-invalid-json.json", 400, "invalid_body"),
        ("bad-unknown-path.json", 404, "not_found"),
    ],
)
def test_a_refused_request_is_still_one_log_line_naming_the_error(
    handler_module: ModuleType, log_stream: io.StringIO, event_file: str, status: int, code: str
) -> None:
    response = handler_module.handler(load_event(event_file), LocalLambdaContext())
    assert response["statusCode"] == status
    (line,) = log_records(log_stream.getvalue())
    assert (line["message"], line["status"], line["error_code"]) == ("request", status, code)
    assert line["error_code"] == json.loads(response["body"])["error"]["code"]


#: Host and X-Forwarded-Port values no server address can be read from (Mangum split and int() them).
UNUSABLE_SERVER_HEADERS = [{"host": "a:b"}, {"host": "a:1:2"}, {"x-forwarded-port": "abc"}, {"host": "[::1]:443"}]


def _with_headers(event: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """The event with these headers replacing theirs, in both header maps a REST (payload 1.0) event carries."""
    for field in ("headers", "multiValueHeaders"):
        if event.get(field):
            kept = {name: value for name, value in event[field].items() if name.lower() not in headers}
            added = {name: [value] if field == "multiValueHeaders" else value for name, value in headers.items()}
            event[field] = {**kept, **added}
    return event


@pytest.mark.parametrize("headers", UNUSABLE_SERVER_HEADERS, ids=lambda headers: "=".join(*headers.items()))
@pytest.mark.parametrize("event_file", ["health.json", "predict.json", "predict-rest-v1.json"])
def test_an_unusable_host_or_forwarded_port_is_ignored_not_a_500(
    handler_module: ModuleType, log_stream: io.StringIO, event_file: str, headers: dict[str, str]
) -> None:
    # GIVEN an open route and a prediction, each sent with a Host or X-Forwarded-Port that names no server address
    event = _with_headers(load_event(event_file), headers)
    # WHEN the function answers it
    response = handler_module.handler(event, LocalLambdaContext())
    # THEN the header is ignored: the request is answered as without it, and leaves its one log line for the alarms
    assert response["statusCode"] == 200, response["body"]
    (line,) = [record for record in log_records(log_stream.getvalue()) if record["message"] == "request"]
    assert line["status"] == 200


def test_an_event_the_gateway_cannot_read_still_writes_the_request_log_line(
    handler_module: ModuleType, log_stream: io.StringIO
) -> None:
    # GIVEN an event Mangum cannot build a request from; WHEN it is answered (500, in the error shape)
    event = {**load_event("health.json"), "headers": None}
    response = handler_module.handler(event, LocalLambdaContext())
    assert response["statusCode"] == 500
    # THEN the request line the 5xx alarm counts is written, naming the error
    (line,) = [record for record in log_records(log_stream.getvalue()) if record["message"] == "request"]
    assert (line["status"], line["error_code"], line["path"]) == (500, "internal_error", "/health")
