"""`make data` rebuilds the canonical text;label files from an offline mirror of the Hub dataset, or refuses.

Every test builds its own mirror (a folder laid out like dair-ai/emotion) from texts written here: nothing
touches the network.
"""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from hub_mirror import write_mirror as write_rows

from scripts.model import fetch_data
from scripts.model.fetch_data import SPLITS, DataError, Split, rebuild

ROWS = {
    "train": [("i feel so alone tonight", 0), ("what a wonderful morning", 1), ("i adore you", 2)],
    "validation": [("this makes me furious", 3), ("i am scared of the dark", 4)],
    "test": [("i did not expect that at all", 5)],
}
ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent


def write_mirror(folder: Path) -> Path:
    return write_rows(folder, ROWS)


def canonical(rows: dict[str, list[tuple[str, int]]] = ROWS) -> list[Split]:
    """The three splits with the sums of the files these rows should become."""
    names = fetch_data.LABELS
    return [
        Split(
            split.name,
            split.hub_path,
            hashlib.sha256("".join(f"{t};{names[i]}\n" for t, i in rows[split.name]).encode()).hexdigest(),
        )
        for split in SPLITS
    ]


def test_mirror_becomes_verified_text_label_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    written = rebuild(data, write_mirror(tmp_path / "mirror"), canonical())
    assert [p.name for p in written] == ["train.txt", "validation.txt", "test.txt"]
    assert (data / "train.txt").read_text() == (
        "i feel so alone tonight;sadness\nwhat a wonderful morning;joy\ni adore you;love\n"
    )
    assert (data / "test.txt").read_text() == "i did not expect that at all;surprise\n"
    assert sorted(p.name for p in data.iterdir()) == ["test.txt", "train.txt", "validation.txt"]


def test_tampered_mirror_names_the_file_and_both_sums_and_writes_nothing(tmp_path: Path) -> None:
    """One changed label in validation: no file at all lands, not even the train file that verified."""
    tampered = {**ROWS, "validation": [("this makes me furious", 3), ("i am scared of the dark", 1)]}
    mirror = write_rows(tmp_path / "mirror", tampered)
    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.md").write_text("mine")
    with pytest.raises(DataError) as error:
        rebuild(data, mirror, canonical())
    message = str(error.value)
    assert "validation.txt" in message and "sha256 mismatch" in message
    assert canonical()[1].sha256 in message
    assert canonical(tampered)[1].sha256 in message
    assert sorted(p.name for p in data.iterdir()) == ["notes.md"]


def test_an_earlier_good_copy_survives_a_failed_rebuild(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rebuild(data, write_mirror(tmp_path / "good"), canonical())
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    bad = write_mirror(tmp_path / "bad")
    (bad / SPLITS[2].hub_path).write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"test-00000-of-00001\.parquet: unreadable"):
        rebuild(data, bad, canonical())
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before


def test_missing_file_is_named(tmp_path: Path) -> None:
    mirror = write_mirror(tmp_path / "mirror")
    (mirror / SPLITS[0].hub_path).unlink()
    with pytest.raises(DataError, match=r"split/train-00000-of-00001.parquet: not found in"):
        rebuild(tmp_path / "data", mirror, canonical())


def test_label_id_outside_the_six_is_refused(tmp_path: Path) -> None:
    mirror = write_rows(tmp_path / "mirror", {**ROWS, "train": [("hello there", 6)]})
    with pytest.raises(DataError, match="row 0 is not a text with a label id 0-5"):
        rebuild(tmp_path / "data", mirror, canonical())


def test_make_data_refuses_a_mirror_that_is_not_the_canonical_data(tmp_path: Path) -> None:
    """Through the command a user runs: the pinned sums reject these made-up rows; exit non-zero, no traceback."""
    mirror = write_mirror(tmp_path / "mirror")
    data = tmp_path / "data"
    result = subprocess.run(
        ["make", "--no-print-directory", "data", f"VENV={VENV}", "-o", f"{VENV}/.installed",
         f"DATA={data}", f"DATA_SOURCE={mirror}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "train.txt (from split/train-00000-of-00001.parquet): sha256 mismatch" in result.stderr
    assert f"expected {SPLITS[0].sha256}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not data.exists() or not any(data.iterdir())


def test_no_tracked_file_but_ci_names_the_shared_folder() -> None:
    """A fresh clone must not depend on a folder beside the repository."""
    tracked = subprocess.run(
        ["git", "grep", "-l", "-F", "/".join(["..", "shared"])],
        cwd=ROOT, capture_output=True, text=True, check=False,
    ).stdout.split()  # fmt: skip
    assert tracked == [".ci/run"]


GOEMOTIONS_BYTES = {
    "train": b'Lol ""yes""\t1\tc1\nok\t27\tc2\n',
    "validation": b"wow\t26\td1\n",
    "test": b"no\t2\tt1\n",
}


def goemotions_mirror(folder: Path, contents: dict[str, bytes] = GOEMOTIONS_BYTES) -> Path:
    """GoEmotions' release files where google-research keeps them, beside the emotion data's parquet files."""
    write_mirror(folder)
    for release in fetch_data.GOEMOTIONS:
        path = folder / release.repo_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(contents[release.split])
    return folder


def releases(contents: dict[str, bytes] = GOEMOTIONS_BYTES) -> list[fetch_data.ReleaseFile]:
    return [
        fetch_data.ReleaseFile(release.split, release.repo_path, hashlib.sha256(contents[release.split]).hexdigest())
        for release in fetch_data.GOEMOTIONS
    ]


def test_goemotions_release_files_are_kept_byte_for_byte_beside_the_emotion_data(tmp_path: Path) -> None:
    written = rebuild(
        tmp_path / "emotion", goemotions_mirror(tmp_path / "mirror"), canonical(),
        releases=releases(), release_dir=tmp_path / "goemotions",
    )  # fmt: skip
    assert [p.name for p in written] == ["train.txt", "validation.txt", "test.txt", "train.tsv", "dev.tsv", "test.tsv"]
    assert (tmp_path / "goemotions" / "train.tsv").read_bytes() == GOEMOTIONS_BYTES["train"]
    assert sorted(p.name for p in (tmp_path / "goemotions").iterdir()) == ["dev.tsv", "test.tsv", "train.tsv"]


def test_a_changed_goemotions_file_lands_nothing_at_all(tmp_path: Path) -> None:
    """One byte off in dev.tsv: neither GoEmotions nor the emotion files that verified are written."""
    mirror = goemotions_mirror(tmp_path / "mirror", {**GOEMOTIONS_BYTES, "validation": b"wow\t27\td1\n"})
    with pytest.raises(DataError) as error:
        rebuild(tmp_path / "emotion", mirror, canonical(), releases=releases(), release_dir=tmp_path / "goemotions")
    assert "dev.tsv (from google-research/google-research/goemotions/data/dev.tsv): sha256 mismatch" in str(error.value)
    assert not any((tmp_path / "emotion").iterdir()) and not any((tmp_path / "goemotions").iterdir())


def test_a_mirror_without_goemotions_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"goemotions/data/train.tsv: not found in .* \(expected goemotions/data/"):
        rebuild(tmp_path / "emotion", write_mirror(tmp_path / "mirror"), canonical(),
                releases=releases(), release_dir=tmp_path / "goemotions")  # fmt: skip


def test_the_pinned_goemotions_files_are_the_release_at_its_commit() -> None:
    """The sums are the release's own (shared README), the commit a full sha, the test split the held-back one."""
    assert fetch_data.GOEMOTIONS_COMMIT == "2adf640a14f11025ae5a9d0ec493b78530d276d3"
    assert {release.file_name: release.sha256[:12] for release in fetch_data.GOEMOTIONS} == {
        "train.tsv": "1c254a142be5", "dev.tsv": "575489c079c9", "test.tsv": "0587b2dd8b27",
    }  # fmt: skip
    assert [release.split for release in fetch_data.GOEMOTIONS] == [split.name for split in SPLITS]
