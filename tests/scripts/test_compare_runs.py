"""The recipe table: each run's kept weights scored on every validation set, never on a test split."""

from __future__ import annotations

from typing import Any

from scripts.model.compare_runs import block, kept_scores


def run(selected: str, *, extra_f1: float, minutes: float) -> dict[str, Any]:
    history = [
        {"epoch": 1, "accuracy": 0.90, "macro_f1": 0.88, "extra": {"d/dev.txt": {"accuracy": 0.5, "macro_f1": 0.4}}},
        {"epoch": 2, "accuracy": 0.92, "macro_f1": 0.90,
         "extra": {"d/dev.txt": {"accuracy": 0.7, "macro_f1": extra_f1}}},
        {"epoch": "mean of last 2", "accuracy": 0.91, "macro_f1": 0.89,
         "extra": {"d/dev.txt": {"accuracy": 0.6, "macro_f1": 0.5}}},
    ]  # fmt: skip
    return {"selected": selected, "history": history, "train_wall_seconds": minutes * 60}


def test_the_kept_epoch_is_the_one_scored_not_the_last() -> None:
    assert kept_scores(run("epoch 2", extra_f1=0.6, minutes=1)) == {
        "emotion validation": (0.92, 0.90),
        "d/dev.txt": (0.7, 0.6),
    }
    assert kept_scores(run("mean of last 2 epochs", extra_f1=0.6, minutes=1))["d/dev.txt"] == (0.6, 0.5)


def test_one_row_per_run_with_the_mean_macro_f1_over_its_sets() -> None:
    table = block(
        {"distilled": run("epoch 2", extra_f1=0.6, minutes=30), "gold": run("epoch 1", extra_f1=0.6, minutes=29)}
    ).splitlines()
    assert table[0].startswith("| run | emotion validation: accuracy / macro-F1 | d/dev.txt: accuracy / macro-F1 |")
    assert table[2] == "| distilled | 92.0 / 90.0 | 70.0 / 60.0 | **75.0** | epoch 2 | 30 min |"
    assert table[3] == "| gold | 90.0 / 88.0 | 50.0 / 40.0 | **64.0** | epoch 1 | 29 min |"
