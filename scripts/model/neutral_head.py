"""The "no clear emotion" head of an emotion model: logistic regression on the served [CLS] features.

The training split's texts nearly all read "i feel ...", so a distance to what the model learnt flags everyday
emotional sentences ("We won the match, and I can't stop smiling.") about as often as neutral ones. This head is
fitted on what it must tell apart instead: hand-written neutral statements (``data/trust/neutral.txt``) against the
training split and hand-written everyday emotional sentences (``data/trust/everyday.txt``). Neither file shares a
sentence with the evaluation sets in ``tests/data``, so the rates the card reports are held out. It flags at even
odds (log-odds above 0); the regularisation is chosen by cross-validation over the hand-written training sets.

A model trained on the union of registers also gets real neutral data: GoEmotions' comments that its raters labelled
``neutral`` alone join the neutral side (half its weight; the hand-written statements keep the other half), and its
emotional comments join the training split on the emotional side.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from scripts.model.emotion_data import read_examples

HEAD_DATA = Path(__file__).resolve().parents[2] / "data" / "trust"
NEUTRAL_FILE = "neutral.txt"
EVERYDAY_FILE = "everyday.txt"
#: Inverse regularisation strengths tried; the one of least cross-validated balanced error is kept.
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
#: The emotional side weighs as much as the neutral one, half of it the training split, half the everyday set.
EVERYDAY_SHARE = 0.5
#: The neutral side's share given to extra neutral texts (GoEmotions' neutral comments) when there are any.
EXTRA_NEUTRAL_SHARE = 0.5
#: Even odds: the head's own decision boundary, not a rate tuned on any evaluation set.
THRESHOLD = 0.0
FOLDS = 5


def head_texts(folder: Path) -> tuple[list[str], list[str]]:
    """(neutral statements, everyday emotional sentences); the latter's ``;label`` is dropped (any emotion counts)."""
    neutral = [line.strip() for line in (folder / NEUTRAL_FILE).read_text(encoding="utf-8").splitlines()]
    return [text for text in neutral if text], [example.text for example in read_examples(folder / EVERYDAY_FILE)]


def fit_head(
    train: np.ndarray, everyday: np.ndarray, neutral: np.ndarray, c: float, extra_neutral: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """(weights, bias) of the log-odds that a text is neutral, each side weighing the same in total."""
    extra = extra_neutral if extra_neutral is not None else np.empty((0, neutral.shape[1]), dtype=neutral.dtype)
    written_share = 1 - EXTRA_NEUTRAL_SHARE if len(extra) else 1.0
    features = np.concatenate([train, everyday, neutral, extra]).astype(np.float64)
    target = np.r_[np.zeros(len(train) + len(everyday)), np.ones(len(neutral) + len(extra))]
    weight = np.r_[
        np.full(len(train), (1 - EVERYDAY_SHARE) / len(train)),
        np.full(len(everyday), EVERYDAY_SHARE / len(everyday)),
        np.full(len(neutral), written_share / len(neutral)),
        np.full(len(extra), (1 - written_share) / max(1, len(extra))),
    ]
    model = LogisticRegression(C=c, max_iter=5000).fit(features, target, sample_weight=weight * len(target) / 2)
    return model.coef_[0].astype(np.float32), float(model.intercept_[0])


def choose_c(
    train: np.ndarray,
    everyday: np.ndarray,
    neutral: np.ndarray,
    grid: Sequence[float] = C_GRID,
    extra_neutral: np.ndarray | None = None,
) -> tuple[float, list[dict[str, Any]]]:
    """The C of least balanced error over folds of the hand-written sets (the training split and the extra neutral
    texts are in every fit)."""
    written = np.concatenate([everyday, neutral])
    is_neutral = np.r_[np.zeros(len(everyday), dtype=bool), np.ones(len(neutral), dtype=bool)]
    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(written, is_neutral))
    rows = []
    for c in grid:
        missed_neutral, flagged_everyday = [], []
        for rest, held in folds:
            weights, bias = fit_head(
                train, written[rest[~is_neutral[rest]]], written[rest[is_neutral[rest]]], c, extra_neutral
            )
            flags = written[held] @ weights + bias > THRESHOLD
            missed_neutral.append(float(np.mean(~flags[is_neutral[held]])))
            flagged_everyday.append(float(np.mean(flags[~is_neutral[held]])))
        missed, flagged = float(np.mean(missed_neutral)), float(np.mean(flagged_everyday))
        rows.append({"c": c, "neutral_missed": missed, "everyday_flagged": flagged, "error": (missed + flagged) / 2})
    best = min(rows, key=lambda row: row["error"])
    return float(best["c"]), rows
