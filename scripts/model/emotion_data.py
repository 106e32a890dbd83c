"""Read the CARER emotion files (``text;label`` per line) and checksum them.

The files are plain UTF-8 text with one example per line. A line is split on its
*last* ``;`` so that a text containing ``;`` would still parse. Blank lines are
skipped; malformed lines raise ``ValueError`` with the line number.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

#: The six emotion names, in the dair-ai/emotion id order.
LABELS: tuple[str, ...] = ("sadness", "joy", "love", "anger", "fear", "surprise")


@dataclass(frozen=True)
class Example:
    """One labelled text."""

    text: str
    label: str


def parse_line(line: str, lineno: int = 0) -> Example:
    """Parse one ``text;label`` line (split on the last ``;``)."""
    stripped = line.rstrip("\r\n")
    text, sep, label = stripped.rpartition(";")
    if not sep or not text.strip() or not label.strip():
        raise ValueError(f"line {lineno}: expected 'text;label', got {stripped!r}")
    return Example(text=text.strip(), label=label.strip())


def read_examples(path: str | Path) -> list[Example]:
    """Read every example of a ``text;label`` file."""
    examples: list[Example] = []
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            examples.append(parse_line(line, lineno))
    return examples


def sha256_file(path: str | Path) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def label_counts(examples: Iterable[Example]) -> dict[str, int]:
    """Count examples per label, sorted by label name."""
    counts = Counter(example.label for example in examples)
    return dict(sorted(counts.items()))


def check_labels(examples: Sequence[Example], known: Sequence[str] = LABELS) -> None:
    """Raise ``ValueError`` if any example carries a label outside ``known``."""
    unknown = sorted({example.label for example in examples} - set(known))
    if unknown:
        raise ValueError(f"unknown labels {unknown}; expected a subset of {list(known)}")


def conflicting_texts(examples: Sequence[Example]) -> dict[str, set[str]]:
    """Return texts that occur with more than one label (a known data quirk)."""
    seen: dict[str, set[str]] = {}
    for example in examples:
        seen.setdefault(example.text, set()).add(example.label)
    return {text: labels for text, labels in seen.items() if len(labels) > 1}
