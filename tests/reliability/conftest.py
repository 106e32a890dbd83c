"""Fixtures for the reliability suite: one warm execution environment of the real Lambda entry, tiny model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lambda_events import backend_for
from support import forget_handler, fresh_handler

from scripts.common.lambda_context import LocalLambdaContext


@pytest.fixture(scope="module")
def lambda_handler(tiny_model_dir: Path) -> Iterator[ModuleType]:
    """One execution environment shared by a whole module (like a warm Lambda serving many requests)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        module = fresh_handler(monkeypatch, tiny_model_dir, backend=backend_for(tiny_model_dir))
        yield module
    forget_handler()


@pytest.fixture
def invoke(lambda_handler: ModuleType) -> Any:
    """Call the shared handler with an event and a fresh Lambda context."""

    def call(event: Any, context: Any = None) -> Any:
        return lambda_handler.handler(event, context or LocalLambdaContext())

    return call
