"""ONNX Runtime backend: the int8 model exported by scripts/model/export_onnx.py, with no torch or transformers import.

Import time and on-disk size are what a Lambda cold start pays for: onnxruntime plus tokenizers load in a
fraction of the time torch plus transformers take, and the int8 graph runs several times faster on a CPU.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .base import (
    ONNX_FILENAME,
    ONNX_OUTPUTS,
    ONNX_REPORT_FILENAME,
    LoadedBackend,
    ModelConfig,
    ModelInfo,
    ModelLoadError,
    ModelOutput,
)
from .tokenization import TextEncoder


def _session_options(num_threads: int) -> ort.SessionOptions:
    """One request at a time per environment: all threads go to one operator, none to parallel branches."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: warnings about unused initialisers are noise in CloudWatch
    return options


class OnnxBackend(LoadedBackend):
    """Loads ``model.int8.onnx`` and ``tokenizer.json`` from the model directory."""

    def __init__(self, config: ModelConfig, *, source: str, num_threads: int) -> None:
        graph = config.folder / ONNX_FILENAME
        if not graph.is_file():
            raise ModelLoadError(f"{graph} is missing: run scripts/model/export_onnx.py, or set MODEL_BACKEND=torch")
        try:
            self._session = ort.InferenceSession(
                str(graph), sess_options=_session_options(num_threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
            raise ModelLoadError(f"{graph} could not be loaded by ONNX Runtime") from exc
        self._input_names = {node.name for node in self._session.get_inputs()}
        # A graph exported before the features output still classifies; only the detector goes without.
        self._outputs = [name for name in ONNX_OUTPUTS if name in {node.name for node in self._session.get_outputs()}]
        self._encoder = TextEncoder(config.folder, max_position_embeddings=config.max_position_embeddings)
        self._config = config
        self._lock = threading.Lock()
        self._info = ModelInfo(
            name=config.name,
            source=source,
            architecture=config.architecture,
            parameters=_parameter_count(config.folder),
            max_length=self._encoder.max_length,
            backend="onnx",
            weights_file=graph,
        )

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text as ``run`` would feed them: what a request's work is counted in."""
        return self._encoder.count_tokens(texts)

    def run(self, texts: Sequence[str]) -> ModelOutput:
        batch = self._encoder.encode(texts)
        feeds = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(batch.input_ids)
        with self._lock:
            outputs = self._session.run(self._outputs, feeds)
        return ModelOutput(
            logits=outputs[0], features=outputs[1] if len(outputs) > 1 else None, truncated=batch.truncated
        )


def _parameter_count(model_dir: Path) -> int:
    """Weights counted at export time (the int8 graph cannot be inspected without the onnx package)."""
    try:
        report = json.loads((model_dir / ONNX_REPORT_FILENAME).read_text(encoding="utf-8"))
        return int(report["parameters"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0
