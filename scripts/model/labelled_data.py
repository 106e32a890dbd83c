"""Read a folder of your own labelled texts and write the ``text;label`` files the model pipeline trains on.

The folder holds a ``train`` file and optionally a ``validation`` file, each one of ``.csv`` (a header with ``text``
and ``label`` columns), ``.jsonl`` (one ``{"text": ..., "label": ...}`` object a line) or ``.txt`` (``text;label``
lines, split on the last ``;``). Any 2 to 50 string labels; every label needs two training examples. Without a
validation file, a stratified, seeded 10 % of the training texts becomes one. Every problem is reported with its
file and line, never as a traceback. Line breaks inside a text become spaces (one text, one line). Example::

    python -m scripts.model.labelled_data --data-dir my-tickets --out artifacts/pipeline/my-model/data
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

from scripts.model.emotion_data import LABELS, Example

SUFFIXES = (".csv", ".jsonl", ".txt")
MIN_LABELS, MAX_LABELS = 2, 50
VALIDATION_SHARE = 0.1


class LabelledDataError(Exception):
    """Raised for a missing, unreadable or malformed file, or labels the model cannot learn from."""


def find(folder: Path, stem: str) -> Path | None:
    """The one ``stem.csv``, ``stem.jsonl`` or ``stem.txt`` in ``folder`` (None if there is none)."""
    found = [folder / f"{stem}{suffix}" for suffix in SUFFIXES if (folder / f"{stem}{suffix}").is_file()]
    if len(found) > 1:
        raise LabelledDataError(f"{folder}: more than one {stem} file ({', '.join(p.name for p in found)})")
    return found[0] if found else None


def _rows(path: Path) -> Iterator[tuple[int, object, object]]:
    """(line number, text, label) for each record, by the file's format."""
    with open(path, encoding="utf-8", newline="") as handle:
        if path.suffix == ".csv":
            reader = csv.DictReader(handle)
            if not {"text", "label"} <= set(reader.fieldnames or []):
                raise LabelledDataError(f"{path}:1: the header must name the columns text and label")
            for row in reader:
                yield reader.line_num, row.get("text"), row.get("label")
        elif path.suffix == ".jsonl":
            for lineno, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise LabelledDataError(f"{path}:{lineno}: not a JSON object ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise LabelledDataError(f"{path}:{lineno}: not a JSON object")
                yield lineno, record.get("text"), record.get("label")
        else:
            for lineno, line in enumerate(handle, start=1):
                if line.strip():
                    text, _, label = line.rstrip("\r\n").rpartition(";")
                    yield lineno, text, label


def read_labelled(path: Path) -> list[Example]:
    """Every example of one file; the first bad record stops it with its file and line."""
    examples = []
    try:
        for lineno, text, label in _rows(path):
            if not isinstance(text, str) or not text.strip():
                raise LabelledDataError(f"{path}:{lineno}: empty or missing text")
            if not isinstance(label, str) or not label.strip():
                raise LabelledDataError(f"{path}:{lineno}: missing label")
            if ";" in label or "\n" in label:
                raise LabelledDataError(f"{path}:{lineno}: a label cannot contain ';' or a line break")
            examples.append(Example(text=" ".join(text.split()), label=label.strip()))
    except (UnicodeDecodeError, csv.Error, OSError) as exc:
        raise LabelledDataError(f"{path}: unreadable ({exc.__class__.__name__}: {exc})") from None
    if not examples:
        raise LabelledDataError(f"{path}: no examples")
    return examples


def check_label_set(train: Sequence[Example], path: Path) -> list[str]:
    """The labels in model order (the six emotions keep theirs; others sorted), refused if unlearnable."""
    counts = Counter(example.label for example in train)
    if not MIN_LABELS <= len(counts) <= MAX_LABELS:
        raise LabelledDataError(f"{path}: {len(counts)} label(s); a model needs {MIN_LABELS} to {MAX_LABELS}")
    scarce = sorted(label for label, count in counts.items() if count < 2)
    if scarce:
        raise LabelledDataError(f"{path}: label(s) {scarce} have fewer than two examples")
    return list(LABELS) if set(counts) == set(LABELS) else sorted(counts)


def stratified_split(examples: Sequence[Example], seed: int) -> tuple[list[Example], list[Example]]:
    """About 10 % of each label held out (at least one, never the last), the same for the same seed."""
    by_label: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_label[example.label].append(example)
    rng = random.Random(seed)  # noqa: S311 - a reproducible split, not security
    train, validation = [], []
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        held = min(len(group) - 1, max(1, round(VALIDATION_SHARE * len(group))))
        validation += group[:held]
        train += group[held:]
    return train, validation


def prepare(folder: Path, out: Path, seed: int) -> dict[str, object]:
    """Write ``out/train.txt``, ``out/validation.txt`` and ``out/labels.json``; return what was written."""
    train_path = find(folder, "train")
    if train_path is None:
        raise LabelledDataError(f"{folder}: no train file (train.csv, train.jsonl or train.txt)")
    train = read_labelled(train_path)
    labels = check_label_set(train, train_path)
    validation_path = find(folder, "validation")
    if validation_path is None:
        train, validation = stratified_split(train, seed)
    else:
        validation = read_labelled(validation_path)
        unknown = sorted({example.label for example in validation} - set(labels))
        if unknown:
            raise LabelledDataError(f"{validation_path}: label(s) {unknown} never occur in {train_path.name}")
    out.mkdir(parents=True, exist_ok=True)
    for name, examples in (("train", train), ("validation", validation)):
        lines = "".join(f"{example.text};{example.label}\n" for example in examples)
        (out / f"{name}.txt").write_text(lines, encoding="utf-8")
    summary: dict[str, object] = {
        "labels": labels,
        "train": {"file": train_path.name, "examples": len(train)},
        "validation": {"file": validation_path.name if validation_path else f"10 % of {train_path.name}, seed {seed}",
                       "examples": len(validation)},
    }  # fmt: skip
    (out / "labels.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the folder with train (and validation)")
    parser.add_argument("--out", type=Path, required=True, help="where train.txt and validation.txt go")
    parser.add_argument("--seed", type=int, default=42, help="for the validation split when there is no file")
    args = parser.parse_args(argv)
    try:
        summary = prepare(args.data_dir, args.out, args.seed)
    except LabelledDataError as exc:
        print(f"make model: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
