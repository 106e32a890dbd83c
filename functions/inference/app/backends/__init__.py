"""Inference backends: the only modules that import an ML framework."""

from .base import Backend, ModelInfo, ModelLoadError, RawPrediction, load_backend

__all__ = ["Backend", "ModelInfo", "ModelLoadError", "RawPrediction", "load_backend"]
