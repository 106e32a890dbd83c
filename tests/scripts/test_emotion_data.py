"""The CARER reader must split on the last ';' and reject malformed lines, so labels never leak into texts."""

import hashlib
from pathlib import Path

import pytest

from scripts.model.emotion_data import (
    LABELS,
    check_labels,
    conflicting_texts,
    label_counts,
    parse_line,
    read_examples,
    sha256_file,
)


def test_parse_line_splits_on_last_semicolon() -> None:
    """A ';' inside the text must stay in the text."""
    example = parse_line("a;b text;joy\n")
    assert example.text == "a;b text"
    assert example.label == "joy"


@pytest.mark.parametrize("line", ["no label here", ";joy", "text;", "  ;  "])
def test_parse_line_rejects_malformed(line: str) -> None:
    """Lines without both a text and a label are errors, not silent skips."""
    with pytest.raises(ValueError, match="text;label"):
        parse_line(line, 7)


def test_read_examples_skips_blank_lines_and_checksums(tmp_path: Path) -> None:
    """Blank lines are ignored; the checksum is the plain sha256 of the bytes."""
    path = tmp_path / "data.txt"
    content = "i feel great;joy\n\ni am so scared;fear\ni feel great;sadness\n"
    path.write_text(content, encoding="utf-8")
    examples = read_examples(path)
    assert [e.label for e in examples] == ["joy", "fear", "sadness"]
    assert label_counts(examples) == {"fear": 1, "joy": 1, "sadness": 1}
    assert conflicting_texts(examples) == {"i feel great": {"joy", "sadness"}}
    assert sha256_file(path) == hashlib.sha256(content.encode()).hexdigest()


def test_check_labels() -> None:
    """Unknown labels are reported; the six emotions are accepted."""
    check_labels([parse_line(f"x;{label}") for label in LABELS])
    with pytest.raises(ValueError, match="unknown labels"):
        check_labels([parse_line("x;boredom")])


def test_natural_sentence_file_is_balanced() -> None:
    """The hand-written punctuated set covers every emotion equally."""
    path = Path(__file__).resolve().parents[1] / "data" / "natural_sentences.txt"
    counts = label_counts(read_examples(path))
    assert set(counts) == set(LABELS)
    assert len(set(counts.values())) == 1
