"""Evaluation math checked on a tiny hand-made set, and labels matched by name, not by position."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn import metrics as sklearn_metrics

from scripts.model.evaluate import evaluate_model_dir
from scripts.model.metrics import compute_metrics, confusion_matrix, metrics_from_confusion

GOLD = ["a", "a", "b", "b", "c", "c"]
PRED = ["a", "b", "b", "b", "a", "c"]


def test_confusion_matrix_rows_are_gold() -> None:
    """Rows count gold classes and columns predictions."""
    matrix = confusion_matrix([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 0, 2], 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_metrics_by_hand() -> None:
    """Precision/recall/F1 worked out by hand for the six-example set."""
    result = compute_metrics(GOLD, PRED, ["a", "b", "c"])
    assert result["accuracy"] == pytest.approx(4 / 6)
    per = result["per_class"]
    assert per["a"]["precision"] == pytest.approx(1 / 2)
    assert per["a"]["recall"] == pytest.approx(1 / 2)
    assert per["b"]["precision"] == pytest.approx(2 / 3)
    assert per["b"]["recall"] == pytest.approx(1.0)
    assert per["b"]["f1"] == pytest.approx(0.8)
    assert per["c"]["precision"] == pytest.approx(1.0)
    assert per["c"]["f1"] == pytest.approx(2 / 3)
    assert result["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert [row["support"] for row in per.values()] == [2, 2, 2]


def test_metrics_match_scikit_learn() -> None:
    """The figures are scikit-learn's, the reference implementation (a dev requirement, so this always runs)."""
    result = compute_metrics(GOLD, PRED, ["a", "b", "c"])
    assert result["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(GOLD, PRED))
    assert result["macro_f1"] == pytest.approx(sklearn_metrics.f1_score(GOLD, PRED, average="macro"))
    assert result["weighted_f1"] == pytest.approx(sklearn_metrics.f1_score(GOLD, PRED, average="weighted"))
    expected = sklearn_metrics.confusion_matrix(GOLD, PRED, labels=["a", "b", "c"]).tolist()
    assert result["confusion_matrix"] == expected


def test_zero_division_gives_zero() -> None:
    """A class never predicted and never seen scores 0, not NaN."""
    result = metrics_from_confusion(np.array([[2, 0], [0, 0]]), ["x", "y"])
    assert result["per_class"]["y"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert result["macro_f1"] == pytest.approx(0.5)


def test_unknown_gold_label_is_an_error() -> None:
    """Gold labels the model does not know must fail loudly."""
    with pytest.raises(ValueError, match="not among the model labels"):
        compute_metrics(["boredom"], ["a"], ["a", "b"])


def test_evaluate_model_dir_scores_through_the_serving_backend_by_label_name(tmp_path: Path) -> None:
    """A model whose id order differs from the data's label order is scored by label name, through the API's code."""
    from support import ID2LABEL, build_tiny_model
    from transformers import DistilBertForSequenceClassification

    model_dir = build_tiny_model(tmp_path / "model")
    model = DistilBertForSequenceClassification.from_pretrained(model_dir)
    with torch.no_grad():  # a constant model: every input -> id 0
        for param in model.parameters():
            param.zero_()
        model.classifier.bias[0] = 1.0
    model.save_pretrained(model_dir)
    data = tmp_path / "data.txt"
    data.write_text("i am happy;joy\ni am sad;sadness\n", encoding="utf-8")

    metrics, _texts, gold, probs = evaluate_model_dir(model_dir, data, backend="torch")
    assert metrics["labels"] == sorted(ID2LABEL.values())
    assert gold == ["joy", "sadness"]
    assert probs.shape == (2, 6)
    assert metrics["per_class"][ID2LABEL[0]]["recall"] == 1.0  # id 0 is "sadness" in the tiny model
    assert metrics["per_class"]["joy"]["recall"] == 0.0
    assert metrics["throughput"]["backend"] == "torch"
    json.dumps(metrics)  # must be JSON serialisable


def test_plot_confusion_writes_png(tmp_path: Path) -> None:
    """The PNG writer works headless (matplotlib is a training-only dependency)."""
    pytest.importorskip("matplotlib")
    from scripts.model.evaluate import plot_confusion

    path = tmp_path / "cm.png"
    plot_confusion([[3, 1], [0, 2]], ["a", "b"], path, "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
