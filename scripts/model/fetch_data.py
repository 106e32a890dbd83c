"""Rebuild the emotion data's canonical ``text;label`` files from its public source (``make data``).

The model is trained on the Hugging Face Hub dataset ``dair-ai/emotion`` (configuration ``split``), pinned to one
revision. Each split's parquet file becomes ``<split>.txt`` in ``--data-dir`` and is accepted only if its sha256
is the canonical one (the sums the original CARER files were published with), so a changed upstream, a corrupt
mirror or a tampered file can never slip into training. Everything is written under temporary names and renamed
only once all three files are verified: a failure leaves ``--data-dir`` as it was.

``--source`` reads the same three parquet files from a local folder laid out like the Hub repository (an offline
mirror); without it the files come from the Hub through ``huggingface_hub``. Example::

    python -m scripts.model.fetch_data --data-dir data/emotion
    python -m scripts.model.fetch_data --data-dir data/emotion --source /mnt/mirror/dair-ai-emotion
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scripts.model.emotion_data import LABELS, sha256_file

REPO_ID = "dair-ai/emotion"
REVISION = "106c232c0a63f3f06ae5d80d141114a00604e969"


@dataclass(frozen=True)
class Split:
    """One split: where it lives in the Hub repository and the sum its ``text;label`` file must have."""

    name: str
    hub_path: str
    sha256: str

    @property
    def file_name(self) -> str:
        return f"{self.name}.txt"


SPLITS: tuple[Split, ...] = (
    Split("train", "split/train-00000-of-00001.parquet",
          "3ab03d945a6cb783d818ccd06dafd52d2ed8b4f62f0f85a09d7d11870865b190"),
    Split("validation", "split/validation-00000-of-00001.parquet",
          "34faaa31962fe63cdf5dbf6c132ef8ab166c640254ab991af78f3aea375e79ef"),
    Split("test", "split/test-00000-of-00001.parquet",
          "60f531690d20127339e7f054edc299a82c627b5ec0dd5d552d53d544e0cfcc17"),
)  # fmt: skip


class DataError(Exception):
    """Raised when a source file is missing, unreadable or converts to other bytes than the canonical ones."""


def locate(split: Split, source: Path | None) -> Path:
    """The split's parquet file: from the local mirror when given, else downloaded from the pinned Hub revision."""
    if source is not None:
        path = source / split.hub_path
        if not path.is_file():
            raise DataError(f"{split.hub_path}: not found in {source} (expected a folder laid out like the Hub repo)")
        return path
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(REPO_ID, split.hub_path, repo_type="dataset", revision=REVISION))
    except Exception as exc:  # the client raises many kinds; all mean "could not get this file"
        raise DataError(f"{split.hub_path}: could not download from {REPO_ID}@{REVISION[:12]}: {exc}") from exc


def write_lines(parquet: Path, out: Path, labels: Sequence[str] = LABELS) -> None:
    """Write the parquet file's rows as ``text;label`` lines (label ids 0-5 are ``labels`` in order)."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(parquet, columns=["text", "label"])
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, KeyError... for a bad file
        raise DataError(f"{parquet.name}: unreadable as parquet with columns text and label ({exc})") from exc
    texts = table.column("text").to_pylist()
    ids = table.column("label").to_pylist()
    with open(out, "w", encoding="utf-8", newline="\n") as handle:
        for row, (text, label_id) in enumerate(zip(texts, ids, strict=True)):
            if not isinstance(text, str) or not isinstance(label_id, int) or not 0 <= label_id < len(labels):
                raise DataError(f"{parquet.name}: row {row} is not a text with a label id 0-{len(labels) - 1}")
            handle.write(f"{text};{labels[label_id]}\n")


def rebuild(data_dir: Path, source: Path | None, splits: Sequence[Split] = SPLITS) -> list[Path]:
    """Convert and verify every split, then move them into ``data_dir`` together; return the files written."""
    data_dir.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for split in splits:
            parquet = locate(split, source)
            handle, name = tempfile.mkstemp(prefix=f".{split.name}.", suffix=".part", dir=data_dir)
            os.close(handle)
            temporary = Path(name)
            staged.append((temporary, data_dir / split.file_name))
            write_lines(parquet, temporary)
            actual = sha256_file(temporary)
            if actual != split.sha256:
                raise DataError(
                    f"{split.file_name} (from {split.hub_path}): sha256 mismatch\n"
                    f"  expected {split.sha256}\n  actual   {actual}"
                )
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, final in staged:
        temporary.replace(final)
    return [final for _, final in staged]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="data/emotion", help="where train/validation/test.txt go")
    parser.add_argument("--source", default=None, help="a local folder laid out like the Hub repository (offline)")
    parser.add_argument(
        "--splits",
        nargs="+",
        choices=[split.name for split in SPLITS],
        default=[split.name for split in SPLITS],
        help="rebuild only these splits (default all three)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    source = Path(args.source) if args.source else None
    where = str(source) if source else f"{REPO_ID}@{REVISION[:12]}"
    try:
        written = rebuild(Path(args.data_dir), source, [split for split in SPLITS if split.name in args.splits])
    except DataError as exc:
        print(f"make data: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"{path}  sha256 ok  (from {where})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
