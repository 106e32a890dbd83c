"""Put training runs side by side on their validation sets (docs/model.md's ``recipe`` block).

Each run is train.py's own record (``metrics.json``): the kept weights' scores on the emotion validation split and
on every extra validation set, the epoch kept and the wall time. Only validation and dev sets appear, never a test
split, so the table can choose between recipes. Example::

    python -m scripts.model.compare_runs --run "distilled on the tweets=functions/inference/model/metrics.json" \\
        --run "gold labels only=artifacts/gold/metrics.json" --doc docs/model.md --block recipe
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scripts.common.docs_blocks import render


def kept_scores(metrics: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """(accuracy, macro-F1) of the kept weights on each validation set, by set name."""
    selected = metrics["selected"]
    epoch = selected.removeprefix("epoch ") if selected.startswith("epoch ") else selected.removesuffix(" epochs")
    record = next(r for r in metrics["history"] if str(r["epoch"]) == epoch)
    scores = {"emotion validation": (record["accuracy"], record["macro_f1"])}
    scores.update({name: (v["accuracy"], v["macro_f1"]) for name, v in record.get("extra", {}).items()})
    return scores


def block(runs: dict[str, dict[str, Any]]) -> str:
    """One row per run: each validation set's accuracy / macro-F1, their mean macro-F1, the epoch kept, the time."""
    scored = {name: kept_scores(metrics) for name, metrics in runs.items()}
    sets = list(dict.fromkeys(name for scores in scored.values() for name in scores))
    rows = [
        "| run | " + " | ".join(f"{name}: accuracy / macro-F1" for name in sets) + " | mean macro-F1 | kept | time |",
        "|---|" + "---|" * (len(sets) + 3),
    ]
    for name, metrics in runs.items():
        scores = scored[name]
        cells = [f"{100 * scores[s][0]:.1f} / {100 * scores[s][1]:.1f}" if s in scores else "n/a" for s in sets]
        mean = sum(f1 for _, f1 in scores.values()) / len(scores)
        minutes = metrics["train_wall_seconds"] / 60
        rows.append(
            f"| {name} | {' | '.join(cells)} | **{100 * mean:.1f}** | {metrics['selected']} | {minutes:.0f} min |"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, help="NAME=path/to/metrics.json (repeatable)")
    parser.add_argument("--doc", type=Path, help="the page whose GENERATED block --block names")
    parser.add_argument("--block", default="recipe")
    args = parser.parse_args(argv)
    runs = {}
    for spec in args.run:
        name, _, path = spec.rpartition("=")
        runs[name] = json.loads(Path(path).read_text(encoding="utf-8"))
    table = block(runs)
    if args.doc:
        args.doc.write_text(render(args.doc.read_text(encoding="utf-8"), {args.block: table}, where=args.doc), "utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
