"""Inference backends, the only modules that import an ML framework, and the registry that names them.

A backend joins by adding its module and class to ``BACKENDS``; MODEL_BACKEND accepts exactly these names.
Importing this package stays cheap: a backend's module (and its framework) is imported only when it is loaded.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from .base import Backend, ModelConfig, ModelInfo, ModelLoadError, ModelOutput

#: Backend name -> (module, class): the class takes (model config, source=..., num_threads=...).
BACKENDS: dict[str, tuple[str, str]] = {
    "onnx": (f"{__name__}.onnx_backend", "OnnxBackend"),
    "torch": (f"{__name__}.torch_backend", "TorchBackend"),
}


def load_backend(kind: str, model_dir: Path, *, source: str, num_threads: int) -> Backend:
    """Load the model folder with the backend named ``kind``; imports its framework only now."""
    if kind not in BACKENDS:
        raise ModelLoadError(f"unknown backend {kind!r}; known: {sorted(BACKENDS)}")
    config = ModelConfig.read(model_dir)
    module_name, class_name = BACKENDS[kind]
    module = importlib.import_module(module_name)
    backend: Backend = getattr(module, class_name)(config, source=source, num_threads=num_threads)
    return backend


__all__ = ["BACKENDS", "Backend", "ModelConfig", "ModelInfo", "ModelLoadError", "ModelOutput", "load_backend"]
