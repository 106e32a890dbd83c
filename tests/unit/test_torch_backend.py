"""The torch backend reads labels by name, truncates long texts and refuses models it cannot serve."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from support import ID2LABEL, LABELS, build_tiny_model, predictions_of

from app.backends import ModelLoadError, load_backend


def _load(model_dir: Path):
    return load_backend("torch", model_dir, source=str(model_dir), num_threads=1)


def test_predicts_a_distribution_over_the_six_labels(tiny_model_dir: Path) -> None:
    backend = _load(tiny_model_dir)
    [prediction] = predictions_of(backend, ["i am feeling very happy today"])
    assert set(prediction.all_emotions) == set(LABELS)
    assert sum(prediction.all_emotions.values()) == pytest.approx(1.0, abs=1e-5)
    assert sorted(backend.config.labels_by_index) == list(LABELS)
    assert backend.info.architecture == "DistilBertForSequenceClassification"
    assert backend.info.max_length == 64


def test_labels_are_taken_by_name_not_by_position(tmp_path: Path) -> None:
    # GIVEN a model whose classifier strongly favours output 3, which its config names "anger"
    model_dir = build_tiny_model(tmp_path / "biased")
    weights = load_file(model_dir / "model.safetensors")
    bias = torch.full_like(weights["classifier.bias"], -10.0)
    bias[3] = 10.0
    weights["classifier.bias"] = bias
    weights["classifier.weight"] = torch.zeros_like(weights["classifier.weight"])
    save_file(weights, model_dir / "model.safetensors", metadata={"format": "pt"})
    # WHEN a text is classified THEN the answer is that name, whatever the alphabetical position
    [prediction] = predictions_of(_load(model_dir), ["what a lovely surprise"])
    assert ID2LABEL[3] == "anger"
    assert max(prediction.all_emotions, key=prediction.all_emotions.__getitem__) == "anger"
    assert prediction.all_emotions["anger"] > 0.99


def test_batches_keep_order_and_flag_truncated_texts(tiny_model_dir: Path) -> None:
    backend = _load(tiny_model_dir)
    long_text = " ".join(["happy"] * 200)
    output = backend.run(["sad", long_text, "angry"])
    assert output.truncated == [False, True, False]
    assert output.logits.shape == (3, 6) and output.features is not None and output.features.shape[0] == 3
    assert output.logits[0] == pytest.approx(backend.run(["sad"]).logits[0], abs=1e-4)


def test_a_missing_directory_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError):
        _load(tmp_path / "nowhere")


def test_generic_label_names_are_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    model_dir = Path(shutil.copytree(tiny_model_dir, tmp_path / "generic"))
    config = json.loads((model_dir / "config.json").read_text())
    config["id2label"] = {str(index): f"LABEL_{index}" for index in range(6)}
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="distinct name"):
        _load(model_dir)


def test_partial_weights_are_a_load_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    model_dir = Path(shutil.copytree(tiny_model_dir, tmp_path / "partial"))
    weights = model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelLoadError):
        _load(model_dir)
