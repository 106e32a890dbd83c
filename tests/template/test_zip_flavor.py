"""`sam build` of the zip flavor, for real: the function and its two layers, built without Docker (layers/Makefile).

What Lambda would refuse or run badly is checked on the build output: the function plus its layers must stay under
Lambda's 250 MB unzipped limit, the dependencies layer must hold the pinned onnxruntime and no torch or transformers,
the model layer the int8 ONNX graph and nothing the ONNX backend does not read. pip downloads the python3.12 wheels
from PyPI (about 60 MB, then from pip's cache). The sizes land in artifacts/zip_flavor_sizes.json.

When functions/inference/model has no int8 ONNX graph yet, the same template, layers/ and app/ are built in a
temporary copy of the project whose model folder is the tests' tiny model: the layout is checked all the same, but
the total then understates what the bundled model will weigh.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv-sam" / "bin" / "sam"
BUNDLED_MODEL = ROOT / "functions" / "inference" / "model"
FUNCTION_ID = "ZipInferenceFunction"
DEPENDENCIES_ID = "ZipDependenciesLayer"
MODEL_ID = "ZipModelLayer"
#: Lambda's limit on a function's unzipped code plus all its layers (250 MB).
LAMBDA_UNZIPPED_LIMIT = 262_144_000
ONNX_MODEL_FILES = {"model.int8.onnx", "config.json", "tokenizer.json", "tokenizer_config.json"}
REPORT_PATH = ROOT / "artifacts" / "zip_flavor_sizes.json"


def tree_bytes(path: Path) -> int:
    """Unzipped size as Lambda counts it: the bytes of every file (links are not followed)."""
    return sum(item.lstat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink())


def project_for_build(request: pytest.FixtureRequest, scratch: Path) -> tuple[Path, str]:
    """The repository when its model is exported; else a copy of what the zip flavor builds, over the tiny model."""
    if (BUNDLED_MODEL / "model.int8.onnx").is_file():
        return ROOT, "bundled"
    project = scratch / "project"
    (project / "functions" / "inference").mkdir(parents=True)
    shutil.copy2(ROOT / "template.yaml", project / "template.yaml")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "layers", project / "layers", ignore=ignore)
    app_dir = Path("functions", "inference", "app")
    shutil.copytree(ROOT / app_dir, project / app_dir, ignore=ignore)
    tiny_model_dir = request.getfixturevalue("tiny_model_dir")  # built only when needed: it takes torch
    shutil.copytree(tiny_model_dir, project / "functions" / "inference" / "model")
    return project, "tiny (functions/inference/model has no model.int8.onnx)"


@pytest.fixture(scope="module")
def build(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Runs `sam build ZipInferenceFunction` once (SAM builds the function's layers with it); returns where and what."""
    if not SAM.is_file():
        pytest.skip(f"{SAM.relative_to(ROOT)} is missing (make validate or make build-zip installs the SAM CLI)")
    scratch = tmp_path_factory.mktemp("zip-flavor")
    project, model = project_for_build(request, scratch)
    build_dir = scratch / "build"
    # PYTHON: layers/Makefile runs pip with it; this interpreter's venv has a recent pip.
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PYTHON": sys.executable}
    command = [str(SAM), "build", FUNCTION_ID, "--template", "template.yaml", "--build-dir", str(build_dir)]
    result = subprocess.run(
        [*command, "--no-cached"], cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    sizes = {name: tree_bytes(build_dir / name) for name in (FUNCTION_ID, DEPENDENCIES_ID, MODEL_ID)}
    report = {"model": model, "bytes": sizes, "total_bytes": sum(sizes.values()), "limit_bytes": LAMBDA_UNZIPPED_LIMIT}
    REPORT_PATH.parent.mkdir(exist_ok=True)
    REPORT_PATH.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return {"dir": build_dir, "report": report}


def test_function_and_layers_fit_lambdas_unzipped_limit(build: dict[str, Any]) -> None:
    report = build["report"]
    assert report["total_bytes"] < LAMBDA_UNZIPPED_LIMIT, report


def test_the_built_template_points_at_the_built_artifacts(build: dict[str, Any]) -> None:
    """sam deploy packages what the built template names: the three build folders."""
    built = (build["dir"] / "template.yaml").read_text(encoding="utf-8")
    assert re.search(rf"CodeUri: {FUNCTION_ID}\s*$", built, re.MULTILINE)
    for layer in (DEPENDENCIES_ID, MODEL_ID):
        assert re.search(rf"ContentUri: {layer}\s*$", built, re.MULTILINE), layer


def test_function_package_holds_only_the_app(build: dict[str, Any]) -> None:
    """Dependencies and the model come from layers; tests, caches and the model folder never ride in the zip."""
    function_dir = build["dir"] / FUNCTION_ID
    assert sorted(item.name for item in function_dir.iterdir()) == ["app"]
    app_dir = function_dir / "app"
    assert (app_dir / "snapstart.py").is_file() and (app_dir / "handler.py").is_file()
    assert not list(app_dir.rglob("__pycache__"))
    assert not [item for item in app_dir.rglob("*") if item.suffix in {".onnx", ".safetensors", ".bin"}]


def test_dependencies_layer_holds_the_pinned_runtime_and_no_torch(build: dict[str, Any]) -> None:
    """/opt/python: the ONNX path's pins for python3.12 on x86_64, without what the service never imports."""
    site = build["dir"] / DEPENDENCIES_ID / "python"
    names = {item.name for item in site.iterdir()}
    assert {"onnxruntime", "tokenizers", "numpy", "fastapi", "mangum", "aws_lambda_powertools"} <= names
    assert "snapshot_restore_py.py" in names
    assert not names & {"torch", "transformers", "huggingface_hub", "hf_xet", "botocore"}
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "layers" / "dependencies" / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    )
    for requirement, version in pins.items():
        distribution = re.sub(r"[-.]", "_", requirement.split("[")[0]).lower()
        assert (site / f"{distribution}-{version}.dist-info").is_dir(), f"{requirement}=={version}"
    # Wheels for Lambda's interpreter and CPU, whatever python and machine ran the build.
    binaries = [item.name for item in (site / "onnxruntime" / "capi").glob("onnxruntime_pybind11_state*.so")]
    assert binaries and all("cpython-312-x86_64-linux-gnu" in name for name in binaries), binaries


def test_model_layer_holds_only_what_the_onnx_backend_reads(build: dict[str, Any]) -> None:
    """/opt/model (MODEL_PATH in the template): the int8 graph, config, tokenizer and the trust checks' files;
    never the torch weights."""
    layer = build["dir"] / MODEL_ID
    assert sorted(item.name for item in layer.iterdir()) == ["model"]
    files = {item.name for item in (layer / "model").iterdir()}
    assert files == ONNX_MODEL_FILES | {"onnx_export.json", "trust.json", "trust.npz"}
