"""The one offline entry into the service: every tool that scores text loads the classifier exactly as the API
builds it (``app.classifier.load_model`` with the app's ``Settings``), so every figure is what a client gets.

``Classifier.predict`` gives the served answers (label, calibrated probabilities, warnings); ``raw_outputs`` and
``label_probabilities`` give the backend's logits under them, one text per model call as the API runs them, for
the tools that fit the trust checks or score accuracy before a temperature is fitted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from app.classifier import Classifier


def load_classifier(
    model_dir: str | Path, *, backend: str = "onnx", num_threads: int = 0, max_text_chars: int | None = None
) -> Classifier:
    """The API's classifier over a model folder (``num_threads`` 0: the CPUs available, as the API counts them).

    Each call loads afresh, so trust files written since an earlier load in the same process are read.
    Raises SystemExit with the API's reason when the model does not load.
    """
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")  # the load's JSON log lines are for CloudWatch
    from app.classifier import load_model, reset_model_cache
    from app.observability import Observability
    from app.settings import Settings

    settings = Settings(model_path=Path(model_dir), model_backend=backend, num_threads=num_threads)
    if max_text_chars is not None:
        settings = Settings(
            model_path=Path(model_dir), model_backend=backend, num_threads=num_threads, max_text_chars=max_text_chars
        )
    reset_model_cache()
    state = load_model(settings, Observability(settings))
    if state.classifier is None:
        raise SystemExit(f"the model in {model_dir} did not load: {state.failure}")
    return state.classifier


def model_labels(classifier: Classifier) -> list[str]:
    """The labels in the order of the model's output columns (``config.json``'s ``id2label``)."""
    return list(classifier.backend.config.labels_by_index)


def raw_outputs(classifier: Classifier, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """(logits, features) in input order, one text per model call as ``Classifier.predict`` runs them.

    The int8 graph quantises activations per model call, so texts scored in shared calls would move each other.
    Logit columns follow ``model_labels``; features are None for a graph without them.
    """
    outputs = [classifier.backend.run([text]) for text in texts]
    logits = np.concatenate([output.logits for output in outputs]).astype(np.float32, copy=False)
    if any(output.features is None for output in outputs):
        return logits, None
    return logits, np.concatenate([output.features for output in outputs]).astype(np.float32, copy=False)


def label_probabilities(classifier: Classifier, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """(labels, probabilities): the softmax of the raw logits, columns in sorted label order.

    Before the temperature the API applies (app/trust.py): the same argmax, so the same accuracy, without
    depending on the trust files fitted after the model.
    """
    from app.trust import softmax

    logits, _ = raw_outputs(classifier, texts)
    order = model_labels(classifier)
    labels = sorted(order)
    return labels, softmax(logits[:, [order.index(label) for label in labels]])
