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


@pytest.fixture(params=["onnx", "torch"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every API test runs on both backends: they must answer alike."""
    return request.param


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
