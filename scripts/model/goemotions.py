"""GoEmotions (Demszky et al. 2020) read from its release TSV files and mapped onto the six emotions.

The release labels Reddit comments with 27 emotions or ``neutral``. :data:`SIX_OF` maps each of the 27 to one of the
six or leaves it out (``None``); docs/model.md's label table gives the measurement behind every row (how the model
trained on the emotion data alone reads each label on dev, and the release's own Ekman grouping). A comment is kept
when its mapped labels name exactly one of the six and none of its labels is left out; a comment labelled
``neutral`` alone is kept as ``neutral`` (the ``no_clear_emotion`` head's data, never the classifier's). Everything
else (labels falling on two of the six, or beside a left-out label) is dropped: a strict mapping read better on
everyday text than folding in loosely related labels.

The masked names of the release (``[NAME]``, ``[RELIGION]``) become ordinary words picked by the comment's id, so the
model never learns that a bracketed token means Reddit. Example::

    python -m scripts.model.goemotions --release-dir data/goemotions --out-dir artifacts/pipeline/model/data
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from scripts.model.emotion_data import LABELS

#: The release's label names; a row's label ids index this tuple (27 is neutral).
GOEMOTIONS_LABELS: tuple[str, ...] = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity", "desire",
    "disappointment", "disapproval", "disgust", "embarrassment", "excitement", "fear", "gratitude", "grief", "joy",
    "love", "nervousness", "optimism", "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral",
)  # fmt: skip
NEUTRAL = "neutral"

#: Each GoEmotions label's emotion among the six, or None where it names none of them plainly (docs/model.md).
SIX_OF: dict[str, str | None] = {
    "anger": "anger", "annoyance": "anger", "disgust": "anger",
    "fear": "fear", "nervousness": "fear",
    "joy": "joy", "amusement": "joy", "excitement": "joy", "gratitude": "joy", "relief": "joy", "pride": "joy",
    "love": "love", "caring": "love",
    "sadness": "sadness", "grief": "sadness", "disappointment": "sadness",
    "surprise": "surprise",
    "admiration": None, "approval": None, "confusion": None, "curiosity": None, "desire": None,
    "disapproval": None, "embarrassment": None, "optimism": None, "realization": None, "remorse": None,
}  # fmt: skip

#: The release's own grouping of the 27 into Ekman's six (goemotions/data/ekman_mapping.json at the pinned commit);
#: neutral stands alone. Ekman's disgust is not one of the API's six.
EKMAN_OF: dict[str, str] = {
    label: group
    for group, members in {
        "anger": ("anger", "annoyance", "disapproval"),
        "disgust": ("disgust",),
        "fear": ("fear", "nervousness"),
        "joy": ("joy", "amusement", "approval", "excitement", "gratitude", "love", "optimism", "relief", "pride",
                "admiration", "desire", "caring"),
        "sadness": ("sadness", "disappointment", "embarrassment", "grief", "remorse"),
        "surprise": ("surprise", "realization", "confusion", "curiosity"),
        "neutral": ("neutral",),
    }.items()
    for label in members
}  # fmt: skip

_MASKS = {
    "[NAME]": ("Sam", "Alex", "Maria", "Tom", "Priya", "Jordan", "Chen", "Emma", "Luis", "Kate", "Omar", "Nina"),
    "[RELIGION]": ("Christianity", "Islam", "Buddhism", "Judaism", "Hinduism"),
}
_MASK = re.compile(r"\[(?:NAME|RELIGION)\]")


class GoEmotionsError(Exception):
    """Raised when a release file is malformed (a row without text, label ids or comment id)."""


@dataclass(frozen=True)
class Comment:
    """One row of a release file: the text, its label names and the comment id."""

    text: str
    labels: tuple[str, ...]
    comment_id: str


def read_tsv(path: str | Path) -> list[Comment]:
    """Every row of a release TSV (quoted texts, comma-separated label ids, comment id)."""
    comments: list[Comment] = []
    with open(path, encoding="utf-8", newline="") as handle:
        for lineno, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if len(row) != 3 or not row[0].strip():
                raise GoEmotionsError(f"{path}:{lineno}: expected text, label ids and comment id")
            try:
                labels = tuple(GOEMOTIONS_LABELS[int(i)] for i in row[1].split(","))
            except (ValueError, IndexError):
                raise GoEmotionsError(f"{path}:{lineno}: label ids {row[1]!r} are not 0-27") from None
            comments.append(Comment(row[0], labels, row[2]))
    return comments


def six_label(labels: Sequence[str]) -> str | None:
    """The one emotion of the six the labels name, ``neutral`` for neutral alone, None when the row is left out."""
    if tuple(labels) == (NEUTRAL,):
        return NEUTRAL
    mapped = {SIX_OF.get(label) for label in labels}
    if len(mapped) != 1 or None in mapped:
        return None
    return mapped.pop()


def unmask(comment: Comment) -> str:
    """The text on one line, each masked name replaced by a word chosen from the comment id (reproducible)."""
    seed = int(hashlib.sha256(comment.comment_id.encode()).hexdigest()[:8], 16)
    count = iter(range(1000))

    def pick(match: re.Match[str]) -> str:
        choices = _MASKS[match.group(0)]
        return choices[(seed + next(count)) % len(choices)]

    return " ".join(_MASK.sub(pick, comment.text).split())


def mapped_examples(comments: Sequence[Comment]) -> Iterator[tuple[str, str]]:
    """(text, label) for every kept comment: one of the six, or ``neutral``."""
    for comment in comments:
        label = six_label(comment.labels)
        if label is not None:
            yield unmask(comment), label


def write(comments: Sequence[Comment], out: Path, neutral_out: Path) -> Counter[str]:
    """Write the six-label rows as ``text;label`` and the neutral texts one a line; return the counts."""
    counts: Counter[str] = Counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    kept = list(mapped_examples(comments))
    emotional = [(text, label) for text, label in kept if label != NEUTRAL]
    neutral = [text for text, label in kept if label == NEUTRAL]
    out.write_text("".join(f"{text};{label}\n" for text, label in emotional), encoding="utf-8")
    counts.update(label for _, label in emotional)
    neutral_out.write_text("".join(f"{text}\n" for text in neutral), encoding="utf-8")
    counts[NEUTRAL] = len(neutral)
    return counts


#: Release file -> the files it becomes (six-label rows, neutral texts); a missing test.tsv is skipped.
OUTPUTS = {
    "train.tsv": ("goemotions-train.txt", "goemotions-neutral.txt"),
    "dev.tsv": ("goemotions-dev.txt", "goemotions-dev-neutral.txt"),
    "test.tsv": ("goemotions-test.txt", "goemotions-test-neutral.txt"),
}


def convert(release_dir: Path, out_dir: Path) -> dict[str, Counter[str]]:
    """Convert every release file present in ``release_dir`` (train and dev are required); counts by file."""
    missing = [name for name in ("train.tsv", "dev.tsv") if not (release_dir / name).is_file()]
    if missing:
        raise GoEmotionsError(f"{release_dir}: {', '.join(missing)} missing: run 'make data' first")
    return {
        name: write(read_tsv(release_dir / name), out_dir / rows, out_dir / neutral)
        for name, (rows, neutral) in OUTPUTS.items()
        if (release_dir / name).is_file()
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release-dir", default="data/goemotions", help="train.tsv, dev.tsv (test.tsv optional)")
    parser.add_argument("--out-dir", required=True, help="where goemotions-{train,dev,test}[-neutral].txt go")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        counts = convert(Path(args.release_dir), Path(args.out_dir))
    except GoEmotionsError as exc:
        print(f"goemotions: {exc}", file=sys.stderr)
        return 1
    for name, count in counts.items():
        kept = sum(count[label] for label in LABELS)
        print(f"{name}: {kept} comments on one of the six, {count[NEUTRAL]} neutral {dict(sorted(count.items()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
