"""Classification metrics from scikit-learn, the reference implementation: accuracy, per-class and averaged
precision/recall/F1 and the confusion matrix, with labels matched by name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as sk


def confusion_matrix(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, num_classes: int
) -> np.ndarray:
    """Rows are gold classes, columns predicted classes (every class has a row, seen or not)."""
    return np.asarray(sk.confusion_matrix(y_true, y_pred, labels=list(range(num_classes))), dtype=np.int64)


def _scores(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    classes = list(range(len(labels)))
    precision, recall, f1, support = sk.precision_recall_fscore_support(
        y_true, y_pred, labels=classes, average=None, zero_division=0
    )
    total = int(support.sum())
    per_class = {
        label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                "support": int(support[i])}
        for i, label in enumerate(labels)
    }  # fmt: skip
    return {
        "accuracy": float(sk.accuracy_score(y_true, y_pred)) if total else 0.0,
        "macro_f1": float(f1.mean()) if len(labels) else 0.0,
        "macro_precision": float(precision.mean()) if len(labels) else 0.0,
        "macro_recall": float(recall.mean()) if len(labels) else 0.0,
        "weighted_f1": float((f1 * support).sum() / total) if total else 0.0,
        "num_examples": total,
        "per_class": per_class,
    }


def metrics_from_confusion(matrix: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro/weighted F1 and per-class precision/recall/F1 of the examples a confusion matrix counts.

    A class with no predictions (or no gold examples) gets precision (or recall) 0 (``zero_division=0``);
    macro averages run over every label given, present or not.
    """
    counts = np.asarray(matrix, dtype=np.int64)
    gold, predicted = np.nonzero(counts)
    repeats = counts[gold, predicted]
    return _scores(np.repeat(gold, repeats), np.repeat(predicted, repeats), labels)


def compute_metrics(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Metrics for label-name sequences, with the confusion matrix; ``labels`` fixes its order."""
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted(set(gold) - set(index))
    if unknown:
        raise ValueError(f"gold labels {unknown} are not among the model labels {list(labels)}")
    y_true = np.array([index[label] for label in gold], dtype=np.int64)
    y_pred = np.array([index[label] for label in predicted], dtype=np.int64)
    result = _scores(y_true, y_pred, labels)
    result["labels"] = list(labels)
    result["confusion_matrix"] = confusion_matrix(y_true, y_pred, len(labels)).tolist()
    return result
