"""One text, one answer: every route that takes several texts answers each exactly as POST /predict does alone.

The bundled int8 graph quantises activations per model call, so a text sharing a call with a longer or louder one
got other probabilities and, near a tie or a threshold, another label or warnings. Batches are generated to mix
what moved answers most: short texts, texts truncated at 512 tokens, emoji alone and other languages.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.api import build_app
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "functions" / "inference" / "model"
DATA = ROOT / "tests" / "data"
TOLERANCE = 1e-6


def _lines(name: str) -> list[str]:
    return [line for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


ORDINARY = [line.rsplit(";", 1)[0] for line in _lines("natural_sentences.txt")]
SHORT = _lines("short_english.txt")
FOREIGN = [line.split("\t", 1)[1] for line in _lines("non_english_sentences.tsv")]
EMOJI = "😀😂😍😡😢😱😮🎉❤️👍🔥💔🙄🥰"
WORDS = ["happy", "sad", "really", "angry", "scared", "wow", "love", "the", "so", "not", "today", "!", "?"]

short_texts = st.sampled_from(SHORT) | st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)


def long_text(sentence: str, chars: int) -> str:
    """The sentence repeated to about ``chars`` characters: from 3,000 on, well over the model's 512 tokens."""
    return " ".join([sentence] * (chars // (len(sentence) + 1)))


#: Truncated by the model, and within the 5,000 characters a text may hold.
long_texts = st.builds(long_text, st.sampled_from(ORDINARY), st.integers(min_value=3000, max_value=4900))
emoji_texts = st.text(alphabet=EMOJI, min_size=1, max_size=6)
foreign_texts = st.sampled_from(FOREIGN)
ordinary_texts = st.sampled_from(ORDINARY)
texts = st.one_of(short_texts, long_texts, emoji_texts, foreign_texts, ordinary_texts)
batches = st.lists(texts, min_size=1, max_size=10)


@pytest.fixture(scope="module")
def bundled() -> Iterator[TestClient]:
    """The bundled model, as `make serve` builds the app."""
    from app.classifier import reset_model_cache

    reset_model_cache()
    with TestClient(build_app(Settings(model_path=BUNDLED))) as client:
        yield client
    reset_model_cache()


class Singles:
    """POST /predict's answer for each text, asked once."""

    def __init__(self, client: TestClient) -> None:
        self._client = client
        self._answers: dict[str, dict[str, Any]] = {}

    def __call__(self, text: str) -> dict[str, Any]:
        if text not in self._answers:
            response = self._client.post("/predict", json={"text": text})
            assert response.status_code == 200, response.text
            self._answers[text] = response.json()
        return self._answers[text]


@pytest.fixture(scope="module")
def singles(bundled: TestClient) -> Singles:
    return Singles(bundled)


def assert_same_answer(text: str, got: dict[str, Any], alone: dict[str, Any]) -> None:
    """Same label, warnings and trust flags; every probability within 1e-6 of the single request's."""
    assert (got["emotion"], got["warnings"], got["reliable"], got["truncated"]) == (
        alone["emotion"],
        alone["warnings"],
        alone["reliable"],
        alone["truncated"],
    ), text
    assert got["all_emotions"].keys() == alone["all_emotions"].keys(), text
    for label, probability in alone["all_emotions"].items():
        assert got["all_emotions"][label] == pytest.approx(probability, abs=TOLERANCE), (text, label)


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(batch=batches)
def test_a_batch_answers_each_text_as_predict_does_alone(
    bundled: TestClient, singles: Singles, batch: list[str]
) -> None:
    response = bundled.post("/predict/batch", json={"texts": batch})
    assert response.status_code == 200, response.text
    for text, got in zip(batch, response.json()["predictions"], strict=True):
        assert_same_answer(text, got, singles(text))

    hub = bundled.post("/", json={"inputs": batch})
    assert hub.status_code == 200, hub.text
    for text, ranked in zip(batch, hub.json(), strict=True):
        scores = {row["label"]: row["score"] for row in ranked}
        alone = singles(text)["all_emotions"]
        assert list(scores) == list(alone), text
        assert scores == pytest.approx(alone, abs=TOLERANCE), text


def test_the_generated_batches_reach_the_cases_that_moved_answers(bundled: TestClient) -> None:
    """The strategies above really make truncated, emoji-only and non-English texts (not only short English)."""
    texts = [long_text(min(ORDINARY, key=len), 3000), FOREIGN[0]]
    [truncated, german] = bundled.post("/predict/batch", json={"texts": texts}).json()["predictions"]
    assert truncated["truncated"] is True
    assert "not_english" in german["warnings"]


@pytest.mark.parametrize("text", ["What a lovely surprise, wow", "😀", "Ich bin so wütend auf dich!"])
def test_the_hub_route_with_one_input_answers_as_predict(bundled: TestClient, singles: Singles, text: str) -> None:
    [ranked] = bundled.post("/", json={"inputs": text}).json()
    alone = singles(text)["all_emotions"]
    assert {row["label"]: row["score"] for row in ranked} == pytest.approx(alone, abs=TOLERANCE)
    assert ranked[0]["label"] == singles(text)["emotion"]
