"""An app over the tiny model, built the way the Lambda init builds it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import MakeClient

from app.api import build_app
from app.settings import Settings


@pytest.fixture
def backend(fake_backend: str) -> str:
    """Route tests run on the fake backend (support.FakeBackend): they prove the HTTP contract, not a model.

    test_routes.py's real-backend test and tests/unit run the ONNX and torch backends themselves.
    """
    return fake_backend


@pytest.fixture(params=["onnx", "torch"])
def real_backend(request: pytest.FixtureRequest) -> str:
    """The two real backends, for the tests whose answer depends on a model (truncation, model facts)."""
    return str(request.param)


@pytest.fixture
def real_client(tiny_model_dir: Path, real_backend: str, reset_model: None) -> TestClient:
    settings = Settings(model_path=tiny_model_dir, model_backend=real_backend)
    return TestClient(build_app(settings), raise_server_exceptions=False)


@pytest.fixture
def make_client(tiny_model_dir: Path, backend: str, reset_model: None) -> Iterator[MakeClient]:
    """Build a client for settings overrides; server exceptions become responses, as in production."""

    def make(guard_client: Any = None, **overrides: Any) -> TestClient:
        settings = Settings(**{"model_path": tiny_model_dir, "model_backend": backend, **overrides})
        return TestClient(build_app(settings, key_store_client=guard_client), raise_server_exceptions=False)

    yield make


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()
