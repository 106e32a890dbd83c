"""The handler run as the container image runs it: the AWS Lambda Runtime Interface Client in its own process.

A small Lambda Runtime API emulator on loopback hands out events and collects the responses, so the test sees
what the Lambda service would: init once, then one invocation after another in the same process.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from support import load_event

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "functions" / "inference"
API_PREFIX = "/2018-06-01/runtime"


class RuntimeApiEmulator:
    """Implements the Runtime API calls the client makes: next, response, error, init error."""

    def __init__(self) -> None:
        self.pending: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.results: queue.Queue[tuple[str, str, Any]] = queue.Queue()
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # the client keeps its connection open between invocations

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                if self.path != f"{API_PREFIX}/invocation/next":
                    self.send_error(404)
                    return
                request_id, event = emulator.pending.get()
                body = json.dumps(event).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
                self.send_header(
                    "Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:emotion-api"
                )
                self.send_header("Lambda-Runtime-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                payload = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = self.path.removeprefix(API_PREFIX).strip("/").split("/")
                kind = parts[-1]
                request_id = parts[1] if parts[0] == "invocation" else "init"
                emulator.results.put((kind, request_id, json.loads(payload or b"null")))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, event: Any, timeout: float = 60) -> tuple[str, Any]:
        request_id = str(uuid.uuid4())
        self.pending.put((request_id, event))
        kind, answered_id, payload = self.results.get(timeout=timeout)
        assert answered_id in (request_id, "init"), (answered_id, payload)
        return kind, payload

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def runtime(tiny_model_dir: Path, tmp_path: Path) -> Iterator[tuple[RuntimeApiEmulator, Path]]:
    emulator = RuntimeApiEmulator()
    log_path = tmp_path / "function.log"
    env = {
        **os.environ,
        "AWS_LAMBDA_RUNTIME_API": emulator.address,
        "AWS_LAMBDA_FUNCTION_NAME": "emotion-api",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/emotion-api",
        "AWS_LAMBDA_LOG_STREAM_NAME": "test",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "MODEL_PATH": str(tiny_model_dir),
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "awslambdaric", "app.handler.handler"],
            cwd=FUNCTION_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield emulator, log_path
        finally:
            process.kill()
            process.wait(timeout=10)
            emulator.close()


@pytest.mark.slow
def test_the_image_entrypoint_serves_cold_and_warm_invocations(runtime: tuple[RuntimeApiEmulator, Path]) -> None:
    emulator, log_path = runtime

    kind, cold = emulator.invoke(load_event("predict.json"))
    assert kind == "response", cold
    assert cold["statusCode"] == 200
    assert json.loads(cold["body"])["emotion"]

    kind, warm = emulator.invoke(load_event("health.json"))
    assert (kind, warm["statusCode"]) == ("response", 200)

    kind, ping = emulator.invoke(load_event("warmup-scheduler.json"))
    assert kind == "response"
    assert ping == {"warmup": True, "cold_start": False, "model_loaded": True, "model": ping["model"]}

    kind, bad = emulator.invoke(load_event("bad-invalid-json.json"))
    assert (kind, bad["statusCode"]) == ("response", 400)
    assert json.loads(bad["body"])["error"]["code"] == "invalid_body"

    kind, again = emulator.invoke(load_event("predict.json"))
    assert json.loads(again["body"]) == json.loads(cold["body"])

    logs = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert [record["message"] for record in logs if record.get("message") == "model_loaded"] == ["model_loaded"]
