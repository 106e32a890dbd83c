"""Measure the GoEmotions-to-six label table (docs/model.md's ``goemotions-labels`` block).

For each of GoEmotions' 27 labels and ``neutral``, the dev comments carrying that label alone are read by a model
(through the API's serving path): which of the six it answers most often, and how often. Read with a model trained
on the emotion data alone (the one before the union, ``--model-dir``), that says how the tweets' own notion of each
emotion sees the label; beside it stand the release's Ekman grouping and the mapping the training uses
(``scripts/model/goemotions.py``). Writes ``docs/goemotions-labels.json`` and the block::

    python -m scripts.model.label_table --model-dir <emotion-only model> --release-dir data/goemotions \\
        --json docs/goemotions-labels.json --doc docs/model.md
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scripts.common.docs_blocks import render
from scripts.common.service import label_probabilities, load_classifier
from scripts.model.emotion_data import sha256_file
from scripts.model.goemotions import EKMAN_OF, GOEMOTIONS_LABELS, NEUTRAL, SIX_OF, read_tsv, unmask

BLOCK = "goemotions-labels"


def measure(model_dir: Path, dev_tsv: Path) -> dict[str, Any]:
    """Per label: dev comments with that label alone, and the model's readings of them by emotion."""
    comments = [comment for comment in read_tsv(dev_tsv) if len(comment.labels) == 1]
    labels, probabilities = label_probabilities(load_classifier(model_dir), [unmask(c) for c in comments])
    readings: dict[str, Counter[str]] = {label: Counter() for label in GOEMOTIONS_LABELS}
    for comment, index in zip(comments, probabilities.argmax(axis=1), strict=True):
        readings[comment.labels[0]][labels[index]] += 1
    return {
        "model_weights_sha256": sha256_file(model_dir / "model.int8.onnx"),
        "dev_sha256": sha256_file(dev_tsv),
        "labels": {
            label: {
                "comments": sum(count.values()),
                "read_as": dict(count.most_common()),
                "ekman": EKMAN_OF[label],
                "mapped_to": NEUTRAL if label == NEUTRAL else SIX_OF[label],
            }
            for label, count in readings.items()
        },
    }


def block(record: dict[str, Any]) -> str:
    """The table, mapped labels first (grouped by emotion), then the ones left out."""
    rows = ["| GoEmotions label | dev comments | read by the emotion-only model as | Ekman group | mapped to |",
            "|---|---|---|---|---|"]  # fmt: skip
    order = sorted(record["labels"].items(), key=lambda item: (not item[1]["mapped_to"], item[1]["mapped_to"] or ""))
    for label, row in order:
        total = row["comments"]
        top = ", ".join(f"{emotion} {count / total:.0%}" for emotion, count in list(row["read_as"].items())[:2])
        mapped = f"**{row['mapped_to']}**" if row["mapped_to"] else "left out"
        rows.append(f"| {label} | {total} | {top or 'n/a'} | {row['ekman']} | {mapped} |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="a model trained on the emotion data alone")
    parser.add_argument("--release-dir", type=Path, default=Path("data/goemotions"), help="holds dev.tsv")
    parser.add_argument("--json", type=Path, default=Path("docs/goemotions-labels.json"))
    parser.add_argument("--doc", type=Path, help="fill this page's GENERATED block 'goemotions-labels'")
    args = parser.parse_args(argv)
    record = measure(args.model_dir, args.release_dir / "dev.tsv")
    args.json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    table = block(record)
    if args.doc:
        args.doc.write_text(render(args.doc.read_text(encoding="utf-8"), {BLOCK: table}, where=args.doc), "utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
