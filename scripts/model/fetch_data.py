"""Rebuild the training data from its public sources (``make data``): the emotion data and GoEmotions.

The model is trained on the Hugging Face Hub dataset ``dair-ai/emotion`` (configuration ``split``), pinned to one
revision. Each split's parquet file becomes ``<split>.txt`` in ``--data-dir`` and is accepted only if its sha256
is the canonical one (the sums the original CARER files were published with), so a changed upstream, a corrupt
mirror or a tampered file can never slip into training. Everything is written under temporary names and renamed
only once all three files are verified: a failure leaves ``--data-dir`` as it was.

GoEmotions (Demszky et al. 2020, Apache-2.0) comes as the release's own TSV files, ``goemotions/data/*.tsv`` of
google-research/google-research at a pinned commit, kept byte for byte in ``--goemotions-dir`` and verified against
the sums the release's files have (``scripts/model/goemotions.py`` maps its labels onto the six when training).

``--source`` reads every file from a local folder laid out like both repositories (an offline mirror: the Hub
dataset's ``split/*.parquet`` beside ``goemotions/data/*.tsv``); without it the emotion data comes from the Hub
through ``huggingface_hub`` and GoEmotions from the pinned commit over HTTPS. Example::

    python -m scripts.model.fetch_data --data-dir data/emotion --goemotions-dir data/goemotions
    python -m scripts.model.fetch_data --data-dir data/emotion --source /mnt/mirror
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

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


GOEMOTIONS_REPO = "google-research/google-research"
GOEMOTIONS_COMMIT = "2adf640a14f11025ae5a9d0ec493b78530d276d3"
GOEMOTIONS_URL = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"


@dataclass(frozen=True)
class ReleaseFile:
    """One GoEmotions file: the split it serves, its path in the release repository and the sum of its bytes."""

    split: str
    repo_path: str
    sha256: str

    @property
    def file_name(self) -> str:
        return PurePosixPath(self.repo_path).name


GOEMOTIONS: tuple[ReleaseFile, ...] = (
    ReleaseFile("train", "goemotions/data/train.tsv",
                "1c254a142be5c00e80d819b9ae1bbd36d94b2eeb8f4b1271846508d57e57d9c5"),
    ReleaseFile("validation", "goemotions/data/dev.tsv",
                "575489c079c9de1097062a01738f998590d6b7ead66dd1c9fd1d2ba01fd8bc62"),
    ReleaseFile("test", "goemotions/data/test.tsv",
                "0587b2dd8b27b97352adbfc3fb083d46005c8946657fdc2b1ca8b1cc7f1f8be4"),
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


def copy_release(release: ReleaseFile, source: Path | None, out: Path) -> None:
    """The GoEmotions file's bytes into ``out``: from the local mirror when given, else from the pinned commit."""
    if source is not None:
        path = source / release.repo_path
        if not path.is_file():
            raise DataError(f"{release.repo_path}: not found in {source} (expected goemotions/data/ in the mirror)")
        shutil.copyfile(path, out)
        return
    url = GOEMOTIONS_URL.format(repo=GOEMOTIONS_REPO, commit=GOEMOTIONS_COMMIT, path=release.repo_path)
    try:
        # The URL is the constant https one above, never a caller's: no file:/ or custom scheme can reach urlopen.
        with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310  # nosec B310
            out.write_bytes(response.read())
    except OSError as exc:  # URLError, timeouts and HTTP errors are all OSErrors
        raise DataError(f"{release.repo_path}: could not download from {GOEMOTIONS_REPO}@{GOEMOTIONS_COMMIT[:12]}: "
                        f"{exc}") from exc  # fmt: skip


#: One file to stage: where it lands, what writes it, the sum it must have, and how an error names it.
Job = tuple[Path, Callable[[Path], None], str, str]


def rebuild(
    data_dir: Path,
    source: Path | None,
    splits: Sequence[Split] = SPLITS,
    *,
    releases: Sequence[ReleaseFile] = (),
    release_dir: Path | None = None,
) -> list[Path]:
    """Convert and verify every split (and GoEmotions file), then move them into place together; return them."""
    jobs: list[Job] = [
        (data_dir / split.file_name, lambda out, split=split: write_lines(locate(split, source), out), split.sha256,
         f"{split.file_name} (from {split.hub_path})")
        for split in splits
    ]  # fmt: skip
    if releases:
        if release_dir is None:
            raise ValueError("release_dir is required with releases")
        jobs += [
            (release_dir / release.file_name, lambda out, release=release: copy_release(release, source, out),
             release.sha256, f"{release.file_name} (from {GOEMOTIONS_REPO}/{release.repo_path})")
            for release in releases
        ]  # fmt: skip
    return stage_all(jobs)


def stage_all(jobs: Sequence[Job]) -> list[Path]:
    """Write each job under a temporary name beside its target and verify it; rename all only once all verified."""
    staged: list[tuple[Path, Path]] = []
    try:
        for final, write, expected, name in jobs:
            final.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary_name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=".part", dir=final.parent)
            os.close(handle)
            temporary = Path(temporary_name)
            staged.append((temporary, final))
            write(temporary)
            actual = sha256_file(temporary)
            if actual != expected:
                raise DataError(f"{name}: sha256 mismatch\n  expected {expected}\n  actual   {actual}")
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
    parser.add_argument(
        "--goemotions-dir", default="data/goemotions", help="where GoEmotions' train/dev/test.tsv go ('' to skip)"
    )
    parser.add_argument("--source", default=None, help="a local folder laid out like both repositories (offline)")
    parser.add_argument(
        "--splits",
        nargs="+",
        choices=[split.name for split in SPLITS],
        default=[split.name for split in SPLITS],
        help="rebuild only these splits (default all three; GoEmotions' validation split is dev.tsv)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    source = Path(args.source) if args.source else None
    releases = [release for release in GOEMOTIONS if release.split in args.splits] if args.goemotions_dir else []
    try:
        written = rebuild(
            Path(args.data_dir),
            source,
            [split for split in SPLITS if split.name in args.splits],
            releases=releases,
            release_dir=Path(args.goemotions_dir) if args.goemotions_dir else None,
        )
    except DataError as exc:
        print(f"make data: {exc}", file=sys.stderr)
        return 1
    for path in written:
        origin = (
            f"{GOEMOTIONS_REPO}@{GOEMOTIONS_COMMIT[:12]}" if path.suffix == ".tsv" else f"{REPO_ID}@{REVISION[:12]}"
        )
        print(f"{path}  sha256 ok  (from {source or origin})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
