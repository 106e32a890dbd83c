"""What every inference backend shares: the model folder's config, the Backend protocol, what a model call returns."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

#: The int8 ONNX graph and its export report, written beside the Hugging Face files by scripts/model/export_onnx.py.
ONNX_FILENAME = "model.int8.onnx"
ONNX_REPORT_FILENAME = "onnx_export.json"
#: The graph's outputs: the class logits, and the final layer's [CLS] vector for the trust detector.
ONNX_OUTPUTS = ("logits", "features")

#: The six emotions of the bundled model; public emotion models spell them in any case, and are read lower-cased.
EMOTIONS = frozenset({"anger", "fear", "joy", "love", "sadness", "surprise"})
#: A model trained on your own data (make model) may have any 2 to 50 named labels.
MIN_LABELS, MAX_LABELS = 2, 50
_PLACEHOLDER = re.compile(r"LABEL_\d+")


class ModelLoadError(Exception):
    """Raised when a model directory is missing, incomplete or its head has no usable label names."""


def _labels(id2label: dict[int, str]) -> dict[int, str]:
    """The head's label names: the six emotions lower-cased, anyone's own labels as written; refused when unnamed."""
    names = list(id2label.values())
    if set(id2label) != set(range(len(id2label))) or not MIN_LABELS <= len(id2label) <= MAX_LABELS:
        raise ModelLoadError(f"id2label must number {MIN_LABELS} to {MAX_LABELS} labels from 0, got {sorted(id2label)}")
    if any(not name or _PLACEHOLDER.fullmatch(name) for name in names) or len(set(names)) != len(names):
        raise ModelLoadError(f"id2label must give every label a distinct name (not LABEL_n), got {sorted(names)}")
    if {name.lower() for name in names} == EMOTIONS:
        return {index: name.lower() for index, name in id2label.items()}
    return id2label


@dataclass(frozen=True)
class ModelConfig:
    """The facts a backend needs from a model folder's config.json, read once."""

    folder: Path
    labels_by_index: tuple[str, ...]
    name: str
    architecture: str
    max_position_embeddings: int

    @classmethod
    def read(cls, folder: Path) -> ModelConfig:
        """Parse config.json; labels by name from id2label, since public emotion models disagree on the order."""
        try:
            config: dict[str, Any] = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            id2label = {int(index): str(name).strip() for index, name in config["id2label"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelLoadError(f"{folder}/config.json is missing or has no usable id2label") from exc
        id2label = _labels(id2label)
        name = str(config.get("_name_or_path") or "")
        return cls(
            folder=folder,
            labels_by_index=tuple(id2label[index] for index in range(len(id2label))),
            # A hub id names the model; a local path says nothing a reader could use, so the folder name does.
            name=name if name and not name.startswith(("/", ".")) else folder.name,
            architecture=str((config.get("architectures") or ["unknown"])[0]),
            max_position_embeddings=int(config.get("max_position_embeddings", 512)),
        )


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
class ModelOutput:
    """One model call on a batch: raw scores, before calibration and the trust checks (app/trust.py)."""

    #: Shape (texts, 6), columns in the model's ``labels_by_index`` order.
    logits: np.ndarray
    #: Shape (texts, hidden size): the final layer's [CLS] vector; None for a graph exported without it.
    features: np.ndarray | None
    truncated: list[bool]


class Backend(Protocol):
    """A loaded model: its config, facts, and one batched forward pass."""

    @property
    def config(self) -> ModelConfig: ...

    @property
    def info(self) -> ModelInfo: ...

    def run(self, texts: Sequence[str]) -> ModelOutput: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


class LoadedBackend:
    """What every backend exposes once loaded: the config it was read from and the facts /model reports."""

    _config: ModelConfig
    _info: ModelInfo

    @property
    def config(self) -> ModelConfig:
        return self._config

    @property
    def info(self) -> ModelInfo:
        return self._info
