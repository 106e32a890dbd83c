"""`make batch-invariance` end to end on the tiny model: the tool that writes docs/batch-invariance.md runs, and
the mechanism the API uses gives every text its single answer inside shuffled batches."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from support import LABELS, WORDS

from scripts.model.batch_invariance import main


def _split(path: Path, count: int, rng: random.Random) -> Path:
    rows = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 12))) + f";{LABELS[i % 6]}" for i in range(count)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_the_comparison_runs_and_one_call_per_text_is_invariant(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")  # what main() would set for the rest of the session
    rng = random.Random(0)  # noqa: S311 - reproducible test texts
    train, validation = _split(tmp_path / "train.txt", 400, rng), _split(tmp_path / "validation.txt", 120, rng)
    record, page = tmp_path / "record.json", tmp_path / "page.md"
    sizes = ["--calibration-texts", "20", "--invariance-texts", "30", "--latency-texts", "5", "--bulk-texts", "120"]
    assert main(["--model-dir", str(tiny_model_dir), "--train-file", str(train), "--validation-file",
                 str(validation), *sizes, "--json", str(record), "--page", str(page)]) == 0  # fmt: skip
    found = json.loads(record.read_text(encoding="utf-8"))
    alone = found["variants"]["one_per_call"]["invariance"]
    assert alone["texts"] >= 30
    assert (alone["labels_changed"], alone["warnings_changed"], alone["probabilities_moved"]) == (0, 0, 0)
    assert found["choice"]["variant"] in page.read_text(encoding="utf-8")
