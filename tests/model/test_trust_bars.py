"""The bundled model's trust checks meet their bars on the hand-written sets (scripts/model/fit_trust.py reports
them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import predictions_of

from app.backends import load_backend
from app.model_source import sha256_of
from app.trust import Trust

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "functions" / "inference" / "model"
DATA = ROOT / "tests" / "data"


def _lines(name: str) -> list[str]:
    return [line for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def judge() -> Any:
    backend = load_backend("onnx", MODEL_DIR, source="bundled", num_threads=1)
    weights = backend.info.weights_file
    trust = Trust.load(MODEL_DIR, weights_file=weights, weights_sha256=sha256_of(weights))
    assert trust.fitted

    def run(texts: list[str]) -> list[Any]:
        """One text per model call, as /predict runs them (int8 activations are quantised per batch)."""
        return [trust.judge([text], backend.run([text]), backend.config.labels_by_index)[0] for text in texts]

    return run


def test_the_issues_examples(judge: Any) -> None:
    meeting, german, happy = judge(
        [
            "The meeting is at 3pm in room 204.",
            "Ich bin heute sehr traurig und einsam.",
            "I am feeling very happy today!",
        ]
    )
    assert "no_clear_emotion" in meeting.warnings and not meeting.reliable
    assert "not_english" in german.warnings and not german.reliable
    assert happy.reliable and happy.emotion == "joy"


def test_short_english_stays_reliable(judge: Any) -> None:
    assert [p.warnings for p in judge(["OK!", "lol", "I'm so happy 😊"])] == [[], [], []]


def test_neutral_statements_are_flagged(judge: Any) -> None:
    texts = _lines("neutral_statements.txt") + _lines("neutral_statements_extra.txt")
    caught = sum("no_clear_emotion" in p.warnings for p in judge(texts))
    assert caught / len(texts) >= 0.85


def test_other_languages_are_unreliable(judge: Any) -> None:
    texts = [line.split("\t", 1)[1] for line in _lines("non_english_sentences.tsv")]
    assert sum(not p.reliable for p in judge(texts)) / len(texts) >= 0.80


def test_ordinary_emotional_sentences_are_rarely_flagged(judge: Any) -> None:
    texts = [line.rsplit(";", 1)[0] for line in _lines("natural_sentences.txt")]
    assert sum(not p.reliable for p in judge(texts)) / len(texts) <= 0.10


def test_flagged_ordinary_sentences_are_wrong_more_often_than_the_rest(judge: Any) -> None:
    """A warning on an ordinary sentence should mean "do not trust this label": flagged answers are wrong at
    least half the time and more often than the rest (which miss about a quarter: the model's own limit on
    everyday wording, docs/model.md)."""
    rows = [line.rsplit(";", 1) for line in _lines("natural_sentences.txt")]
    predictions = judge([text for text, _ in rows])
    flagged = [p.emotion != label for (_, label), p in zip(rows, predictions, strict=True) if not p.reliable]
    trusted = [p.emotion != label for (_, label), p in zip(rows, predictions, strict=True) if p.reliable]
    assert sum(flagged) / len(flagged) >= 0.5 > 0.3 >= sum(trusted) / len(trusted)


def test_short_english_is_rarely_taken_for_another_language(judge: Any) -> None:
    texts = _lines("short_english.txt")
    assert sum("not_english" in p.warnings for p in judge(texts)) / len(texts) <= 0.05


def test_the_defaults_still_flag_language_without_fitted_files(tiny_model_dir: Path) -> None:
    backend = load_backend("onnx", tiny_model_dir, source="tiny", num_threads=1)
    [prediction] = predictions_of(backend, ["Ich bin heute sehr traurig und einsam."])
    assert prediction.warnings[0] == "not_english"
