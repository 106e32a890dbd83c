"""Classify a CSV or JSON Lines file with the bundled model, locally: every row kept, in order, answers added.

    make classify IN=messages.csv OUT=labelled.csv       # or .jsonl in and/or out

The input has a ``text`` column (CSV, with a header) or field (JSON Lines; --text-field to change it). The output
(format by extension) keeps every input column and adds ``emotion``, ``confidence``, the six probabilities, the
trust fields ``reliable`` and ``warnings``, and ``error``: a row that cannot be classified (empty, too long, not
text, invalid UTF-8, not a JSON object) gets an error code (``app.bulk.ROW_ERRORS`` plus ``invalid_row``) and
the file goes on. Rows are streamed in chunks, so memory stays flat however large the file; one worker process
per CPU classifies chunks, each text in its own model call as ``POST /predict`` runs it, so every answer is the
API's (``app.bulk.classify_rows`` says why batches are not used). A progress bar on stderr shows texts per second.

A CSV cell that a spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return) is written with a leading ``'``, as OWASP advises against CSV injection: input texts are anyone's, and
``=HYPERLINK(...)`` or ``+cmd|...`` must not come back live. ``--keep-formulas`` writes every cell as read.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, TextIO

from scripts.common.service import load_classifier

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = ROOT / "functions" / "inference" / "model"
CHUNK_ROWS = 256
KEEP_FORMULAS_HELP = "write CSV cells that start like a formula (=, +, -, @) as read, without the leading '"
#: A line of a JSON Lines file that is not a JSON object.
INVALID_ROW = "invalid_row"
#: Bytes that are not UTF-8 are read as lone surrogates (``surrogateescape``), which the row rules refuse.
ENCODING = {"encoding": "utf-8", "errors": "surrogateescape"}

#: What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_worker: dict[str, Any] = {}


def defused(cell: str) -> str:
    """The cell with a leading ``'`` when a spreadsheet would read it as a formula; unchanged otherwise."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _start_worker(model_dir: str, max_chars: int) -> None:
    """Load the model once per worker process, one inference thread each (the workers share the CPUs)."""
    classifier = load_classifier(model_dir, num_threads=1, max_text_chars=max_chars)
    _worker.update(classifier=classifier, max_chars=max_chars)


def _classify_chunk(rows: list[dict[str, Any] | None], text_field: str) -> list[dict[str, Any]]:
    from app.bulk import classify_rows

    results = classify_rows(
        _worker["classifier"],
        rows,
        text_field=text_field,
        max_chars=_worker["max_chars"],
    )
    for row, result in zip(rows, results, strict=True):
        if row is None:
            result["error"] = INVALID_ROW
    return results


def read_rows(path: Path) -> tuple[list[str] | None, Iterator[dict[str, Any] | None]]:
    """(CSV header or None for JSON Lines, the rows); a JSON line that is not an object is None."""
    handle = path.open(newline="", **ENCODING)  # closed by the iterator, when the rows are read
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])

        def csv_rows() -> Iterator[dict[str, Any] | None]:
            with handle:
                yield from reader

        return header, csv_rows()

    def json_rows() -> Iterator[dict[str, Any] | None]:
        with handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError:
                    value = None
                yield value if isinstance(value, dict) else None

    return None, json_rows()


def count_rows(path: Path) -> int:
    """Rows in the file, for the progress bar (a fast pass over the bytes; CSV quoted newlines aside)."""
    with path.open("rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return max(0, lines - 1) if path.suffix.lower() == ".csv" else lines


def chunked(rows: Iterator[dict[str, Any] | None], size: int) -> Iterator[list[dict[str, Any] | None]]:
    chunk: list[dict[str, Any] | None] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Writer:
    """CSV (input columns, then the answers; lists joined by ';') or JSON Lines (input fields plus the answers).

    CSV cells, the header's included, are ``defused`` unless ``keep_formulas``: the file is meant for spreadsheets.
    """

    def __init__(
        self,
        handle: TextIO,
        path: Path,
        header: list[str] | None,
        labels: Sequence[str],
        *,
        keep_formulas: bool = False,
    ) -> None:
        self._handle = handle
        self._csv = path.suffix.lower() == ".csv"
        self._added = ["emotion", "confidence", *labels, "reliable", "warnings", "error"]
        self._writer: csv.DictWriter[str] | None = None
        self._header = header
        self._keep_formulas = keep_formulas

    def _cell(self, value: Any) -> Any:
        return defused(value) if isinstance(value, str) and not self._keep_formulas else value

    def write(self, row: dict[str, Any] | None, result: dict[str, Any]) -> None:
        row = dict(row or {})
        if self._csv:
            if self._writer is None:
                columns = self._header if self._header is not None else list(row)
                fields = [*columns, *(name for name in self._added if name not in columns)]
                self._writer = csv.DictWriter(self._handle, fieldnames=fields, extrasaction="ignore")
                self._writer.writerow({name: self._cell(name) for name in fields})
            flat = {key: "" if value is None else self._cell(value) for key, value in row.items()}
            for key, value in result.items():
                if isinstance(value, list):
                    value = ";".join(value)
                elif isinstance(value, bool):
                    value = str(value).lower()
                flat[key] = "" if value is None else self._cell(value)
            self._writer.writerow(flat)
        else:
            self._handle.write(json.dumps({**row, **result}, ensure_ascii=False) + "\n")


def classify_file(
    source: Path,
    target: Path,
    *,
    text_field: str = "text",
    workers: int | None = None,
    model_dir: Path = DEFAULT_MODEL,
    max_chars: int = 5000,
    progress: bool = True,
    keep_formulas: bool = False,
) -> dict[str, Any]:
    """Classify ``source`` into ``target``; returns counts and throughput."""
    from tqdm import tqdm

    from app.settings import available_cpus

    workers = workers or available_cpus()
    header, rows = read_rows(source)
    labels = sorted(json.loads((model_dir / "config.json").read_text(encoding="utf-8"))["label2id"])
    started = time.perf_counter()
    counts = {"rows": 0, "errors": 0, "unreliable": 0}
    pending: deque[tuple[list[dict[str, Any] | None], Future[list[dict[str, Any]]]]] = deque()
    with (
        # Spawned, not forked: a worker holds its own model and nothing of the caller's memory.
        ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(str(model_dir), max_chars),
        ) as pool,
        target.open("w", newline="", **ENCODING) as handle,
        tqdm(total=count_rows(source), unit="text", disable=not progress, file=sys.stderr, smoothing=0.1) as bar,
    ):
        writer = Writer(handle, target, header, labels, keep_formulas=keep_formulas)

        def write_oldest() -> None:
            chunk, future = pending.popleft()
            for row, result in zip(chunk, future.result(), strict=True):
                writer.write(row, result)
                counts["errors"] += result["error"] is not None
                counts["unreliable"] += result["reliable"] is False
            counts["rows"] += len(chunk)
            bar.update(len(chunk))

        for chunk in chunked(rows, CHUNK_ROWS):
            pending.append((chunk, pool.submit(_classify_chunk, chunk, text_field)))
            while pending and pending[0][1].done():
                write_oldest()
            # At most two chunks per worker in flight: the file is never read faster than it is classified.
            while len(pending) >= 2 * workers:
                write_oldest()
        while pending:
            write_oldest()
    seconds = time.perf_counter() - started
    return {**counts, "seconds": seconds, "texts_per_second": counts["rows"] / seconds if seconds else 0.0,
            "workers": workers}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="a .csv (with a header) or .jsonl file")
    parser.add_argument("output", type=Path, help="where to write: .csv or .jsonl")
    parser.add_argument("--text-field", default="text", help="the column or field holding the text")
    parser.add_argument("--workers", type=int, help="worker processes (default: one per available CPU)")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--keep-formulas", action="store_true", help=KEEP_FORMULAS_HELP)
    args = parser.parse_args(argv)
    for path, role in ((args.input, "input"), (args.output, "output")):
        if path.suffix.lower() not in (".csv", ".jsonl"):
            parser.error(f"the {role} must end in .csv or .jsonl: {path}")
    summary = classify_file(
        args.input, args.output, text_field=args.text_field, workers=args.workers, model_dir=args.model_dir,
        progress=not args.quiet, keep_formulas=args.keep_formulas,
    )  # fmt: skip
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
