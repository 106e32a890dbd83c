"""The ONNX backend answers like the torch backend, without importing torch or transformers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import onnx
import onnxruntime as ort
import pytest
from support import LABELS, predictions_of

from app.backends import ModelLoadError, load_backend, onnx_backend

TEXTS = ["i am feeling very happy today", "what a lovely surprise", "so furious " * 60, "sad"]


def test_onnx_and_torch_give_the_same_answers(tiny_model_dir: Path) -> None:
    onnx = predictions_of(load_backend("onnx", tiny_model_dir, source="test", num_threads=1), TEXTS)
    torch = predictions_of(load_backend("torch", tiny_model_dir, source="test", num_threads=1), TEXTS)
    for fast, reference in zip(onnx, torch, strict=True):
        assert set(fast.all_emotions) == set(LABELS)
        assert fast.truncated == reference.truncated
        assert fast.all_emotions == pytest.approx(reference.all_emotions, abs=2e-3)
        assert max(fast.all_emotions, key=fast.all_emotions.__getitem__) == max(
            reference.all_emotions, key=reference.all_emotions.__getitem__
        )


def test_onnx_backend_reports_its_model(tiny_model_dir: Path) -> None:
    info = load_backend("onnx", tiny_model_dir, source="test", num_threads=1).info
    assert info.backend == "onnx"
    assert info.weights_file.name == "model.int8.onnx"
    assert info.parameters == json.loads((tiny_model_dir / "onnx_export.json").read_text())["parameters"]


def test_the_session_does_not_fuse_the_layer_norms_back(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export keeps them apart for speed; a runtime that re-fused them would silently undo it."""
    optimized = tmp_path / "optimized.onnx"
    real_options = onnx_backend._session_options

    def options_that_save_the_optimized_graph(num_threads: int) -> ort.SessionOptions:
        options = real_options(num_threads)
        options.optimized_model_filepath = str(optimized)
        return options

    monkeypatch.setattr(onnx_backend, "_session_options", options_that_save_the_optimized_graph)
    load_backend("onnx", tiny_model_dir, source="test", num_threads=1)
    operators = Counter(node.op_type for node in onnx.load(str(optimized)).graph.node)
    assert operators["SkipLayerNormalization"] == 0
    assert operators["LayerNormalization"] > 0


def test_onnx_path_imports_neither_torch_nor_transformers(tiny_model_dir: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from app.backends import load_backend; "
        f"b = load_backend('onnx', Path({str(tiny_model_dir)!r}), source='t', num_threads=1); b.run(['hello']); "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    function_dir = Path(__file__).resolve().parents[2] / "functions" / "inference"
    result = subprocess.run([sys.executable, "-c", code], cwd=function_dir, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_model_without_onnx_graph_is_a_load_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    model_dir = Path(shutil.copytree(tiny_model_dir, tmp_path / "no-onnx"))
    (model_dir / "model.int8.onnx").unlink()
    with pytest.raises(ModelLoadError, match="export_onnx"):
        load_backend("onnx", model_dir, source="test", num_threads=1)


def test_a_corrupt_onnx_graph_is_a_load_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    model_dir = Path(shutil.copytree(tiny_model_dir, tmp_path / "corrupt"))
    (model_dir / "model.int8.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelLoadError):
        load_backend("onnx", model_dir, source="test", num_threads=1)


def test_export_report_shows_the_int8_graph_matches_torch(tiny_model_dir: Path) -> None:
    report = json.loads((tiny_model_dir / "onnx_export.json").read_text())
    assert report["max_abs_logit_diff_fp32"] < 1e-4
    assert report["max_abs_logit_diff_int8"] < 5e-2
