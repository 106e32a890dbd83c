"""The export fuses every layer's attention into int8 and never ships a graph that computes something else."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import export_onnx
import numpy as np
import onnx
import pytest
from export_onnx import ExportError, export


def test_every_layer_gets_one_fused_attention_node(tiny_model_dir: Path) -> None:
    report = json.loads((tiny_model_dir / "onnx_export.json").read_text())
    layers = json.loads((tiny_model_dir / "config.json").read_text())["n_layers"]
    assert report["fused_attention_nodes"] == layers
    assert report["max_abs_logit_diff_fp32"] < 1e-4


def test_layer_norms_are_kept_apart_from_their_residual_additions(tiny_model_dir: Path) -> None:
    """ONNX Runtime's SkipLayerNormalization CPU kernel is the slow way to compute the same thing."""
    graph = onnx.load(str(tiny_model_dir / "model.int8.onnx")).graph
    operators = Counter(node.op_type for node in graph.node)
    layers = json.loads((tiny_model_dir / "config.json").read_text())["n_layers"]
    assert operators["SkipLayerNormalization"] == 0
    assert operators["LayerNormalization"] == 2 * layers
    assert json.loads((tiny_model_dir / "onnx_export.json").read_text())["unfused_skip_layer_norms"] == 2 * layers


def test_a_graph_that_disagrees_with_torch_is_not_written(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    shipped = (model_dir / "model.int8.onnx").read_bytes()
    real_torch_logits = export_onnx.torch_logits
    monkeypatch.setattr(export_onnx, "torch_logits", lambda *args: real_torch_logits(*args) + np.float32(0.5))
    with pytest.raises(ExportError, match="differ from torch"):
        export(model_dir)
    assert (model_dir / "model.int8.onnx").read_bytes() == shipped
