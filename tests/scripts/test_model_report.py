"""The model report: bootstrap intervals, and a model card regenerated from the serving path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from support import ID2LABEL

from scripts.model.metrics import metrics_from_confusion
from scripts.model.model_report import bootstrap_intervals, macro_f1_from_confusion, main


def test_macro_f1_of_a_stack_matches_the_metrics_module() -> None:
    rng = np.random.default_rng(3)
    matrices = rng.integers(0, 40, size=(5, 6, 6)).astype(np.float64)
    labels = list(ID2LABEL.values())
    expected = [metrics_from_confusion(matrix, labels)["macro_f1"] for matrix in matrices]
    assert macro_f1_from_confusion(matrices) == pytest.approx(expected)


def test_bootstrap_intervals_hold_the_estimate_and_shrink_with_agreement() -> None:
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 6, size=2000)
    noisy = np.where(rng.random(2000) < 0.9, gold, rng.integers(0, 6, size=2000))
    low, high = bootstrap_intervals(gold, noisy, 6)["accuracy"]
    assert low < float((gold == noisy).mean()) < high
    assert 0.01 < high - low < 0.04  # about ±1.3 points at 91 % accuracy on 2,000 examples
    assert bootstrap_intervals(gold, gold, 6)["accuracy"] == [1.0, 1.0]


def test_the_report_scores_through_the_serving_backend_and_fills_the_card(tiny_model_dir: Path, tmp_path: Path) -> None:
    # GIVEN a model folder with its int8 graph, its training metrics and a card with GENERATED blocks
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    (model / "metrics.json").write_text(json.dumps({
        "training": {"seed": 7, "epochs": 1, "batch_size": 4, "lr": 5e-5, "weight_decay": 0.01, "warmup_ratio": 0.06,
                     "max_length": 16, "augment_prob": 0.5, "average_last": 2, "label_smoothing": 0.0,
                     "class_weight_power": 0.0},
        "distillation": {"teacher_file": "t.tsv", "teacher_sha256": "ab" * 32, "weight": 0.7, "temperature": 2.0},
        "history": [{"epoch": 1, "accuracy": 0.5, "macro_f1": 0.4}],
        "selected": "epoch 1", "train_wall_seconds": 60,
        "environment": {"threads": 2, "device": "cpu", "torch": "2.13.0+cpu", "python": "3.11.7", "machine": "x86_64"},
        "data": {"train": {"file": "train.txt", "sha256": "cd" * 32},
                 "validation": {"file": "v.txt", "sha256": "ef" * 32}},
        "validation": {"accuracy": 0.5, "macro_f1": 0.4},
    }))  # fmt: skip
    blocks = ("summary", "validation", "natural", "comparison", "training", "onnx", "rebuild", "sources",
              "goemotions", "everyday-misses")  # fmt: skip
    (model / "README.md").write_text(
        "# card\n" + "".join(f"<!-- BEGIN GENERATED: {b} -->\nold\n<!-- END GENERATED: {b} -->\n" for b in blocks)
    )
    validation = tmp_path / "validation.txt"
    validation.write_text("i am feeling very happy today;joy\nso sad and miserable;sadness\nscared;fear\n")
    figures = {"cold_start_s": 0.7, "short_p50_ms": 2.5, "long_p50_ms": 3.1, "batch32_texts_per_s": 900.0}
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"machine": {"cpus": 2}, "results": {
        "onnx": {**figures, "warm_rounds": [{}] * 3}, "baseline": {**figures, "short_p50_ms": 2.4}}}))  # fmt: skip
    # WHEN the report runs, comparing against a baseline (here the same model) with one seed's metrics
    assert main(["--model-dir", str(model), "--validation-file", str(validation), "--baseline-dir", str(model),
                 "--seed-metrics", str(model / "metrics.json"), "--bench-json", str(bench),
                 "--rebuilt-dir", str(model)]) == 0  # fmt: skip
    # THEN its figures come from the int8 graph, with intervals, and every block of the card is regenerated
    report = json.loads((model / "serving_metrics.json").read_text())
    assert report["validation"]["examples"] == 3
    low, high = report["validation"]["interval_95"]["accuracy"]
    assert low <= report["validation"]["accuracy"] <= high
    assert report["neutral_statements"]["examples"] >= 100
    assert report["baseline"]["neutral_statements"] == report["neutral_statements"]
    assert report["seeds"]["accuracy"]["mean"] == 0.5
    card = (model / "README.md").read_text()
    assert "\nold\n" not in card
    assert "95 % interval" in card and "Known failure cases" in card and "KL(teacher ‖ student)" in card
    assert "| warm p50, short text, ms | 2.40 | 2.50 |" in card
    # and each source of text is scored beside the baseline's, the everyday messages' misses quoted
    assert set(report["sources"]) == {"validation", "natural", "everyday", "messages_dev"}
    assert "| everyday messages of nine registers, `tests/data/everyday_messages.txt` (held out) | 324 |" in card
    assert "of the 324 everyday messages get another label" in card
    assert "GoEmotions dev not scored" in card
    assert (model / "confusion_matrix.png").stat().st_size > 0
    # WHEN only the blocks scored from the folder alone are refilled (no baseline or seeds at hand)
    comparison = card[card.index("<!-- BEGIN GENERATED: comparison -->") : card.index("<!-- END GENERATED: comparison")]
    (model / "README.md").write_text(card.replace("Known failure cases", "stale"))
    assert main(["--model-dir", str(model), "--validation-file", str(validation), "--only", "natural"]) == 0
    # THEN the natural block is new, and the comparison and its figures are the full run's
    card = (model / "README.md").read_text()
    assert "Known failure cases" in card and comparison in card
    report = json.loads((model / "serving_metrics.json").read_text())
    assert report["baseline"]["neutral_statements"] == report["neutral_statements"]
    assert report["seeds"]["accuracy"]["mean"] == 0.5
    # and the card says how to rebuild it, from what, and how close the rebuild (here itself) came
    assert "make model OUT=functions/inference/model SEED=7 EPOCHS=1\n" in card
    assert f"| `t.tsv` (teacher) | `{'ab' * 32}` |" in card and f"| `train.txt` (train) | `{'cd' * 32}` |" in card
    assert card.count("+0.00 points |") == 2  # accuracy and macro-F1
    assert "trained weights (`model.safetensors`) are byte for byte this folder's." in card
    # a later report without a rebuild keeps the measured one, since the weights are the same
    assert main(["--model-dir", str(model), "--validation-file", str(validation)]) == 0
    assert "+0.00 points |" in (model / "README.md").read_text()
