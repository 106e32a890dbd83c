"""make model: every stage runs once, a second run skips what is current, and a changed input reruns from there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import ID2LABEL, build_tiny_model

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["i am feeling very happy today", "so sad and miserable", "i love you", "so furious and angry",
         "scared and terrified", "what a lovely surprise", "this is not good i feel bad", "wonderful",
         "i am shocked and amazed", "im afraid", "you feel angry", "i didnt feel sad"]  # fmt: skip


def pipeline(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "scripts.model.pipeline", "--data-dir", str(tmp_path / "data"),
               "--out", str(tmp_path / "model"), "--work-dir", str(tmp_path / "work"), "--epochs", "1",
               "--base-model", str(tmp_path / "base"), "--no-progress", *extra]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def tweets(tmp_path: Path) -> None:
    """A tiny base model and 60 training lines (24 of them the validation file) of the six labels."""
    build_tiny_model(tmp_path / "base")
    labels = list(ID2LABEL.values())
    lines = [f"{text};{labels[i % 6]}\n" for i, text in enumerate(TEXTS * 5)]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.txt").write_text("".join(lines))
    (tmp_path / "data" / "validation.txt").write_text("".join(lines[:24]))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    tmp_path = tmp_path_factory.mktemp("pipeline")
    tweets(tmp_path)
    return tmp_path, pipeline(tmp_path)


def test_every_stage_runs_once(built: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    tmp_path, first = built
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for stage in ("train", "export", "evaluate", "trust", "card"):
        assert f"{stage}: " in first.stdout and f"{stage}: current, skipped" not in first.stdout
    model = tmp_path / "model"
    for name in ("model.int8.onnx", "onnx_export.json", "serving_metrics.json", "README.md", "metrics.json"):
        assert (model / name).is_file(), name
    assert json.loads((model / "serving_metrics.json").read_text())["validation"]["examples"] == 24
    # 60 texts cannot fit a detector honestly: the checks are switched off, with the reason on the card
    trust = json.loads((model / "trust_report.json").read_text())
    assert trust == {"fitted": False, "reason": "60 training texts; the detector needs at least 160 (16 components)"}
    assert not (model / "trust.json").exists()
    assert "Trust checks not fitted: 60 training texts" in (model / "README.md").read_text()


def test_a_second_run_skips_every_current_stage(built: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    tmp_path, _ = built
    again = pipeline(tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("current, skipped") == 6


def test_a_changed_setting_reruns_from_its_stage(built: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    tmp_path, _ = built
    longer = pipeline(tmp_path, "--epochs", "2")
    assert longer.returncode == 0, longer.stderr[-3000:]
    assert "data: current, skipped" in longer.stdout
    assert longer.stdout.count("current, skipped") == 1


@pytest.fixture(scope="module")
def union(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The emotion recipe's union: GoEmotions release files and a messages folder beside the tweets."""
    tmp_path = tmp_path_factory.mktemp("union")
    tweets(tmp_path)
    release = tmp_path / "goemotions"
    release.mkdir()
    # ids: 17 joy, 25 sadness, 2 anger, 27 neutral, 7 curiosity (left out)
    rows = "Best day ever\t17\ta\nWe lost the match\t25\tb\nSo annoying\t2\tc\nThe bus is at nine\t27\td\nWhy?\t7\te\n"
    (release / "train.tsv").write_text(rows)
    (release / "dev.tsv").write_text(rows)
    messages = tmp_path / "messages"
    messages.mkdir()
    (messages / "train.txt").write_text("Visa approved!!;joy\nRefund still missing.;anger\n")
    (messages / "dev.txt").write_text("Miss you, mum;love\n")
    return tmp_path, pipeline(tmp_path, "--goemotions-dir", str(release), "--messages-dir", str(messages))


def test_the_union_trains_on_every_register_and_scores_each(
    union: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    tmp_path, run = union
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "goemotions: " in run.stdout
    # THEN the three left-out or neutral rows are not trained on, and every register's file is on the record
    data = json.loads((tmp_path / "model" / "metrics.json").read_text())["data"]
    assert data["extra train data/goemotions-train.txt"]["examples"] == 3
    assert data["extra train messages/train.txt"]["examples"] == 2
    assert {"extra validation data/goemotions-dev.txt", "extra validation messages/dev.txt"} <= set(data)
    assert (tmp_path / "work" / "data" / "goemotions-neutral.txt").read_text() == "The bus is at nine\n"
    # AND the card scores the model on GoEmotions dev beside the other sources
    sources = json.loads((tmp_path / "model" / "serving_metrics.json").read_text())["sources"]
    assert sources["goemotions_dev"]["examples"] == 3
    assert {"validation", "natural", "everyday", "messages_dev"} <= set(sources)
    assert "GoEmotions dev, mapped to the six" in (tmp_path / "model" / "README.md").read_text()
