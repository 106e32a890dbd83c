"""Build an offline mirror of the dair-ai/emotion Hub dataset (its parquet layout) for `make data DATA_SOURCE=`.

The tests write one from rows they make up; `.ci/run` writes one from the real text files and checks that
`make data` turns it back into the canonical bytes::

    python tests/hub_mirror.py <folder of train.txt, validation.txt> <mirror folder>
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from scripts.model.emotion_data import LABELS, read_examples
from scripts.model.fetch_data import SPLITS

Rows = dict[str, list[tuple[str, int]]]


def write_mirror(folder: Path, rows: Rows) -> Path:
    """Write each split of ``rows`` (text, label id) where the Hub repository keeps it."""
    for split in SPLITS:
        if split.name not in rows:
            continue
        path = folder / split.hub_path
        path.parent.mkdir(parents=True, exist_ok=True)
        texts = [text for text, _ in rows[split.name]]
        labels = pa.array([label for _, label in rows[split.name]], pa.int64())
        pq.write_table(pa.table({"text": texts, "label": labels}), path)
    return folder


def rows_from_text(folder: Path) -> Rows:
    """The rows of every ``<split>.txt`` present in a folder of ``text;label`` files."""
    return {
        split.name: [(e.text, LABELS.index(e.label)) for e in read_examples(folder / split.file_name)]
        for split in SPLITS
        if (folder / split.file_name).is_file()
    }


if __name__ == "__main__":
    source, mirror = Path(sys.argv[1]), Path(sys.argv[2])
    written = rows_from_text(source)
    write_mirror(mirror, written)
    sys.stdout.write(f"mirror of {', '.join(written)} in {mirror}\n")
