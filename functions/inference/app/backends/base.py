"""The interface every inference backend offers, so routes never depend on a framework."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

#: The int8 ONNX graph and its export report, written beside the Hugging Face files by scripts/export_onnx.py.
ONNX_FILENAME = "model.int8.onnx"
ONNX_REPORT_FILENAME = "onnx_export.json"

#: The six emotions this product serves; a model must name exactly these in its config's id2label.
EMOTIONS = frozenset({"anger", "fear", "joy", "love", "sadness", "surprise"})


class ModelLoadError(Exception):
    """Raised when a model directory is missing, incomplete or not a six-emotion classifier."""


@dataclass(frozen=True)
class ModelInfo:
    """Facts about a loaded model, reported by /model and /health."""

    name: str
    source: str
    architecture: str
    parameters: int
    max_length: int
    backend: str
    weights_file: Path


@dataclass(frozen=True)
class RawPrediction:
    """Probabilities by label for one text, and whether the text was cut to the model's length."""

    probabilities: dict[str, float]
    truncated: bool


class Backend(Protocol):
    """A loaded model: labels, facts, and batched prediction."""

    @property
    def labels(self) -> tuple[str, ...]: ...

    @property
    def info(self) -> ModelInfo: ...

    def predict(self, texts: Sequence[str]) -> list[RawPrediction]: ...


class LabelledBackend:
    """What every backend shares: labels by model output index, the model facts, and turning rows into results."""

    _labels_by_index: list[str]
    _info: ModelInfo

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(sorted(self._labels_by_index))

    @property
    def info(self) -> ModelInfo:
        return self._info

    def _to_predictions(self, probabilities: list[list[float]], truncated: list[bool]) -> list[RawPrediction]:
        return [
            RawPrediction(dict(zip(self._labels_by_index, row, strict=True)), was_truncated)
            for row, was_truncated in zip(probabilities, truncated, strict=True)
        ]


def read_labels(model_dir: Path) -> dict[int, str]:
    """id2label from config.json, by name: public emotion models disagree on the id order."""
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        id2label = {int(index): str(name).strip().lower() for index, name in config["id2label"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelLoadError(f"{model_dir}/config.json is missing or has no usable id2label") from exc
    if set(id2label.values()) != EMOTIONS or len(id2label) != len(EMOTIONS):
        raise ModelLoadError(f"id2label must name the six emotions {sorted(EMOTIONS)}, got {sorted(id2label.values())}")
    return id2label


def model_name(model_dir: Path) -> str:
    """A readable model name: the config's ``_name_or_path`` when it is a hub id, else the folder name."""
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return model_dir.name
    name = str(config.get("_name_or_path") or "")
    return name if name and not name.startswith(("/", ".")) else model_dir.name


def load_backend(kind: str, model_dir: Path, *, source: str, num_threads: int) -> Backend:
    """Build the backend named by MODEL_BACKEND; imports its framework only when chosen."""
    if kind == "torch":
        from .torch_backend import TorchBackend

        return TorchBackend(model_dir, source=source, num_threads=num_threads)
    if kind == "onnx":
        from .onnx_backend import OnnxBackend

        return OnnxBackend(model_dir, source=source, num_threads=num_threads)
    raise ModelLoadError(f"unknown backend {kind!r}")
