"""The export fuses every layer's attention into int8 and never ships a graph that computes something else."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest

from scripts.model import export_onnx
from scripts.model.export_onnx import ExportError, export


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


def _skip_layer_norm_graph(path: Path, *, expose_mean: bool) -> None:
    """One SkipLayerNormalization with a bias, as ONNX Runtime's optimizer writes it."""
    hidden = 8
    rng = np.random.default_rng(0)
    weights = [
        onnx.numpy_helper.from_array(rng.standard_normal(hidden).astype(np.float32), name)
        for name in ("gamma", "beta", "bias")
    ]
    outputs = ["out", "mean"] if expose_mean else ["out", "", "", "sum"]
    node = onnx.helper.make_node(
        "SkipLayerNormalization",
        ["x", "skip", "gamma", "beta", "bias"],
        outputs,
        name="sln",
        domain="com.microsoft",
        epsilon=1e-12,
    )
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph(
        [node],
        "g",
        [value(name, onnx.TensorProto.FLOAT, [1, None, hidden]) for name in ("x", "skip")],
        [value(name, onnx.TensorProto.FLOAT, None) for name in (["out", "mean"] if expose_mean else ["out"])],
        initializer=weights,
    )
    opsets = [onnx.helper.make_opsetid("", 18), onnx.helper.make_opsetid("com.microsoft", 1)]
    onnx.save(onnx.helper.make_model(graph, opset_imports=opsets), str(path))


def _run(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["out"], feeds)[0]


def test_unfused_layer_norm_computes_what_the_fused_node_did(tmp_path: Path) -> None:
    graph = tmp_path / "sln.onnx"
    _skip_layer_norm_graph(graph, expose_mean=False)
    rng = np.random.default_rng(1)
    feeds = {name: rng.standard_normal((1, 5, 8)).astype(np.float32) for name in ("x", "skip")}
    fused = _run(graph, feeds)
    model = onnx.load(str(graph))
    assert export_onnx.unfuse_skip_layer_norms(model) == 1
    assert [node.op_type for node in model.graph.node] == ["Add", "Add", "LayerNormalization"]
    onnx.save(model, str(graph))
    np.testing.assert_allclose(_run(graph, feeds), fused, atol=1e-5)


def test_a_skip_layer_norm_whose_statistics_are_read_stays_fused(tmp_path: Path) -> None:
    graph = tmp_path / "sln.onnx"
    _skip_layer_norm_graph(graph, expose_mean=True)
    model = onnx.load(str(graph))
    assert export_onnx.unfuse_skip_layer_norms(model) == 0
    assert [node.op_type for node in model.graph.node] == ["SkipLayerNormalization"]


def test_a_graph_that_disagrees_with_torch_is_not_written(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    shipped = (model_dir / "model.int8.onnx").read_bytes()
    real_torch_outputs = export_onnx.torch_outputs

    def shifted(*args: object) -> tuple[np.ndarray, np.ndarray]:
        logits, features = real_torch_outputs(*args)
        return logits + np.float32(0.5), features

    monkeypatch.setattr(export_onnx, "torch_outputs", shifted)
    with pytest.raises(ExportError, match="differ from torch"):
        export(model_dir)
    assert (model_dir / "model.int8.onnx").read_bytes() == shipped
