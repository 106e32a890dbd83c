"""Helpers shared by the tests: the labels, a tiny model builder, sample events and the error-shape check."""

from __future__ import annotations

import importlib
import io
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

LABELS = ("anger", "fear", "joy", "love", "sadness", "surprise")
#: The dair-ai/emotion id order, deliberately not alphabetical, so label handling by name is exercised.
ID2LABEL = {0: "sadness", 1: "joy", 2: "love", 3: "anger", 4: "fear", 5: "surprise"}
WORDS = (
    "i am feeling very happy today sad angry afraid scared love you what a lovely surprise so furious terrified "
    "wonderful miserable shocked amazed the this is not good bad feel im didnt"
).split()
EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"
#: What each sample event in events/ is answered with, in-process and through the image alike: (status, error code)
#: for API Gateway events (None for a success), "warmup" for the scheduled pings, which have no HTTP response, and
#: "batch" for a Step Functions Distributed Map batch (one result per item, in order).
EVENT_ANSWERS: dict[str, tuple[int, str | None] | str] = {
    "predict.json": (200, None),
    "predict-batch.json": (200, None),
    "predict-rest-v1.json": (200, None),
    "predict-base64.json": (200, None),
    "hub-classification.json": (200, None),
    "health.json": (200, None),
    "model.json": (200, None),
    "demo.json": (200, None),
    "openapi-stage.json": (200, None),
    "warmup-scheduler.json": "warmup",
    "warmup-eventbridge.json": "warmup",
    "batch-distributed-map.json": "batch",
    "bad-empty-text.json": (422, "invalid_input"),
    "bad-invalid-json.json": (400, "invalid_body"),
    "bad-wrong-type.json": (422, "invalid_input"),
    "bad-batch-too-large.json": (422, "batch_too_large"),
    "bad-text-too-long.json": (422, "text_too_long"),
    "bad-base64.json": (400, "invalid_body"),
    "bad-non-utf8.json": (400, "invalid_body"),
    "bad-method.json": (405, "method_not_allowed"),
    "bad-unknown-path.json": (404, "not_found"),
    "bad-missing-field.json": (422, "invalid_input"),
}


def log_records(output: str) -> list[dict[str, Any]]:
    """The Powertools JSON log records in captured output, leaving out EMF metric documents and other lines."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"level"' in line]


def build_tiny_model(target: Path, *, max_positions: int = 64) -> Path:
    """A randomly initialised one-layer DistilBERT classifier with the six emotion labels, saved like a real one."""
    import torch
    from transformers import DistilBertConfig, DistilBertForSequenceClassification, DistilBertTokenizerFast

    target.mkdir(parents=True, exist_ok=True)
    vocab = target / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "!", ",", ".", "?", *WORDS]) + "\n")
    tokenizer = DistilBertTokenizerFast(vocab_file=str(vocab), model_max_length=max_positions)
    tokenizer.save_pretrained(target)
    torch.manual_seed(0)
    config = DistilBertConfig(
        vocab_size=len(vocab.read_text().split()),
        dim=16,
        n_layers=1,
        n_heads=2,
        hidden_dim=32,
        max_position_embeddings=max_positions,
        id2label=ID2LABEL,
        label2id={label: index for index, label in ID2LABEL.items()},
    )
    DistilBertForSequenceClassification(config).save_pretrained(target)
    return target


def predictions_of(backend: Any, texts: list[str]) -> list[Any]:
    """What the service would answer from a backend's raw output, with default (unfitted) trust checks."""
    from app.trust import Trust

    return Trust.defaults().judge(texts, backend.run(texts), backend.config.labels_by_index)


class FakeBackend:
    """A backend with no model: each text gets the emotion of its first keyword (``KEYWORDS``) at 0.9, else joy.

    Registered as MODEL_BACKEND=fake by the ``fake_backend`` fixture, so route and handler tests exercise the
    request path, answers that differ from text to text included, without loading a network.
    """

    KEYWORDS: ClassVar[dict[str, str]] = {
        "happy": "joy",
        "angry": "anger",
        "scared": "fear",
        "love": "love",
        "miss": "sadness",
        "wow": "surprise",
    }

    def __init__(self, config: Any, *, source: str, num_threads: int) -> None:
        from app.backends import ModelInfo

        self.config = config
        weights = config.folder / "config.json"
        self.info = ModelInfo(config.name, source, "FakeBackend", 0, 512, "fake", weights)
        self.calls: list[list[str]] = []

    def count_tokens(self, texts: Any) -> list[int]:
        """A token per word, plus the two special tokens a real tokenizer adds."""
        return [len(text.split()) + 2 for text in texts]

    def run(self, texts: Any) -> Any:
        """Logits whose softmax gives the keyword's emotion 0.9 and the others 0.02 each; no features."""
        from app.backends import ModelOutput

        self.calls.append(list(texts))
        order = list(self.config.labels_by_index)
        logits = np.full((len(texts), len(order)), np.log(0.02), dtype=np.float32)
        for row, text in enumerate(texts):
            words = text.lower().replace(",", " ").replace("!", " ").split()
            emotion = next((self.KEYWORDS[w] for w in words if w in self.KEYWORDS), "joy")
            logits[row, order.index(emotion)] = np.log(0.9)
        return ModelOutput(logits=logits, features=None, truncated=[False] * len(texts))


def load_event(name: str) -> dict:
    """A sample event from events/, as `sam local invoke -e` would send it."""
    return json.loads((EVENTS_DIR / name).read_text())


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """Every error has one shape: code, message and the request id, also sent as a header."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return error


#: Builds a TestClient for Settings overrides (see tests/api/conftest.py).
MakeClient = Callable[..., Any]


def build_test_app(model_dir: Path, *, guard: Any = None, **overrides: Any) -> Any:
    """An app over ``model_dir`` built as the Lambda init builds it; ``guard`` replaces the API-key guard."""
    from dataclasses import replace

    from app.api import build_services, create_app
    from app.settings import Settings

    services = build_services(Settings(**{"model_path": model_dir, **overrides}))
    return create_app(services if guard is None else replace(services, api_key_guard=guard))


def api_gateway_source(handler_module: Any) -> Any:
    """The entry's API Gateway event source, whose ``mangum`` attribute hands events to the app."""
    from app.sources import ApiGatewaySource

    (source,) = [source for source in handler_module.sources if isinstance(source, ApiGatewaySource)]
    return source


def redirect_logs(monkeypatch: Any) -> io.StringIO:
    """Send the function's structured logs to a string for the rest of the test, the cold start's included.

    Powertools configures one stdlib logger per service name and every Logger of that name shares its handler.
    """
    from aws_lambda_powertools import Logger

    stream = io.StringIO()
    monkeypatch.setattr(Logger(service="emotion-api").registered_handler, "stream", stream)
    return stream


@contextmanager
def serve_app(app: Any, *, timeout: float = 20.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free local port in a background thread; yields its base URL.

    A real socket, so real clients (a browser, the CLI) see exactly what a deployed URL would send.
    """
    import socket
    import threading
    import time

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-test", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


def staged_app(app: Any, stage: str) -> Any:
    """``app`` behind an API Gateway stage: only /STAGE and /STAGE/... reach it, with ``root_path`` /STAGE.

    The same scope the Lambda gateway builds from an HTTP API event, so a real client can be pointed at it.
    """
    from starlette.responses import PlainTextResponse

    prefix = f"/{stage}"

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if scope["path"] != prefix and not scope["path"].startswith(prefix + "/"):
                await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
                return
            scope = {**scope, "root_path": prefix}
        await app(scope, receive, send)

    return asgi


def fresh_handler(monkeypatch: Any, model_dir: Path, *, backend: str, **env: str) -> ModuleType:
    """Import ``app.handler`` afresh, as a new execution environment (cold start) with these settings."""
    from app.classifier import reset_model_cache
    from app.settings import get_settings

    monkeypatch.setenv("MODEL_PATH", str(model_dir))
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "EmotionApiTest")
    monkeypatch.setenv("MODEL_BACKEND", backend)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_model_cache()
    get_settings.cache_clear()
    sys.modules.pop("app.handler", None)
    return importlib.import_module("app.handler")


def forget_handler() -> None:
    from app.classifier import reset_model_cache
    from app.settings import get_settings

    sys.modules.pop("app.handler", None)
    reset_model_cache()
    get_settings.cache_clear()
