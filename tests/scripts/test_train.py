"""Training with a teacher: the distillation loss, the teacher file, and a whole run on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from support import ID2LABEL, build_tiny_model

from scripts.model.emotion_data import sha256_file
from scripts.model.train import distillation_loss, main, read_teacher, soften, verify_teacher

LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]


def test_without_a_teacher_the_loss_is_plain_cross_entropy() -> None:
    torch.manual_seed(0)
    logits, gold = torch.randn(8, 6), torch.randint(0, 6, (8,))
    teacher = torch.softmax(torch.randn(8, 6), dim=-1)
    plain = torch.nn.functional.cross_entropy(logits, gold)
    cross_entropy = torch.nn.CrossEntropyLoss()
    assert distillation_loss(logits, gold, None, hard_loss=cross_entropy, weight=0.7, temperature=2.0) == plain
    assert distillation_loss(logits, gold, teacher, hard_loss=cross_entropy, weight=0.0, temperature=2.0) == plain


def test_the_teacher_term_pulls_the_student_toward_the_teacher() -> None:
    # GIVEN a student that disagrees with a confident teacher, trained on the teacher term alone
    teacher = torch.tensor([[0.05, 0.80, 0.05, 0.04, 0.03, 0.03]])
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0, 0.0, 0.0]], requires_grad=True)
    gold = torch.tensor([0])
    optimizer = torch.optim.SGD([logits], lr=0.5)
    for _ in range(200):
        loss = distillation_loss(
            logits, gold, teacher, hard_loss=torch.nn.CrossEntropyLoss(), weight=1.0, temperature=2.0
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    # THEN the student ends up with the teacher's distribution, not the gold label's
    assert torch.softmax(logits, dim=-1).detach() == pytest.approx(teacher, abs=2e-3)
    assert loss.item() == pytest.approx(0.0, abs=1e-4)


def test_mixing_weights_the_two_terms() -> None:
    torch.manual_seed(1)
    logits, gold = torch.randn(4, 6), torch.randint(0, 6, (4,))
    teacher = torch.softmax(torch.randn(4, 6), dim=-1)
    ce = torch.nn.CrossEntropyLoss()
    hard = distillation_loss(logits, gold, teacher, hard_loss=ce, weight=0.0, temperature=3.0)
    soft = distillation_loss(logits, gold, teacher, hard_loss=ce, weight=1.0, temperature=3.0)
    mixed = distillation_loss(logits, gold, teacher, hard_loss=ce, weight=0.7, temperature=3.0)
    assert mixed.item() == pytest.approx(0.3 * hard.item() + 0.7 * soft.item(), rel=1e-5)


def test_soften_is_a_temperature_on_the_teachers_logits() -> None:
    logits = torch.tensor([[3.0, 1.0, 0.0, -1.0, 0.5, 0.2]])
    probs = torch.softmax(logits, dim=-1)
    assert soften(probs, 1.0) == pytest.approx(probs, abs=1e-6)
    assert soften(probs, 2.0) == pytest.approx(torch.softmax(logits / 2, dim=-1), abs=1e-6)


def test_teacher_columns_follow_the_header_not_the_position(tmp_path: Path) -> None:
    path = tmp_path / "probs.tsv"
    path.write_text("joy\tsadness\tlove\tanger\tfear\tsurprise\n0.9\t0.1\t0\t0\t0\t0\n")
    (row,) = read_teacher(path, LABELS, 1).tolist()
    assert row == pytest.approx([0.1, 0.9, 0, 0, 0, 0])
    with pytest.raises(SystemExit, match="rows"):
        read_teacher(path, LABELS, 2)


def test_the_shipped_teacher_is_the_one_its_manifest_records() -> None:
    """data/teacher/ is what a fresh clone distils from: its bytes must be the ones its provenance names."""
    folder = Path(__file__).resolve().parents[2] / "data" / "teacher"
    manifest = json.loads((folder / "teacher.json").read_text())
    assert sha256_file(folder / manifest["file"]) == manifest["sha256"]
    assert manifest["sha256"] in (folder / "README.md").read_text()
    assert read_teacher(folder / manifest["file"], LABELS, 16000).shape == (16000, 6)


def test_a_teacher_is_refused_beside_another_training_file(tmp_path: Path) -> None:
    """Rows pair with training lines by position: a teacher made for other data must stop the run, not mislead it."""
    (tmp_path / "train.txt").write_text("i feel fine;joy\n")
    (tmp_path / "probs.tsv").write_text("\t".join(LABELS) + "\n" + "\t".join(["0.5"] * 2 + ["0"] * 4) + "\n")
    made_for = {"file": "probs.tsv", "sha256": sha256_file(tmp_path / "probs.tsv"), "train_sha256": "0" * 64}
    (tmp_path / "teacher.json").write_text(json.dumps(made_for))
    with pytest.raises(SystemExit, match=r"train\.txt: sha256 .* is not the 0{64}"):
        verify_teacher(tmp_path / "probs.tsv", tmp_path / "train.txt")
    made_for["train_sha256"] = sha256_file(tmp_path / "train.txt")
    (tmp_path / "teacher.json").write_text(json.dumps(made_for))
    verify_teacher(tmp_path / "probs.tsv", tmp_path / "train.txt")


def tweets_with_teacher(tmp_path: Path) -> tuple[Path, list[str]]:
    """A tiny base model, a dozen training (and validation) lines and a teacher's probabilities for each; returns
    the base model's folder and the gold labels."""
    base = build_tiny_model(tmp_path / "base")
    texts = ["i am feeling very happy today", "so sad and miserable", "i love you", "so furious and angry",
             "scared and terrified", "what a lovely surprise"] * 2  # fmt: skip
    gold = list(ID2LABEL.values()) * 2
    (tmp_path / "train.txt").write_text("".join(f"{t};{g}\n" for t, g in zip(texts, gold, strict=True)))
    (tmp_path / "validation.txt").write_text("".join(f"{t};{g}\n" for t, g in zip(texts, gold, strict=True)))
    rows = ["\t".join("0.5" if label == g else "0.1" for label in LABELS) for g in gold]
    (tmp_path / "teacher.tsv").write_text("\t".join(LABELS) + "\n" + "\n".join(rows) + "\n")
    return base, gold


def test_a_training_run_distils_and_records_its_recipe(tmp_path: Path) -> None:
    # GIVEN a tiny base model, a dozen training lines and a teacher's probabilities for each of them
    base, _ = tweets_with_teacher(tmp_path)
    # WHEN train.py runs one epoch with the teacher
    main(["--train-file", str(tmp_path / "train.txt"), "--validation-file", str(tmp_path / "validation.txt"),
          "--teacher-file", str(tmp_path / "teacher.tsv"), "--base-model", str(base), "--epochs", "1",
          "--output-dir", str(tmp_path / "model"), "--log-dir", str(tmp_path / "log"), "--natural-file", "",
          "--no-progress", "--batch-size", "4", "--max-length", "16", "--device", "cpu"])  # fmt: skip
    # THEN the model folder is written and its metrics name the teacher and the mix
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["distillation"]["teacher_file"] == "teacher.tsv"
    assert (metrics["distillation"]["weight"], metrics["distillation"]["temperature"]) == (0.7, 2.0)
    assert len(metrics["distillation"]["teacher_sha256"]) == 64
    assert (tmp_path / "model" / "model.safetensors").is_file()
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["_name_or_path"] == "emotion-distilbert-minilm-l6-distilled"


def test_rows_the_teacher_never_saw_learn_from_their_gold_label_alone() -> None:
    torch.manual_seed(2)
    logits, gold = torch.randn(4, 6), torch.randint(0, 6, (4,))
    teacher = torch.softmax(torch.randn(4, 6), dim=-1)
    ce = torch.nn.CrossEntropyLoss()
    taught = torch.tensor([True, True, False, False])
    mixed = distillation_loss(logits, gold, teacher, hard_loss=ce, weight=0.7, temperature=2.0, taught=taught)
    per_row = [
        distillation_loss(logits[i : i + 1], gold[i : i + 1], teacher[i : i + 1] if taught[i] else None,
                          hard_loss=ce, weight=0.7, temperature=2.0).item()
        for i in range(4)
    ]  # fmt: skip
    assert mixed.item() == pytest.approx(sum(per_row) / 4, rel=1e-5)
    # no row taught: the plain gold-label loss, whatever the teacher tensor holds
    none = torch.zeros(4, dtype=torch.bool)
    assert distillation_loss(logits, gold, teacher, hard_loss=ce, weight=0.7, temperature=2.0, taught=none) == ce(
        logits, gold
    )


def test_texts_of_other_registers_join_training_and_every_validation_set_picks_the_epoch(tmp_path: Path) -> None:
    # GIVEN the tweets with their teacher, and Reddit-like comments and messages with gold labels only
    base, gold = tweets_with_teacher(tmp_path)
    other = ["Best. Gift. Ever!", "We lost Max today.", "Miss you, mum x", "Refund still not here!!",
             "The lump is back.", "Wait, you're engaged?!"] * 2  # fmt: skip
    (tmp_path / "comments.txt").write_text("".join(f"{t};{g}\n" for t, g in zip(other, gold, strict=True)))
    # WHEN train.py runs with the extras (the teacher covers the tweets only)
    main(["--train-file", str(tmp_path / "train.txt"), "--validation-file", str(tmp_path / "validation.txt"),
          "--teacher-file", str(tmp_path / "teacher.tsv"), "--base-model", str(base), "--epochs", "2",
          "--extra-train-file", str(tmp_path / "comments.txt"),
          "--extra-validation-file", str(tmp_path / "comments.txt"), "--output-dir", str(tmp_path / "model"),
          "--log-dir", str(tmp_path / "log"), "--natural-file", "", "--no-progress", "--batch-size", "4",
          "--max-length", "16", "--device", "cpu", "--average-last", "1"])  # fmt: skip
    # THEN the record names every file, and each epoch was scored on both sets, picked by their mean macro-F1
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["data"]["train"]["examples"] == 12
    name = f"{tmp_path.name}/comments.txt"
    assert metrics["data"][f"extra train {name}"]["examples"] == 12
    assert f"extra validation {name}" in metrics["data"]
    for record in metrics["history"]:
        extra = record["extra"][name]
        assert record["selection"] == pytest.approx((record["macro_f1"] + extra["macro_f1"]) / 2)
    best = max(metrics["history"], key=lambda record: record["selection"])
    assert metrics["selected"] == f"epoch {best['epoch']}"
