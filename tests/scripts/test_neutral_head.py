"""The emotion model's neutral head: what it learns from its sets, and that those sets are not the evaluation's."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from scripts.model.emotion_data import LABELS, read_examples
from scripts.model.neutral_head import (
    C_GRID,
    EVERYDAY_FILE,
    HEAD_DATA,
    NEUTRAL_FILE,
    THRESHOLD,
    choose_c,
    fit_head,
    head_texts,
)

EVALUATION = Path(__file__).resolve().parents[1] / "data"
MESSAGES = Path(__file__).resolve().parents[2] / "data" / "messages"


def _clusters(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training texts around one point, everyday ones off to a side, neutral ones to the other side."""
    train = rng.normal(size=(400, 6)) * 0.3 + np.array([2.0, 0, 0, 0, 0, 0])
    everyday = rng.normal(size=(60, 6)) * 0.3 + np.array([0, 2.0, 0, 0, 0, 0])
    neutral = rng.normal(size=(60, 6)) * 0.3 + np.array([0, -2.0, 0, 0, 0, 0])
    return train, everyday, neutral


def test_the_head_flags_neutral_text_and_not_everyday_emotional_text() -> None:
    train, everyday, neutral = _clusters(np.random.default_rng(0))
    weights, bias = fit_head(train, everyday, neutral, c=1.0)
    assert (neutral @ weights + bias > THRESHOLD).mean() > 0.95
    assert (everyday @ weights + bias > THRESHOLD).mean() < 0.05
    assert (train @ weights + bias > THRESHOLD).mean() < 0.05


def test_the_regularisation_is_chosen_from_the_grid_by_cross_validation() -> None:
    train, everyday, neutral = _clusters(np.random.default_rng(1))
    chosen, rows = choose_c(train, everyday, neutral)
    assert chosen in C_GRID and [row["c"] for row in rows] == list(C_GRID)
    best = min(row["error"] for row in rows)
    assert next(row for row in rows if row["c"] == chosen)["error"] == best < 0.05


def _words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"[a-z0-9]+", text.lower())) or frozenset([text.strip()])


def close_to_evaluation(texts: list[str]) -> list[str]:
    """The texts that repeat a sentence of an evaluation set in tests/data, or reword it closely (half the words or
    more in common)."""
    evaluation = [
        _words(line.split("\t")[-1].rsplit(";", 1)[0])
        for path in EVALUATION.iterdir()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return [
        text
        for text in texts
        for words in [_words(text)]
        if any(words == other or (len(words) >= 3 and len(words & other) / len(words | other) >= 0.5)
               for other in evaluation)
    ]  # fmt: skip


def test_the_head_sets_share_no_sentence_with_the_evaluation_sets() -> None:
    """So the card's rates on the evaluation sets are held out from the head's fit."""
    neutral, everyday = head_texts(HEAD_DATA)
    assert len(neutral) >= 250 and len(everyday) >= 180
    assert close_to_evaluation(neutral + everyday) == []


def test_the_everyday_messages_trained_on_share_no_sentence_with_the_evaluation_sets() -> None:
    """data/messages/ (training and epoch selection) stays apart from tests/data/everyday_messages.txt and the
    other evaluation sets, so their figures are held out from training."""
    texts = [example.text for name in ("train.txt", "dev.txt") for example in read_examples(MESSAGES / name)]
    assert len(texts) >= 500 and len(set(texts)) == len(texts)
    assert close_to_evaluation(texts) == []


def test_the_neutral_comments_take_half_the_neutral_side() -> None:
    """GoEmotions' neutral comments pull the head toward what they share, without outweighing the statements."""
    train, everyday, neutral = _clusters(np.random.default_rng(2))
    comments = np.random.default_rng(3).normal(size=(600, 6)) * 0.3 + np.array([0, 0, 2.0, 0, 0, 0])
    weights, bias = fit_head(train, everyday, neutral, c=1.0)
    assert (comments @ weights + bias > THRESHOLD).mean() < 0.5  # without them, the head does not know them
    weights, bias = fit_head(train, everyday, neutral, 1.0, comments)
    assert (comments @ weights + bias > THRESHOLD).mean() > 0.95
    assert (neutral @ weights + bias > THRESHOLD).mean() > 0.95
    assert (everyday @ weights + bias > THRESHOLD).mean() < 0.05


def test_every_everyday_sentence_names_one_of_the_six_emotions() -> None:
    rows = read_examples(HEAD_DATA / EVERYDAY_FILE)
    assert {row.label for row in rows} == set(LABELS)
    assert len({row.text for row in rows}) == len(rows)
    assert (HEAD_DATA / NEUTRAL_FILE).read_text("utf-8").count("\n") >= 250
