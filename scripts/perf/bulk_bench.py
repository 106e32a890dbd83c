"""Measure `make classify` on a large file of real and hostile rows, and check it against the API.

    python -m scripts.perf.bulk_bench --texts data/emotion/train.txt data/emotion/validation.txt \\
        --rows 100000 --doc docs/classify.md

Builds a CSV of ``--rows`` rows (the dataset's texts, shuffled, and about 5 % hostile rows: empty, blank, too
long, invalid UTF-8, markup, other scripts, quotes and newlines inside a field), runs scripts/cli/classify.py on it
while sampling the memory of its process tree, then checks that every row is present in input order, that each
hostile row carries its error code, and that a sample of rows gets exactly the label ``POST /predict`` gives.
Measures the ceiling, the model call alone in as many processes, one text per call just before and just after the
file run (the share is taken against their mean), and in length-sorted batches, on the same texts.
Writes docs/bulk.json and, with --doc, that page's GENERATED ``bulk`` block (docs/classify.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from scripts.cli.classify import DEFAULT_MODEL, ENCODING, classify_file

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "artifacts" / "bulk"
LABEL_SAMPLE = 2000
#: Valid texts of the file (from its start) that the model-only ceiling is measured on.
CEILING_TEXTS = 20_000
#: Texts per model call of the batched ceiling (8, 16 and 32 run within a few percent of each other here).
CEILING_BATCH = 16

#: Hostile rows and the error each must get (None: classified like any text).
HOSTILE: list[tuple[str, str | None]] = [
    ("", "empty_text"),
    ("   \t  ", "empty_text"),
    ("x" * 5001, "text_too_long"),
    ("caf\udce9 au lait, so good", "invalid_unicode"),  # the byte 0xE9 of Latin-1, not UTF-8
    ("<script>alert('hi')</script> i feel so happy", None),
    ('she said "i am terrified", then left,\nslamming the door', None),
    ("Ich bin heute sehr traurig und einsam.", None),
    ("😀😀😀", None),
    ("'; DROP TABLE messages; --", None),
    ("i am " + "very " * 900 + "angry", None),  # long but allowed: truncated by the model
]


def build_file(texts: Sequence[str], rows: int, target: Path, *, seed: int = 0) -> list[tuple[str, str | None]]:
    """Write the CSV (id, text); returns each row's text and expected error, in order."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not security
    expected: list[tuple[str, str | None]] = []
    for _ in range(rows):
        expected.append(rng.choice(HOSTILE) if rng.random() < 0.05 else (rng.choice(texts), None))
    with target.open("w", newline="", **ENCODING) as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for index, (text, _) in enumerate(expected):
            writer.writerow([f"row-{index}", text])
    return expected


class MemorySampler:
    """Peak resident memory of this process and its children (the workers), sampled every 50 ms."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.wait(0.05):
            total = 0
            for process in [self._process, *self._process.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    continue
            self.peak_mb = max(self.peak_mb, total / 2**20)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def api_labels(texts: Sequence[str]) -> tuple[list[str], list[str]]:
    """What POST /predict answers for each text, and what POST /predict/batch answers in length-sorted batches of
    32, through the app as `make serve` builds it."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # one log line per request is noise here
    from fastapi.testclient import TestClient

    from app.api import build_app

    client = TestClient(build_app())
    single = [client.post("/predict", json={"text": text}).json()["emotion"] for text in texts]
    order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
    batched = [""] * len(texts)
    for start in range(0, len(order), 32):
        chunk = order[start : start + 32]
        answer = client.post("/predict/batch", json={"texts": [texts[index] for index in chunk]}).json()
        for index, prediction in zip(chunk, answer["predictions"], strict=True):
            batched[index] = prediction["emotion"]
    return single, batched


def label_sample(expected: list[tuple[str, str | None]], *, seed: int = 0) -> tuple[dict[int, str], int]:
    """POST /predict's label for a random sample of the valid rows, by row index, and how many of those labels
    POST /predict/batch (batches of 32) answers differently."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not security
    valid = [index for index, (_, error) in enumerate(expected) if error is None]
    sample = rng.sample(valid, min(LABEL_SAMPLE, len(valid)))
    single, batched = api_labels([expected[index][0] for index in sample])
    return dict(zip(sample, single, strict=True)), sum(a != b for a, b in zip(single, batched, strict=True))


def _model_only(texts: list[str], batch: int, model_dir: str) -> tuple[int, float]:
    """One process's share: the backend's model call alone (tokenising included), after the model is loaded."""
    from app.backends import load_backend

    backend = load_backend("onnx", Path(model_dir), source="bench", num_threads=1)
    if batch > 1:
        texts = sorted(texts, key=len)  # the best case for batches: neighbours of like length, little padding
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        backend.run(texts[start : start + batch])
    return len(texts), time.perf_counter() - started


def model_ceiling(texts: Sequence[str], *, workers: int, batch: int, model_dir: Path = DEFAULT_MODEL) -> float:
    """Texts per second of the model alone in ``workers`` processes: no file, no trust checks, no answers built.

    What `make classify` could reach at best on this machine, one text per call (``batch=1``, the API's answers)
    or in length-sorted batches (which would change some labels, see ``app.bulk.classify_rows``).
    """
    shares = [list(texts[index::workers]) for index in range(workers)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = list(pool.map(_model_only, shares, [batch] * workers, [str(model_dir)] * workers))
    return sum(count for count, _ in runs) / max(seconds for _, seconds in runs)


def check(expected: list[tuple[str, str | None]], output: Path, labels: dict[int, str]) -> dict[str, Any]:
    """Every row present and in order, hostile rows with their codes, a sample's labels equal to the API's."""
    with output.open(newline="", **ENCODING) as handle:
        rows = list(csv.DictReader(handle))
    in_order = [row["id"] for row in rows] == [f"row-{index}" for index in range(len(expected))]
    wrong_errors = [
        index
        for index, (row, (_, error)) in enumerate(zip(rows, expected, strict=False))
        if (row["error"] or None) != error
    ]
    mismatches = [index for index, label in labels.items() if rows[index]["emotion"] != label]
    return {
        "rows_written": len(rows),
        "in_input_order": in_order,
        "hostile_rows": sum(error is not None for _, error in expected),
        "wrong_error_codes": len(wrong_errors),
        "label_sample": len(labels),
        "label_mismatches": len(mismatches),
    }


def block(record: dict[str, Any]) -> str:
    run = record["run"]
    checks = run["checks"]
    ceiling = record["ceiling"]
    load = record["machine"].get("load_average", [0.0, 0.0])
    return (
        "| figure | measured |\n|---|---|\n"
        f"| rows (about 5 % hostile) | {run['rows']:,} |\n"
        f"| throughput | **{run['texts_per_second']:,.0f} texts/s** ({run['workers']} worker processes, "
        f"{run['seconds']:.0f} s): **{run['texts_per_second'] / ceiling['one_per_call'] * 100:.0f} %** of the "
        "one-text-per-call ceiling below |\n"
        f"| peak memory, all processes | **{run['peak_memory_mb']:.0f} MB** |\n"
        f"| every row present, in input order | {'yes' if checks['in_input_order'] else '**no**'} "
        f"({checks['rows_written']:,} written) |\n"
        f"| hostile rows with the wrong error code | {checks['wrong_error_codes']} of {checks['hostile_rows']:,} |\n"
        f"| labels different from `POST /predict` (random sample) | {checks['label_mismatches']} of "
        f"{checks['label_sample']:,} |\n"
        f"| the same sample through `POST /predict/batch` (batches of 32): labels different from `POST /predict` | "
        f"{checks['batch_endpoint_mismatches']} of {checks['label_sample']:,} |\n"
        f"| ceiling: the model alone, {ceiling['workers']} processes, one text per call (mean of just before and "
        f"just after the file run: {ceiling['one_per_call_before']:,.0f} and {ceiling['one_per_call_after']:,.0f}) | "
        f"{ceiling['one_per_call']:,.0f} texts/s |\n"
        f"| ceiling: the model alone, length-sorted batches of {ceiling['batch']} (labels would differ) | "
        f"{ceiling['batched']:,.0f} texts/s |\n"
        f"\n`python -m scripts.perf.bulk_bench --rows {run['rows']}` on {record['machine']['cpus']} cores; "
        f"the ceilings on the file's first {ceiling['texts']:,} valid texts; docs/bulk.json. "
        f"Load average {load[0]:.1f} at the start, {load[1]:.1f} at the end (the machine is shared).\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=Path, nargs="+", required=True, help="text;label files to draw rows from")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "bulk.json")
    parser.add_argument("--doc", type=Path, help="fill this page's GENERATED block 'bulk' (docs/classify.md)")
    args = parser.parse_args(argv)
    from scripts.model.emotion_data import read_examples

    texts = [example.text for path in args.texts for example in read_examples(path)]
    WORK.mkdir(parents=True, exist_ok=True)
    source, target = WORK / "bulk-input.csv", WORK / "bulk-output.csv"
    expected = build_file(texts, args.rows, source)
    valid = [text for text, error in expected if error is None][:CEILING_TEXTS]
    from app.settings import available_cpus

    workers = available_cpus()
    load_before = os.getloadavg()[0]
    # The one-text-per-call ceiling just before and just after the file run: other work on a shared machine
    # drifts, and the share is taken against the mean of the two that bracket the run.
    before = model_ceiling(valid, workers=workers, batch=1)
    with MemorySampler() as memory:
        run = classify_file(source, target, workers=workers, progress=False)
    after = model_ceiling(valid, workers=workers, batch=1)
    labels, batch_mismatches = label_sample(expected)
    checks = {**check(expected, target, labels), "batch_endpoint_mismatches": batch_mismatches}
    ceiling = {
        "workers": workers,
        "texts": len(valid),
        "batch": CEILING_BATCH,
        "one_per_call_before": before,
        "one_per_call_after": after,
        "one_per_call": (before + after) / 2,
        "batched": model_ceiling(valid, workers=workers, batch=CEILING_BATCH),
    }
    record = {
        # Other work on a shared machine slows the file run and the ceilings unequally: the share moves with it.
        "machine": {"cpus": len(os.sched_getaffinity(0)), "load_average": [load_before, os.getloadavg()[0]]},
        "run": {**run, "peak_memory_mb": memory.peak_mb, "checks": checks},
        "ceiling": ceiling,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    text = block(record)
    print(text)
    if args.doc:
        from scripts.common.docs_blocks import render

        doc = args.doc.read_text(encoding="utf-8")
        args.doc.write_text(render(doc, {"bulk": text}, where=args.doc), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
