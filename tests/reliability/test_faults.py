"""Fault injection through the real Lambda entry: each fault is set up, then a cold start (a fresh import of
``app.handler``) and a few requests show what callers and the logs see.

- model directory missing, empty, corrupt or with partial weights;
- S3 model source unreachable, access denied, object missing, /tmp full (moto, botocore's Stubber, OSError);
- API-key store unavailable;
- an exception inside inference;
- too little Lambda time left (the deadline check).
"""

from __future__ import annotations

import errno
import json
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from lambda_events import assert_error_shape, backend_for, body_of, http_event
from moto import mock_aws
from reports import record
from support import api_gateway_source, forget_handler, fresh_handler, log_records, redirect_logs

from scripts.common.lambda_context import LocalLambdaContext

JSON = {"content-type": "application/json"}
PREDICT = ("POST", "/predict", '{"text": "I am feeling very happy today!"}')
BATCH = ("POST", "/predict/batch", '{"texts": ["I am happy", "I am sad"]}')
HEALTH = ("GET", "/health", None)
LABELS_ROUTE = ("GET", "/labels", None)

Logs = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Logs]:
    """The function's structured log records, including those written during the cold start."""
    stream = redirect_logs(monkeypatch)

    yield lambda: log_records(stream.getvalue())


@pytest.fixture
def cold_start(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path) -> Iterator[Callable[..., ModuleType]]:
    """A new execution environment with the given MODEL_PATH and settings; forgotten afterwards."""

    def start(model_dir: Path, *, backend: str | None = None, **env: str) -> ModuleType:
        return fresh_handler(monkeypatch, model_dir, backend=backend or backend_for(tiny_model_dir), **env)

    yield start
    forget_handler()


def _call(module: ModuleType, route: tuple[str, str, str | None], **headers: str) -> dict[str, Any]:
    method, path, body = route
    return module.handler(http_event(method, path, body=body, headers={**JSON, **headers}), LocalLambdaContext())


def _copy_model(tiny_model_dir: Path, target: Path) -> Path:
    shutil.copytree(tiny_model_dir, target)
    return target


def _weights(model_dir: Path) -> Path:
    """The weights file the backend under test reads (set by the test via ``_weights.backend``)."""
    return model_dir / ("model.int8.onnx" if _weights.backend == "onnx" else "model.safetensors")  # type: ignore[attr-defined]


def _drop_head_tensors(model_dir: Path) -> None:
    """Partial weights: a valid safetensors file that lacks the classification head."""
    from safetensors.torch import load_file, save_file

    path = model_dir / "model.safetensors"
    tensors = {k: v for k, v in load_file(path).items() if "classifier" not in k}
    save_file(tensors, path, metadata={"format": "pt"})


MODEL_FAULTS: dict[str, Callable[[Path], None]] = {
    "directory missing": lambda d: shutil.rmtree(d),
    "directory empty": lambda d: [p.unlink() for p in d.iterdir()],
    "config.json not JSON": lambda d: (d / "config.json").write_text("{not json"),
    "config.json duplicate labels": lambda d: (d / "config.json").write_text(
        (d / "config.json").read_text().replace('"sadness"', '"joy"')
    ),
    "weights missing": lambda d: _weights(d).unlink(),
    "weights garbage": lambda d: _weights(d).write_bytes(b"\x00garbage" * 1000),
    "weights truncated": lambda d: _weights(d).write_bytes(_weights(d).read_bytes()[: _weights(d).stat().st_size // 2]),
    "weights partial (head tensors missing)": _drop_head_tensors,
    "tokenizer missing": lambda d: [p.unlink() for p in d.iterdir() if p.name.startswith(("tokenizer", "vocab"))],
}


def _assert_unavailable(module: ModuleType, *, code: str = "model_unavailable") -> None:
    """Every model route answers 503 in the error shape; the message says what is wrong, nothing internal."""
    for route in (HEALTH, PREDICT, BATCH, LABELS_ROUTE):
        response = _call(module, route)
        error = assert_error_shape(response, 503, code)
        assert "not loaded" in error["message"] or "could not be read" in error["message"]
        assert "/" not in error["message"] and "Traceback" not in response["body"]


def _model_fault_cases() -> list[Any]:
    cases = []
    for backend in ("onnx", "torch"):
        for fault in MODEL_FAULTS:
            weights_only = fault.startswith("weights")
            if backend == "torch" and not weights_only:
                continue  # directory, config and tokenizer faults are the same for both backends: run them once
            if backend == "onnx" and fault == "weights partial (head tensors missing)":
                continue  # the ONNX graph carries its weights: truncation and garbage cover it
            cases.append(pytest.param(backend, fault, id=f"{backend}-{fault}"))
    return cases


@pytest.mark.parametrize(("backend", "fault"), _model_fault_cases())
def test_a_broken_model_answers_503_and_logs_once_per_cold_start(
    tiny_model_dir: Path,
    tmp_path: Path,
    cold_start: Callable[..., ModuleType],
    logs: Logs,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    fault: str,
) -> None:
    if backend == "onnx" and not (tiny_model_dir / "model.int8.onnx").is_file():
        pytest.skip("the test model has no ONNX export")
    monkeypatch.setattr(_weights, "backend", backend, raising=False)
    model_dir = _copy_model(tiny_model_dir, tmp_path / "model")
    MODEL_FAULTS[fault](model_dir)

    module = cold_start(model_dir, backend=backend)  # the import (Lambda init) does not raise: no crash loop
    warmup = module.handler({"warmup": True}, LocalLambdaContext())
    assert warmup["model_loaded"] is False
    for _ in range(3):
        _assert_unavailable(module)

    failures = [r for r in logs() if r["message"] == "model_load_failed"]
    assert len(failures) == 1, "the load failure is logged once per cold start, not per request"
    assert failures[0]["level"] == "ERROR" and "Traceback" in failures[0]["exception"]
    refused = [r for r in logs() if r["message"] == "request" and r.get("error_code") == "model_unavailable"]
    assert len(refused) == 12 and all("exception" not in r and r["status"] == 503 for r in refused)
    # The next cold start tries again (a fixed model is picked up) and logs it once more.
    cold_start(model_dir, backend=backend)
    assert len([r for r in logs() if r["message"] == "model_load_failed"]) == 2
    record("faults", f"model ({backend}): {fault}", result="503 model_unavailable", load_failures_logged=1, requests=12)


def test_a_fixed_model_is_picked_up_by_the_next_cold_start(
    tiny_model_dir: Path, tmp_path: Path, cold_start: Callable[..., ModuleType]
) -> None:
    model_dir = tmp_path / "model"
    assert _call(cold_start(model_dir), HEALTH)["statusCode"] == 503
    _copy_model(tiny_model_dir, model_dir)
    assert _call(cold_start(model_dir), PREDICT)["statusCode"] == 200


# --- S3 model source -------------------------------------------------------------------------------------------


def _s3_cold_start(
    cold_start: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, client: Any
) -> ModuleType:
    import app.model_source

    monkeypatch.setattr(app.model_source, "_default_client", lambda: client)
    return cold_start(
        tmp_path / "unused", MODEL_S3_URI="s3://models/emotion/v1", MODEL_CACHE_DIR=str(tmp_path / "cache")
    )


def test_s3_unreachable_is_retried_a_bounded_number_of_times_then_503(
    tmp_path: Path, cold_start: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch, logs: Logs
) -> None:
    import app.model_source

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # discard port: connection refused
    client = app.model_source._default_client()  # the function's own client: its retry and timeout settings
    attempts: list[str] = []
    client.meta.events.register("before-send.s3.*", lambda **kwargs: attempts.append(kwargs["event_name"]))
    started = time.perf_counter()
    module = _s3_cold_start(cold_start, monkeypatch, tmp_path, client)
    seconds = time.perf_counter() - started

    # botocore's max_attempts counts retries: one first attempt plus three retries, then it gives up.
    assert len(attempts) == app.model_source.S3_RETRIES["max_attempts"] + 1
    assert seconds < 20, "a cold start must give up in seconds"
    _assert_unavailable(module)
    assert len([r for r in logs() if r["message"] == "model_load_failed"]) == 1
    assert not list((tmp_path).glob("model-*")), "no half-downloaded staging directory is left in /tmp"
    record(
        "faults",
        "S3: endpoint unreachable",
        result="503 model_unavailable",
        attempts=len(attempts),
        init_seconds=round(seconds, 2),
    )


def _models_bucket(files: Iterable[Path]) -> Any:
    """A moto S3 client whose ``models`` bucket holds ``files`` under the prefix the cold start reads."""
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="models")
    for path in files:
        client.upload_file(str(path), "models", f"emotion/v1/{path.name}")
    return client


def _stubbed_s3() -> tuple[Any, Stubber]:
    client = boto3.client("s3", region_name="us-east-1")
    return client, Stubber(client)


def test_s3_access_denied_is_503(
    tmp_path: Path, cold_start: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch, logs: Logs
) -> None:
    client, stubber = _stubbed_s3()
    stubber.add_client_error("list_objects_v2", "AccessDenied", "Access Denied", 403)
    with stubber:
        module = _s3_cold_start(cold_start, monkeypatch, tmp_path, client)
    stubber.assert_no_pending_responses()
    _assert_unavailable(module)
    failure = next(r for r in logs() if r["message"] == "model_load_failed")
    assert failure["reason"].endswith("AccessDenied")
    record("faults", "S3: access denied", result="503 model_unavailable")


def test_s3_object_missing_is_503(
    tmp_path: Path, cold_start: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, stubber = _stubbed_s3()
    stubber.add_response(
        "list_objects_v2",
        {"Contents": [{"Key": "emotion/v1/config.json", "Size": 10}], "IsTruncated": False, "KeyCount": 1},
    )
    # The object was listed but is gone by the time it is fetched.
    stubber.add_client_error("head_object", "404", "Not Found", 404)
    with stubber:
        module = _s3_cold_start(cold_start, monkeypatch, tmp_path, client)
    _assert_unavailable(module)
    assert not (tmp_path / "cache").exists()
    record("faults", "S3: object missing", result="503 model_unavailable")


@mock_aws
def test_s3_prefix_with_a_partial_model_is_503(
    tiny_model_dir: Path, tmp_path: Path, cold_start: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _models_bucket([tiny_model_dir / "config.json"])  # no weights
    module = _s3_cold_start(cold_start, monkeypatch, tmp_path, client)
    _assert_unavailable(module)
    record("faults", "S3: prefix holds a partial model (moto)", result="503 model_unavailable")


@mock_aws
def test_tmp_full_is_503_and_leaves_nothing_behind(
    tiny_model_dir: Path, tmp_path: Path, cold_start: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _models_bucket(tiny_model_dir.iterdir())
    real_download = client.download_file
    downloads: list[str] = []

    def disk_full_after_first(bucket: str, key: str, filename: str, **kwargs: Any) -> None:
        downloads.append(key)
        if len(downloads) > 1:
            raise OSError(errno.ENOSPC, "No space left on device", filename)
        real_download(bucket, key, filename, **kwargs)

    monkeypatch.setattr(client, "download_file", disk_full_after_first)
    module = _s3_cold_start(cold_start, monkeypatch, tmp_path, client)
    _assert_unavailable(module)
    assert len(downloads) == 2, "gives up at the first ENOSPC"
    assert not (tmp_path / "cache").exists() and not list(tmp_path.glob("model-*")), "the partial copy is removed"
    record("faults", "S3: /tmp full (ENOSPC)", result="503 model_unavailable")


# --- API key store ----------------------------------------------------------------------------------------------


@mock_aws
def test_an_unavailable_key_store_denies_everything_and_health_says_why(
    tiny_model_dir: Path, cold_start: Callable[..., ModuleType], logs: Logs
) -> None:
    module = cold_start(tiny_model_dir, API_KEY_SECRET_NAME="emotion-api/key", API_KEY_CACHE_SECONDS="0")
    for key in (None, "", "wrong", "the-right-key-that-cannot-be-checked"):
        headers = {"x-api-key": key} if key is not None else {}
        for route in (PREDICT, BATCH):
            response = _call(module, route, **headers)
            assert_error_shape(response, 503, "auth_unavailable")
    health = _call(module, HEALTH)
    assert "API key store could not be read" in assert_error_shape(health, 503, "auth_unavailable")["message"]
    assert any(r["message"] == "api_key_unavailable" for r in logs())

    # The store comes back: the right key is let in, others are not, /health recovers.
    secret = "s3cr3t-" + "x" * 24
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name="emotion-api/key", SecretString=secret)
    assert _call(module, PREDICT, **{"x-api-key": secret})["statusCode"] == 200
    assert_error_shape(_call(module, PREDICT, **{"x-api-key": "wrong"}), 401, "unauthorized")
    assert_error_shape(_call(module, PREDICT), 401, "unauthorized")
    assert _call(module, HEALTH)["statusCode"] == 200
    assert secret not in json.dumps(logs()), "the key is never logged"
    record("faults", "API key: Secrets Manager secret missing", result="503 auth_unavailable, then 200/401/401")


def test_a_key_store_access_denied_denies(
    tiny_model_dir: Path, cold_start: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.security

    client = boto3.client("ssm", region_name="us-east-1")
    stubber = Stubber(client)
    for _ in range(4):
        stubber.add_client_error("get_parameter", "AccessDeniedException", "not allowed", 400)
    real_init = app.security.ApiKeyGuard.__init__

    def with_stubbed_client(self: Any, settings: Any, **kwargs: Any) -> None:
        real_init(self, settings, **{**kwargs, "boto3_client": client})

    monkeypatch.setattr(app.security.ApiKeyGuard, "__init__", with_stubbed_client)
    with stubber:
        module = cold_start(tiny_model_dir, API_KEY_PARAMETER_NAME="/emotion-api/key", API_KEY_CACHE_SECONDS="0")
        assert_error_shape(_call(module, PREDICT, **{"x-api-key": "anything"}), 503, "auth_unavailable")
        assert_error_shape(_call(module, HEALTH), 503, "auth_unavailable")
    record("faults", "API key: SSM access denied (Stubber)", result="503 auth_unavailable")


# --- inference and deadline -------------------------------------------------------------------------------------


def test_an_exception_inside_inference_is_a_500_that_leaks_nothing(
    lambda_handler: ModuleType, monkeypatch: pytest.MonkeyPatch, logs: Logs
) -> None:
    classifier = lambda_handler.services.model_state.classifier
    secret_detail = "CUDA-like failure at /var/task/model/secret.bin token=abc123"

    def explode(texts: Any) -> Any:
        raise RuntimeError(secret_detail)

    monkeypatch.setattr(classifier._backend, "run", explode)
    event = http_event(*PREDICT[:2], body=PREDICT[2], headers=JSON, request_id="Boom-1")
    response = lambda_handler.handler(event, LocalLambdaContext())
    error = assert_error_shape(response, 500, "internal_error")
    assert error["request_id"] == "Boom-1"
    for leak in ("RuntimeError", "secret.bin", "abc123", "Traceback", "/var/task"):
        assert leak not in response["body"]
    failures = [r for r in logs() if r["message"] == "unhandled_error"]
    assert len(failures) == 1
    assert failures[0]["request_id"] == "Boom-1" and failures[0]["correlation_id"] == "Boom-1"
    assert "RuntimeError" in failures[0]["exception"]
    monkeypatch.undo()
    assert _call(lambda_handler, PREDICT)["statusCode"] == 200, "the next request is served"
    record("faults", "exception inside inference", result="500 internal_error, logged with the request id")


@pytest.mark.parametrize("remaining_ms", [0, 1, 999])
def test_too_little_time_left_answers_504_before_doing_the_work(
    lambda_handler: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], remaining_ms: int
) -> None:
    def no_work(*args: object) -> None:
        raise AssertionError("no work may start without the time to finish it")

    monkeypatch.setattr(api_gateway_source(lambda_handler), "mangum", no_work)
    capsys.readouterr()
    event = http_event(*PREDICT[:2], body=PREDICT[2], headers=JSON, request_id="Late-1")
    response = lambda_handler.handler(event, LocalLambdaContext(remaining_ms=remaining_ms))
    error = assert_error_shape(response, 504, "deadline_exceeded")
    assert error["request_id"] == "Late-1"
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any("DeadlineRefusals" in doc for doc in emf)
    # A warm-up ping is still answered: it does no work.
    assert lambda_handler.handler({"warmup": True}, LocalLambdaContext(remaining_ms=remaining_ms))["warmup"] is True
    record("faults", f"deadline: {remaining_ms} ms left", result="504 deadline_exceeded, app not called")


def test_enough_time_left_is_served(lambda_handler: ModuleType) -> None:
    minimum = lambda_handler.services.settings.min_remaining_ms
    response = _call_with_time(lambda_handler, minimum)
    assert response["statusCode"] == 200
    rest = lambda_handler.handler(
        json.loads((Path(__file__).resolve().parents[2] / "events/predict-rest-v1.json").read_text()),
        LocalLambdaContext(remaining_ms=minimum - 1),
    )
    assert_error_shape(rest, 504, "deadline_exceeded")
    assert "multiValueHeaders" in rest


def _call_with_time(module: ModuleType, remaining_ms: int) -> dict[str, Any]:
    event = http_event(*PREDICT[:2], body=PREDICT[2], headers=JSON)
    return module.handler(event, LocalLambdaContext(remaining_ms=remaining_ms))


def test_the_deadline_check_can_be_turned_off(tiny_model_dir: Path, cold_start: Callable[..., ModuleType]) -> None:
    module = cold_start(tiny_model_dir, MIN_REMAINING_MS="0")
    response = _call_with_time(module, 0)
    assert response["statusCode"] == 200
    assert body_of(response)["emotion"]
