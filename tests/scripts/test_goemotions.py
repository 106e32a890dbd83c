"""GoEmotions onto the six: the release's TSV read as written, the strict mapping, and the label table's block.

Every file here is written by the test (release-shaped rows made up for it): nothing touches the network.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.model.emotion_data import LABELS, read_examples
from scripts.model.goemotions import (
    EKMAN_OF,
    GOEMOTIONS_LABELS,
    NEUTRAL,
    SIX_OF,
    Comment,
    GoEmotionsError,
    convert,
    read_tsv,
    six_label,
    unmask,
)
from scripts.model.label_table import block

ROOT = Path(__file__).resolve().parents[2]
ID = {label: str(index) for index, label in enumerate(GOEMOTIONS_LABELS)}

# Release-shaped rows: a quoted text with a tab and doubled quotes, several labels, masked names.
TRAIN = (
    f"Thanks so much, this made my day\t{ID['gratitude']}\tc1\n"
    f'"She said ""no way"" and left\tjust like that"\t{ID["surprise"]}\tc2\n'
    f"The bus comes at nine.\t{ID['neutral']}\tc3\n"
    f"I hate this and I'm scared\t{ID['anger']},{ID['fear']}\tc4\n"
    f"[NAME] is the best, I agree\t{ID['joy']},{ID['approval']}\tc5\n"
    f"Ugh, [NAME] did it again\t{ID['annoyance']},{ID['anger']}\tc6\n"
    f"Why though?\t{ID['curiosity']}\tc7\n"
    f"I miss [NAME] so much\t{ID['sadness']},{ID['grief']}\tc8\n"
    f"Sure, fine.\t{ID['neutral']},{ID['approval']}\tc9\n"
)
DEV = f"So glad [NAME] made it home safe\t{ID['relief']}\td1\nNoted.\t{ID['neutral']}\td2\n"


def release(folder: Path, *, dev: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.tsv").write_text(TRAIN, encoding="utf-8")
    if dev:
        (folder / "dev.tsv").write_text(DEV, encoding="utf-8")
    return folder


def test_every_label_of_the_release_is_mapped_or_left_out_and_grouped() -> None:
    assert set(SIX_OF) | {NEUTRAL} == set(GOEMOTIONS_LABELS) == set(EKMAN_OF)
    assert {emotion for emotion in SIX_OF.values() if emotion} == set(LABELS)
    # each of the six takes at least its own name; curiosity and the evaluative labels stay out
    assert all(SIX_OF[label] == label for label in LABELS)
    assert SIX_OF["curiosity"] is SIX_OF["approval"] is SIX_OF["admiration"] is None


def test_quoted_texts_with_tabs_and_quotes_are_read_whole(tmp_path: Path) -> None:
    comments = read_tsv(release(tmp_path) / "train.tsv")
    assert len(comments) == 9
    assert comments[1] == Comment('She said "no way" and left\tjust like that', ("surprise",), "c2")
    assert comments[3].labels == ("anger", "fear")


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (("gratitude",), "joy"),
        (("annoyance", "anger"), "anger"),  # two labels, one emotion
        (("sadness", "grief"), "sadness"),
        (("anger", "fear"), None),  # two of the six: ambiguous
        (("joy", "approval"), None),  # beside a left-out label
        (("curiosity",), None),
        (("neutral",), "neutral"),
        (("neutral", "approval"), None),  # neutral only when alone
    ],
)
def test_a_comment_is_kept_only_when_its_labels_name_exactly_one_emotion(
    labels: tuple[str, ...], expected: str | None
) -> None:
    assert six_label(labels) == expected


def test_masked_names_become_words_chosen_by_the_comment_id() -> None:
    comment = Comment("[NAME] told [NAME] about [RELIGION]", ("neutral",), "abc")
    text = unmask(comment)
    assert "[" not in text and text == unmask(comment)
    assert unmask(Comment("  two\n lines  ", ("joy",), "x")) == "two lines"


def test_convert_writes_the_six_label_rows_and_the_neutral_texts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    counts = convert(release(tmp_path / "release"), out)
    rows = read_examples(out / "goemotions-train.txt")
    assert [(row.text, row.label) for row in rows][:2] == [
        ("Thanks so much, this made my day", "joy"),
        ('She said "no way" and left just like that', "surprise"),
    ]
    assert [row.label for row in rows] == ["joy", "surprise", "anger", "sadness"]
    assert (out / "goemotions-neutral.txt").read_text(encoding="utf-8") == "The bus comes at nine.\n"
    assert read_examples(out / "goemotions-dev.txt")[0].label == "joy"
    assert counts["train.tsv"][NEUTRAL] == 1 and "test.tsv" not in counts


def test_the_command_names_a_missing_release_file_without_a_traceback(tmp_path: Path) -> None:
    release(tmp_path / "release", dev=False)
    result = subprocess.run(
        [sys.executable, "-m", "scripts.model.goemotions", "--release-dir", str(tmp_path / "release"),
         "--out-dir", str(tmp_path / "out")],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "dev.tsv missing: run 'make data' first" in result.stderr and "Traceback" not in result.stderr


def test_a_malformed_row_is_named_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "train.tsv").write_text(f"fine\t{ID['joy']}\ta\nbroken\t99\tb\n", encoding="utf-8")
    with pytest.raises(GoEmotionsError, match=r"train.tsv:2: label ids '99' are not 0-27"):
        read_tsv(tmp_path / "train.tsv")


def test_the_label_table_lists_the_mapped_labels_first_with_their_readings() -> None:
    record = json.loads((ROOT / "docs" / "goemotions-labels.json").read_text(encoding="utf-8"))
    assert set(record["labels"]) == set(GOEMOTIONS_LABELS)
    table = block(record).splitlines()
    assert len(table) == 2 + len(GOEMOTIONS_LABELS)
    first_left_out = next(i for i, row in enumerate(table) if row.endswith("| left out |"))
    assert all(row.endswith("| left out |") for row in table[first_left_out:])
    assert "| gratitude |" in "\n".join(table[:first_left_out])
