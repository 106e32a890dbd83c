"""make teacher: the recipe runs end to end on a tiny configuration and writes what make train distils from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support import ID2LABEL, build_tiny_model

from scripts.model.emotion_data import LABELS, sha256_file
from scripts.model.teacher import main
from scripts.model.train import read_teacher, verify_teacher


def test_the_recipe_writes_probabilities_make_train_accepts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a tiny encoder and a dozen training lines
    base = build_tiny_model(tmp_path / "base")
    texts = ["i am feeling very happy today", "so sad and miserable", "i love you", "so furious and angry",
             "scared and terrified", "what a lovely surprise"] * 2  # fmt: skip
    train = tmp_path / "train.txt"
    train.write_text("".join(f"{t};{ID2LABEL[i % 6]}\n" for i, t in enumerate(texts)))
    # WHEN the recipe runs four steps
    assert main(["--train-file", str(train), "--out", str(tmp_path / "teacher"), "--base-model", str(base),
                 "--max-steps", "4", "--batch-size", "4", "--device", "cpu", "--no-progress"]) == 0  # fmt: skip
    # THEN it estimated the whole run up front, and wrote a distribution per training line with its manifest
    assert "estimate: " in capsys.readouterr().out
    probs = tmp_path / "teacher" / "train-probs.tsv"
    rows = np.loadtxt(probs, skiprows=1)
    assert probs.read_text().splitlines()[0].split("\t") == list(LABELS)
    assert rows.shape == (12, 6) and np.allclose(rows.sum(axis=1), 1, atol=1e-4)
    manifest = json.loads((tmp_path / "teacher" / "teacher.json").read_text())
    assert manifest == {"file": "train-probs.tsv", "sha256": sha256_file(probs), "train_sha256": sha256_file(train)}
    verify_teacher(probs, train)
    assert read_teacher(probs, LABELS, 12).shape == (12, 6)
