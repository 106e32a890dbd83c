"""The tools' offline entry into the service gives the API's answers: the same labels, the same probabilities."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support import build_test_app, build_tiny_model

from scripts.common.service import label_probabilities, load_classifier, model_labels, raw_outputs

TEXTS = ["i am so happy today", "this makes me angry", "i feel scared and alone", "what a surprise"]


def test_the_entry_scores_each_text_as_post_predict_answers_it(tmp_path: Path) -> None:
    # GIVEN a tiny model served by the API and loaded by the tools' entry (torch: the tiny model has no ONNX graph)
    model_dir = build_tiny_model(tmp_path / "model")
    classifier = load_classifier(model_dir, backend="torch")
    labels, probabilities = label_probabilities(classifier, TEXTS)
    # WHEN the API answers the same texts
    with TestClient(build_test_app(model_dir, model_backend="torch")) as client:
        answers = [client.post("/predict", json={"text": text}) for text in TEXTS]
    # THEN each tool label is the API's, and its probabilities are the API's (no temperature fitted: the same)
    assert all(answer.status_code == 200 for answer in answers)
    for row, answer in zip(probabilities, answers, strict=True):
        body = answer.json()
        assert labels[int(row.argmax())] == body["emotion"]
        assert dict(zip(labels, row.tolist(), strict=True)) == pytest.approx(body["all_emotions"], abs=1e-4)
    assert sorted(model_labels(classifier)) == labels
    logits, _ = raw_outputs(classifier, TEXTS)
    assert logits.shape == (len(TEXTS), len(labels))


def test_a_folder_without_a_model_stops_the_tool_with_the_apis_reason(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="did not load"):
        load_classifier(tmp_path, backend="torch")
