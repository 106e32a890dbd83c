"""Build an offline mirror of the training data's sources for `make data DATA_SOURCE=`: the dair-ai/emotion Hub
dataset (its parquet layout) and, optionally, GoEmotions' release files where google-research keeps them.

The tests write one from rows they make up; `.ci/run` writes one from the real files and checks that `make data`
turns it back into the canonical bytes::

    python tests/hub_mirror.py <folder of train.txt, validation.txt> <mirror folder> [<folder of GoEmotions *.tsv>]
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from scripts.model.emotion_data import LABELS, read_examples
from scripts.model.fetch_data import GOEMOTIONS, SPLITS

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


def copy_goemotions(source: Path, mirror: Path) -> list[str]:
    """Copy each GoEmotions release file present in ``source`` to its place in the mirror; return their names."""
    copied = []
    for release in GOEMOTIONS:
        if (source / release.file_name).is_file():
            target = mirror / release.repo_path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / release.file_name, target)
            copied.append(release.file_name)
    return copied


if __name__ == "__main__":
    source, mirror = Path(sys.argv[1]), Path(sys.argv[2])
    written = rows_from_text(source)
    write_mirror(mirror, written)
    copied = copy_goemotions(Path(sys.argv[3]), mirror) if len(sys.argv) > 3 else []
    sys.stdout.write(f"mirror of {', '.join([*written, *copied])} in {mirror}\n")
