"""Shared fixtures: fake AWS credentials, a Lambda context, and a tiny DistilBERT built on the spot (no downloads)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from support import build_tiny_model, forget_handler, fresh_handler

from scripts.common.lambda_context import LocalLambdaContext


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region, so no test can reach a real AWS account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with both backends' files: Hugging Face weights and the int8 ONNX graph."""
    from scripts.model.export_onnx import export

    model_dir = build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
    export(model_dir)
    return model_dir


@pytest.fixture
def lambda_context() -> LocalLambdaContext:
    return LocalLambdaContext()


@pytest.fixture
def reset_model() -> Iterator[None]:
    """Each test that loads a model starts from a clean execution environment."""
    from app.classifier import reset_model_cache

    reset_model_cache()
    yield
    reset_model_cache()


@pytest.fixture
def handler_module(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """``app.handler`` imported afresh, as in a new execution environment, over the tiny model."""
    yield fresh_handler(monkeypatch, tiny_model_dir, backend="onnx")
    forget_handler()


@pytest.fixture
def fake_backend(monkeypatch: pytest.MonkeyPatch) -> str:
    """Registers support.FakeBackend as MODEL_BACKEND=fake for this test; returns its name."""
    from app.backends import BACKENDS

    monkeypatch.setitem(BACKENDS, "fake", ("support", "FakeBackend"))
    return "fake"
