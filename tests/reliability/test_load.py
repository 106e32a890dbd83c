"""A short load run in the suite: the same app on a real loopback socket, concurrent clients, mixed requests.

``make load`` runs the long version (scripts/perf/loadtest.py: a uvicorn subprocess, 20,000+ requests, several
minutes). Here the app already loaded by the test session is served by uvicorn in a thread, so the run costs
seconds; its resident memory is this process's.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import psutil
import pytest
import uvicorn
from reports import record

from scripts.perf.loadtest import run_load, verdict

pytestmark = pytest.mark.slow

LOAD_REQUESTS = int(os.environ.get("LOAD_REQUESTS", "160"))


@pytest.fixture(scope="module")
def served(lambda_handler: ModuleType) -> Iterator[str]:
    """The app the Lambda entry wraps, served on 127.0.0.1 by uvicorn in a background thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(lambda_handler.app, lifespan="off", log_config=None, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-load", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(20)
    sock.close()


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def test_concurrent_mixed_load_has_no_errors_and_flat_memory(served: str) -> None:
    result = run_load(
        served, requests=LOAD_REQUESTS, max_seconds=120, users=4, warmup=20, pool_size=16, rss=_rss_mb, rss_every=20
    )
    result.update(rss_start=result["rss_mb_series"][0][1], rss_end=result["rss_mb_series"][-1][1])
    failures = verdict(result, min_requests=LOAD_REQUESTS, rss_growth_mb=40)
    assert not failures, failures
    assert result["single"] and result["batch"], "the mix has both kinds"
    record(
        "load",
        "suite (in-process uvicorn, tiny model)",
        requests=result["requests"],
        users=4,
        errors=result["errors"],
        mismatched_answers=result["mismatched_answers"],
        requests_per_second=result["requests_per_second"],
        p50_ms=result["latency_ms"]["p50"],
        p99_ms=result["latency_ms"]["p99"],
        rss_start_mb=result["rss_start"],
        rss_end_mb=result["rss_end"],
    )


def test_the_leak_check_catches_a_leak(
    served: str, lambda_handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deliberately leaking model (3 MB kept per request) must fail the memory check: the check can fail."""
    classifier = lambda_handler.services.model_state.classifier
    real_predict = classifier.predict
    hoard: list[bytearray] = []

    def leaking_predict(texts: Any) -> Any:
        hoard.append(bytearray(os.urandom(3 << 20)))
        return real_predict(texts)

    monkeypatch.setattr(classifier, "predict", leaking_predict)
    result = run_load(served, requests=40, max_seconds=120, users=4, warmup=0, pool_size=4, rss=_rss_mb, rss_every=5)
    result.update(rss_start=result["rss_mb_series"][0][1], rss_end=result["rss_mb_series"][-1][1])
    failures = verdict(result, min_requests=40, rss_growth_mb=40)
    assert any("RSS grew" in failure for failure in failures), result["rss_mb_series"]
    hoard.clear()


def test_the_verdict_flags_errors_and_wrong_answers() -> None:
    base = {
        "requests": 10,
        "errors": 0,
        "error_samples": [],
        "mismatched_answers": 0,
        "rss_start": 100.0,
        "rss_end": 101.0,
    }
    assert verdict(dict(base), min_requests=10, rss_growth_mb=5) == []
    assert verdict({**base, "requests": 9}, min_requests=10, rss_growth_mb=5)
    assert verdict({**base, "errors": 1, "error_samples": ["500"]}, min_requests=10, rss_growth_mb=5)
    assert verdict({**base, "mismatched_answers": 1}, min_requests=10, rss_growth_mb=5)
