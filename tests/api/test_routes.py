"""The HTTP contract: what a caller sends and gets back, errors included."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support import LABELS, MakeClient, assert_error, log_records, redirect_logs

from app.api import build_app
from app.settings import Settings


def test_predict_returns_a_full_distribution_over_six_labels(client: TestClient) -> None:
    response = client.post("/predict", json={"text": "what a lovely surprise"})
    assert response.status_code == 200
    body = response.json()
    assert body["emotion"] in LABELS
    assert set(body["all_emotions"]) == set(LABELS)
    assert sum(body["all_emotions"].values()) == pytest.approx(1.0, abs=1e-5)
    assert body["confidence"] == max(body["all_emotions"].values())
    assert body["emotion"] == next(iter(body["all_emotions"]))
    assert body["truncated"] is False


def test_batch_keeps_order_and_matches_single_predictions(client: TestClient) -> None:
    texts = ["i feel so sad", "what a lovely surprise", "i am furious"]
    response = client.post("/predict/batch", json={"texts": texts})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert len(predictions) == 3
    for text, prediction in zip(texts, predictions, strict=True):
        single = client.post("/predict", json={"text": text}).json()
        assert prediction["emotion"] == single["emotion"]
        assert prediction["all_emotions"] == pytest.approx(single["all_emotions"], abs=1e-4)


def test_a_long_text_is_answered_and_marked_truncated(real_client: TestClient) -> None:
    response = real_client.post("/predict", json={"text": "happy " * 300})
    assert response.status_code == 200
    assert response.json()["truncated"] is True


def test_health_labels_and_model_describe_the_loaded_model(real_client: TestClient, real_backend: str) -> None:
    client, backend = real_client, real_backend
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["model_loaded"] is True
    assert health.json()["labels"] == list(LABELS)
    assert client.get("/labels").json() == {"labels": list(LABELS)}
    model = client.get("/model").json()
    assert model["architecture"] == "DistilBertForSequenceClassification"
    assert model["parameters"] > 1000
    assert model["revision"].startswith("sha256:")
    assert model["max_length"] == 64
    assert model["backend"] == backend


def test_health_is_503_when_the_model_is_not_loaded(make_client: MakeClient, tmp_path) -> None:
    client = make_client(model_path=tmp_path / "missing")
    assert_error(client.get("/health"), 503, "model_unavailable")
    assert_error(client.post("/predict", json={"text": "hello"}), 503, "model_unavailable")
    assert_error(client.get("/model"), 503, "model_unavailable")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"text": ""}, "invalid_input"),
        ({"text": " \n\t "}, "invalid_input"),
        ({}, "invalid_input"),
        ({"text": 42}, "invalid_input"),
        ({"text": ["a"]}, "invalid_input"),
        ({"text": None}, "invalid_input"),
        ({"text": "ok", "extra": 1}, "invalid_input"),
        ([{"text": "a list"}], "invalid_input"),
        ({"text": "a" * 5001}, "text_too_long"),
    ],
)
def test_bad_single_inputs_are_422_without_echoing_input(client: TestClient, body: object, code: str) -> None:
    response = client.post("/predict", json=body)
    error = assert_error(response, 422, code)
    assert "a" * 50 not in response.text
    for detail in error.get("details", []):
        assert set(detail) == {"loc", "type"}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"texts": []}, "invalid_input"),
        ({"texts": "not a list"}, "invalid_input"),
        ({"texts": ["ok", ""]}, "invalid_input"),
        ({"texts": ["ok"] * 33}, "batch_too_large"),
    ],
)
def test_bad_batches_are_422(client: TestClient, body: object, code: str) -> None:
    assert_error(client.post("/predict/batch", json=body), 422, code)


def test_limits_follow_settings(make_client: MakeClient) -> None:
    client = make_client(max_batch=2, max_text_chars=10)
    assert_error(client.post("/predict/batch", json={"texts": ["a", "b", "c"]}), 422, "batch_too_large")
    assert_error(client.post("/predict", json={"text": "a" * 11}), 422, "text_too_long")
    assert client.post("/predict", json={"text": "a" * 10}).status_code == 200


def test_malformed_bodies_are_400(client: TestClient) -> None:
    headers = {"content-type": "application/json"}
    assert_error(client.post("/predict", content=b'{"text": ', headers=headers), 400, "invalid_body")
    assert_error(client.post("/predict", content=b'{"text": "\xff\xfe"}', headers=headers), 400, "invalid_body")
    assert_error(client.post("/predict", content=b"", headers=headers), 422, "invalid_input")
    assert_error(client.post("/predict", content=b"null", headers=headers), 422, "invalid_input")


def test_each_prediction_is_its_own_texts_and_a_batch_keeps_the_order(client: TestClient) -> None:
    # GIVEN texts the fake backend reads as four different emotions
    texts = ["so happy today", "I am angry", "I miss you", "wow"]
    # WHEN they are sent as a batch; THEN each prediction is its own text's, in the order given
    response = client.post("/predict/batch", json={"texts": texts})
    assert response.status_code == 200
    assert [p["emotion"] for p in response.json()["predictions"]] == ["joy", "anger", "sadness", "surprise"]
    assert client.post("/predict", json={"text": "I am angry"}).json()["emotion"] == "anger"


def test_lone_surrogates_are_rejected_not_crashed_on(client: TestClient) -> None:
    body = b'{"text": "broken \\ud800 escape"}'
    assert_error(
        client.post("/predict", content=body, headers={"content-type": "application/json"}), 422, "invalid_input"
    )


def test_non_json_and_compressed_bodies_are_415(client: TestClient) -> None:
    body = b'{"text": "hello"}'
    assert_error(
        client.post("/predict", content=body, headers={"content-type": "text/plain"}), 415, "unsupported_media_type"
    )
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert_error(client.post("/predict", content=b"text=hello", headers=form), 415, "unsupported_media_type")
    gzip = {"content-type": "application/json", "content-encoding": "gzip"}
    assert_error(client.post("/predict", content=body, headers=gzip), 415, "unsupported_media_type")
    not_json = client.post("/predict", content=b"text=hello")
    assert "content-type" not in not_json.request.headers
    assert_error(not_json, 415, "unsupported_media_type")
    assert "Content-Type" in not_json.json()["error"]["message"]


def test_json_sent_without_content_type_is_read_as_json(client: TestClient) -> None:
    # GIVEN a JSON body with no Content-Type, as API Gateway's console test events and `requests.post(data=...)` send
    response = client.post("/predict", content=b'{"text": "I am so happy today"}')
    assert "content-type" not in response.request.headers
    # THEN it is classified like any JSON request, and its mistakes are reported as such
    assert response.status_code == 200, response.text
    assert set(response.json()["all_emotions"]) == set(LABELS)
    assert_error(client.post("/predict", content=b'{"txt": "hi"}'), 422, "invalid_input")
    assert_error(client.post("/predict", content=b""), 422, "invalid_input")


def test_bodies_over_the_cap_are_413(make_client: MakeClient) -> None:
    client = make_client(max_body_bytes=2048)
    response = client.post("/predict", json={"text": "a" * 3000})
    assert_error(response, 413, "payload_too_large")


def test_wrong_method_is_405_and_unknown_path_404(client: TestClient) -> None:
    assert_error(client.get("/predict"), 405, "method_not_allowed")
    assert_error(client.delete("/predict/batch"), 405, "method_not_allowed")
    assert_error(client.get("/nowhere"), 404, "not_found")


def test_an_exception_in_inference_is_a_bare_500(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.classifier import Classifier

    def explode(self: Classifier, texts: list[str]) -> None:
        raise RuntimeError("secret internal detail /opt/model")

    monkeypatch.setattr(Classifier, "predict", explode)
    response = client.post("/predict", json={"text": "hello"})
    assert_error(response, 500, "internal_error")
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    monkeypatch.undo()
    assert client.post("/predict", json={"text": "hello"}).status_code == 200


def test_incoming_request_ids_are_echoed_when_safe(client: TestClient) -> None:
    response = client.get("/health", headers={"x-request-id": "trace-123"})
    assert response.headers["x-request-id"] == "trace-123"
    response = client.get("/health", headers={"x-request-id": "bad id\nwith newline"})
    assert response.headers["x-request-id"] != "bad id\nwith newline"


@pytest.mark.parametrize("sent", ["trace-123\n", "trace-123\r\n", "\ntrace-123"])
def test_a_request_id_with_a_line_break_is_replaced_not_echoed(client: TestClient, sent: str) -> None:
    # GIVEN a safe-looking id with a line break at either end (a plain ASGI server hands it over as sent)
    # WHEN it is sent; THEN the answer carries a fresh id, never the sent one, in the header and the body alike
    response = client.get("/nope", headers={"x-request-id": sent})
    error = assert_error(response, 404, "not_found")
    assert "trace-123" not in error["request_id"]
    assert "\n" not in response.headers["x-request-id"]


def test_cors_answers_only_configured_origins(make_client: MakeClient) -> None:
    client = make_client(cors_allow_origins=("https://app.example",))
    preflight = {"access-control-request-method": "POST"}
    allowed = client.options("/predict", headers={"origin": "https://app.example", **preflight})
    assert allowed.headers.get("access-control-allow-origin") == "https://app.example"
    denied = client.options("/predict", headers={"origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in denied.headers


def test_refused_cors_preflights_answer_in_the_error_shape(make_client: MakeClient) -> None:
    client = make_client(cors_allow_origins=("https://app.example",))
    refusals = [
        {"origin": "https://evil.example", "access-control-request-method": "POST"},
        {"origin": "https://app.example", "access-control-request-method": "DELETE"},
        {
            "origin": "https://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-other",
        },
    ]
    for headers in refusals:
        response = client.options("/predict", headers=headers)
        assert_error(response, 400, "cors_refused")
        assert response.headers["content-type"] == "application/json"
        assert "Origin" in response.headers["vary"]
        if headers["origin"] != "https://app.example":
            assert "access-control-allow-origin" not in response.headers


def test_openapi_documents_examples_and_the_error_shape(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    predict = schema["paths"]["/predict"]["post"]
    assert {"200", "401", "413", "415", "422", "503"} <= set(predict["responses"])
    components = schema["components"]["schemas"]
    assert components["PredictRequest"]["examples"] == [{"text": "I am feeling very happy today!"}]
    assert "error" in components["ErrorBody"]["properties"]


def test_no_documentation_page_loads_scripts_from_a_cdn(client: TestClient) -> None:
    # FastAPI's Swagger UI and ReDoc load their code from a CDN at a floating version: neither is served.
    for path in ("/redoc", "/docs/oauth2-redirect"):
        assert_error(client.get(path), 404, "not_found")
    # /docs is Swagger UI from the image (tests/api/test_api_docs.py): no URL on it leaves this origin.
    assert not re.search(r'(?:src|href)="(?!data:)(?:[a-z]+:|//)', client.get("/docs").text)


def test_health_names_no_model_location(make_client: MakeClient, tiny_model_dir: Path) -> None:
    # GIVEN the open health route, which anyone may call
    health = make_client().get("/health")
    # THEN it says a model is loaded, but not where it came from (no path, no bucket)
    assert health.status_code == 200
    assert health.json()["model"].keys() == {"name", "backend"}
    assert str(tiny_model_dir) not in health.text and "s3://" not in health.text


@pytest.mark.parametrize("headers", [{"host": "a:b"}, {"host": "a:1:2"}, {"x-forwarded-port": "abc"}])
def test_an_unusable_host_or_forwarded_port_is_answered_and_logged(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, headers: dict[str, str]
) -> None:
    # GIVEN a plain ASGI server's request with a Host or X-Forwarded-Port that names no server address
    stream = redirect_logs(monkeypatch)
    # WHEN an open route and a prediction are asked for; THEN both are answered, each with its request log line
    assert client.get("/health", headers=headers).status_code == 200
    assert client.post("/predict", json={"text": "so happy"}, headers=headers).status_code == 200
    lines = [record for record in log_records(stream.getvalue()) if record["message"] == "request"]
    assert [line["status"] for line in lines] == [200, 200]


def test_the_costliest_batch_of_the_limits_is_refused_by_the_work_bound(client: TestClient) -> None:
    # GIVEN the default limits, under which MAX_BATCH texts of MAX_TEXT_CHARS each cost some 25-50 normal batches
    # WHEN that request is sent; THEN it is refused before any model work, in the one error shape, saying why
    error = assert_error(
        client.post("/predict/batch", json={"texts": ["so happy " * 555] * 32}), 422, "request_too_long"
    )
    assert "4096 tokens" in error["message"]
    # AND an ordinary full batch still passes
    assert client.post("/predict/batch", json={"texts": ["I miss you so much, come home soon"] * 32}).status_code == 200


def test_the_work_bound_counts_the_tokens_the_model_reads(
    tiny_model_dir: Path, real_backend: str, reset_model: None
) -> None:
    # GIVEN the tiny model, which reads at most 64 tokens of a text, and a bound of 512 tokens a request
    client = TestClient(
        build_app(Settings(model_path=tiny_model_dir, model_backend=real_backend, max_request_tokens=512)),
        raise_server_exceptions=False,
    )
    long_text = "what a lovely surprise " * 100  # far beyond 64 tokens: it counts 64, as the model reads it
    # WHEN eight such texts are sent (8 x 64 = 512 tokens); THEN they are classified, on either route
    assert client.post("/predict/batch", json={"texts": [long_text] * 8}).status_code == 200
    assert client.post("/", json={"inputs": [long_text] * 8}).status_code == 200
    # AND a ninth is over the bound: refused on either route, while one such text alone always passes
    assert_error(client.post("/predict/batch", json={"texts": [long_text] * 9}), 422, "request_too_long")
    assert_error(client.post("/", json={"inputs": [long_text] * 9}), 422, "request_too_long")
    assert client.post("/predict", json={"text": long_text}).status_code == 200
