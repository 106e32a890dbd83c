"""`make request-cost`: one run times a normal batch against the costliest requests the bound allows, into the docs."""

from __future__ import annotations

from pathlib import Path

from scripts.perf import request_cost


def test_one_run_fills_the_block_with_every_request_against_the_normal_batch(
    tiny_model_dir: Path, tmp_path: Path, reset_model: None
) -> None:
    # GIVEN a page with the generated block; WHEN the benchmark runs one round on the tiny model, which reads 64
    # tokens of a text (so the bound is set low enough for 16 long texts to pass it, and the batch small enough for
    # 16 everyday messages, many of them unknown words to its vocabulary, to fit it)
    page = tmp_path / "performance.md"
    page.write_text("before\n<!-- BEGIN GENERATED: request-cost -->\nold\n<!-- END GENERATED: request-cost -->\n")
    request_cost.main(
        [
            "--model-dir",
            str(tiny_model_dir),
            "--rounds",
            "1",
            "--max-request-tokens",
            "512",
            "--max-batch",
            "16",
            "--doc",
            str(page),
        ]
    )
    # THEN the block lists the normal batch, the costliest accepted requests and the refused one, with the summary
    text = page.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert rows[0].startswith("| normal batch: 16 everyday messages |") and rows[0].endswith("| 1.0 |")
    assert any("refused (422)" in row for row in rows) and any("without the bound" in row for row in rows)
    within = [row for row in rows[1:] if "refused" not in row and "without" not in row]
    assert len(within) == 4 and all(int(row.split(" | ")[3].replace(",", "")) <= 512 for row in within)
    assert "With `MAX_REQUEST_TOKENS=512`, the costliest request accepted took **" in text
    assert text.startswith("before\n") and "old" not in text
