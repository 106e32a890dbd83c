"""Readiness while the model loads on its own thread: /health says 503 until the model is whole, a request that
arrives first waits for it, and nothing ever reads a half-loaded model."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import FakeBackend, assert_error

#: Released by each test when the load may go on; a load blocked on it never finishes by itself.
LOAD_GATE = threading.Event()
#: Set once the blocked load has reached the gate.
AT_GATE = threading.Event()
GATE_TIMEOUT_S = 30


class GatedBackend(FakeBackend):
    """FakeBackend whose construction waits for the test: the load is caught half-way, the backend half-built."""

    def __init__(self, config: Any, *, source: str, num_threads: int) -> None:
        AT_GATE.set()
        if not LOAD_GATE.wait(GATE_TIMEOUT_S):
            raise RuntimeError("the test never released the load")
        super().__init__(config, source=source, num_threads=num_threads)


class CrashingBackend(FakeBackend):
    """A backend with a bug (not a bad model folder): the error must reach whoever waits for the load."""

    def __init__(self, config: Any, *, source: str, num_threads: int) -> None:
        raise RuntimeError("a bug in the backend")


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch, reset_model: None) -> Iterator[str]:
    from app.backends import BACKENDS

    monkeypatch.setitem(BACKENDS, "gated", (__name__, "GatedBackend"))
    LOAD_GATE.clear()
    AT_GATE.clear()
    yield "gated"
    LOAD_GATE.set()


def _loading_app(model_dir: Path, backend: str) -> tuple[Any, Any]:
    """An app whose model load has started on its thread, as the Lambda entry starts it, and not been joined."""
    from app.api import create_app
    from app.classifier import start_loading
    from app.observability import Observability
    from app.security import ApiKeyGuard
    from app.services import Services
    from app.settings import Settings

    settings = Settings(model_path=model_dir, model_backend=backend)
    observability = Observability(settings)
    state = start_loading(settings, observability)
    guard = ApiKeyGuard(settings, logger=observability.logger)
    return create_app(Services(settings, state, guard, observability)), state


def test_health_is_503_while_the_model_loads_then_200(tiny_model_dir: Path, gate: str) -> None:
    # GIVEN an app whose model is still loading
    app, state = _loading_app(tiny_model_dir, gate)
    assert AT_GATE.wait(GATE_TIMEOUT_S)
    client = TestClient(app)
    # WHEN /health is asked meanwhile; THEN it says the model is unavailable
    assert_error(client.get("/health"), 503, "model_unavailable")
    # and once the load has finished it says ready
    LOAD_GATE.set()
    assert state.wait(GATE_TIMEOUT_S) is not None
    assert client.get("/health").status_code == 200


def test_a_request_that_arrives_during_the_load_waits_for_it(
    tiny_model_dir: Path, gate: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.classifier import ModelState

    # GIVEN an app whose model is still loading, and a note of the moment a request starts waiting for it
    waiting = threading.Event()
    ready = ModelState.ready

    async def noted_ready(self: ModelState) -> Any:
        waiting.set()
        return await ready(self)

    monkeypatch.setattr(ModelState, "ready", noted_ready)
    app, _ = _loading_app(tiny_model_dir, gate)
    assert AT_GATE.wait(GATE_TIMEOUT_S)
    answers: list[Any] = []
    with TestClient(app) as client:
        # WHEN a prediction arrives before the model is loaded
        request = threading.Thread(target=lambda: answers.append(client.post("/predict", json={"text": "so happy"})))
        request.start()
        # THEN it waits for the load (without holding up /health, still 503 meanwhile)...
        assert waiting.wait(GATE_TIMEOUT_S), "the request did not wait for the load"
        assert_error(client.get("/health"), 503, "model_unavailable")
        assert not answers
        LOAD_GATE.set()
        request.join(GATE_TIMEOUT_S)
    # ...and is answered by the loaded model
    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json()["emotion"] == "joy"


def test_the_classifier_appears_only_whole(tiny_model_dir: Path, gate: str) -> None:
    # GIVEN a load caught half-way, its backend under construction
    _, state = _loading_app(tiny_model_dir, gate)
    assert AT_GATE.wait(GATE_TIMEOUT_S)
    # THEN nothing of it is visible: no classifier, no failure, still loading
    assert (state.classifier, state.failure, state.is_loading) == (None, None, True)
    # WHEN it finishes; THEN the classifier comes with its trust checks and answers
    LOAD_GATE.set()
    classifier = state.wait(GATE_TIMEOUT_S)
    assert classifier is not None and not state.is_loading
    assert classifier.trust is not None
    assert classifier.predict(["I am so happy"])[0].emotion == "joy"


def test_a_load_that_crashes_fails_the_init_loudly(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, reset_model: None
) -> None:
    from app.api import build_app
    from app.backends import BACKENDS
    from app.settings import Settings

    # GIVEN a backend with a bug; WHEN the app is built (the Lambda init); THEN the bug is raised, not swallowed
    monkeypatch.setitem(BACKENDS, "crashing", (__name__, "CrashingBackend"))
    settings = Settings(model_path=tiny_model_dir, model_backend="crashing")
    with pytest.raises(RuntimeError, match="a bug in the backend"):
        build_app(settings)
    # and not kept: once the bug is gone, building again loads the model
    monkeypatch.setitem(BACKENDS, "crashing", ("support", "FakeBackend"))
    assert TestClient(build_app(settings)).get("/health").status_code == 200


def test_a_failed_load_answers_503_without_waiting(tmp_path: Path, reset_model: None) -> None:
    from app.api import build_app
    from app.settings import Settings

    # GIVEN a model folder with nothing in it: the load fails (a bad model, not a bug)
    client = TestClient(build_app(Settings(model_path=tmp_path)))
    # THEN health and predictions answer 503 at once
    assert_error(client.get("/health"), 503, "model_unavailable")
    assert_error(client.post("/predict", json={"text": "so happy"}), 503, "model_unavailable")
