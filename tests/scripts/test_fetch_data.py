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
