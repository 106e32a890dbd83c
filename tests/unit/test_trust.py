"""The trust checks: calibration, the neutral head and the distance detector, the language check, their files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.backends import ModelLoadError, ModelOutput
from app.schemas import WARNING_CODES
from app.trust import (
    STATS_FILENAME,
    TRUST_FILENAME,
    Detector,
    LanguageCheck,
    NeutralHead,
    Thresholds,
    Trust,
    load_detector,
)

MODEL_DIR = Path(__file__).resolve().parents[2] / "functions" / "inference" / "model"
ORDER = ("sadness", "joy", "love", "anger", "fear", "surprise")


@pytest.fixture(scope="module")
def language() -> LanguageCheck:
    defaults = Thresholds()
    return LanguageCheck(threshold=defaults.not_english, min_letters=defaults.min_letters)


def test_the_detector_is_the_mahalanobis_distance_to_the_nearest_mean() -> None:
    rng = np.random.default_rng(0)
    means = rng.normal(size=(6, 5))
    covariance = np.cov(rng.normal(size=(200, 5)).T) + np.eye(5) * 0.1
    precision = np.linalg.inv(covariance)
    cholesky = np.linalg.cholesky(precision)
    features = rng.normal(size=(7, 5)) * 3
    expected = np.min([[(x - m) @ precision @ (x - m) for m in means] for x in features], axis=1)
    got = Detector(cholesky, means @ cholesky).scores(features.astype(np.float32))
    assert got == pytest.approx(expected, rel=1e-3)


def test_temperature_scaling_is_the_softmax_of_logits_over_t(language: LanguageCheck) -> None:
    logits = np.array([[2.0, 1.0, 0.0, -1.0, 0.5, 0.2]], dtype=np.float32)
    trust = Trust(language, temperature=2.0)
    expected = np.exp(logits / 2) / np.exp(logits / 2).sum()
    assert trust.probabilities(logits) == pytest.approx(expected)
    # a temperature above 1 spreads the probabilities: the top one drops
    assert trust.probabilities(logits).max() < Trust(language).probabilities(logits).max()


@pytest.mark.parametrize(
    ("text", "not_english"),
    [
        ("OK!", False),
        ("lol", False),
        ("I'm so happy 😊", False),
        ("im feeling rather nervous", False),  # the training data's style; "im" alone reads as German
        ("Bonjour!", False),  # too little text to judge
        ("Ich bin heute sehr traurig und einsam.", True),
        ("Estoy muy contento con mi nuevo trabajo", True),
        ("我今天很开心", True),  # no Latin letters: no model needed
        ("Мне очень грустно", True),
        ("I love 北京 so much, best trip ever", False),  # mostly Latin, English
    ],
)
def test_the_language_check(language: LanguageCheck, text: str, not_english: bool) -> None:
    assert language.is_not_english(text) is not_english


def test_judge_ranks_by_name_and_reliable_means_no_warnings(language: LanguageCheck) -> None:
    logits = np.log(np.array([[0.05, 0.80, 0.05, 0.04, 0.03, 0.03], [0.30, 0.25, 0.15, 0.1, 0.1, 0.1]]))
    output = ModelOutput(logits=logits.astype(np.float32), features=None, truncated=[False, True])
    happy, unsure = Trust(language).judge(["I am so happy today", "Ich weiß es nicht genau"], output, ORDER)
    assert happy.emotion == "joy" and happy.confidence == pytest.approx(0.80, abs=1e-6)
    assert list(happy.all_emotions)[:2] == ["joy", "sadness"] and happy.reliable and happy.warnings == []
    assert unsure.emotion == "sadness" and unsure.truncated
    assert unsure.warnings == ["not_english", "low_confidence"] and not unsure.reliable
    assert set(unsure.warnings) <= set(WARNING_CODES)


def test_the_detector_flags_far_texts_of_two_words_or_more(language: LanguageCheck) -> None:
    detector = Detector(np.eye(2, dtype=np.float32), np.zeros((6, 2), dtype=np.float32))
    trust = Trust(language, detector=detector, thresholds=Thresholds(no_clear_emotion=4.0))
    features = np.array([[3.0, 0.0], [1.0, 0.0], [3.0, 0.0]], dtype=np.float32)
    logits = np.tile(np.log([0.9, 0.02, 0.02, 0.02, 0.02, 0.02]), (3, 1)).astype(np.float32)
    output = ModelOutput(logits=logits, features=features, truncated=[False] * 3)
    far, near, one_word = trust.judge(["the meeting is at noon", "i feel so sad", "Noted."], output, ORDER)
    assert far.warnings == ["no_clear_emotion"] and near.reliable and one_word.reliable


def test_the_neutral_head_flags_above_even_odds_and_never_one_word(language: LanguageCheck) -> None:
    head = NeutralHead(np.array([2.0, -1.0], dtype=np.float32), -0.5)
    trust = Trust(language, detector=head, thresholds=Thresholds(no_clear_emotion=0.0))
    features = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    assert head.scores(features) == pytest.approx([1.5, -1.5, 1.5])
    logits = np.tile(np.log([0.9, 0.02, 0.02, 0.02, 0.02, 0.02]), (3, 1)).astype(np.float32)
    output = ModelOutput(logits=logits, features=features, truncated=[False] * 3)
    neutral, emotional, one_word = trust.judge(["the meeting is at noon", "so glad you came", "Noted."], output, ORDER)
    assert neutral.warnings == ["no_clear_emotion"] and emotional.reliable and one_word.reliable


@pytest.mark.parametrize("kind", ["head", "distance"])
def test_trust_npz_says_which_detector_it_holds(tmp_path: Path, kind: str) -> None:
    path = tmp_path / STATS_FILENAME
    if kind == "head":
        np.savez(path, weights=np.ones(3, dtype=np.float32), bias=np.float32(-1.0))
        assert isinstance(load_detector(path), NeutralHead)
    else:
        np.savez(path, whitening=np.eye(3, dtype=np.float32), means=np.zeros((6, 3), dtype=np.float32))
        assert isinstance(load_detector(path), Detector)
    path.write_bytes(b"not an npz")
    with pytest.raises(ModelLoadError, match="unreadable"):
        load_detector(path)


def test_a_folder_without_trust_files_gets_the_defaults(tmp_path: Path) -> None:
    weights = tmp_path / "model.int8.onnx"
    weights.write_bytes(b"weights")
    trust = Trust.load(tmp_path, weights_file=weights, weights_sha256="abc")
    assert not trust.fitted and trust.detector is None and trust.temperature == 1.0


def test_trust_files_fitted_for_other_weights_are_refused(tmp_path: Path) -> None:
    folder = Path(
        shutil.copytree(MODEL_DIR, tmp_path / "model", ignore=shutil.ignore_patterns("*.onnx", "*.safetensors"))
    )
    weights = folder / "model.int8.onnx"
    weights.write_bytes(b"other weights")
    with pytest.raises(ModelLoadError, match="fitted for other weights"):
        Trust.load(folder, weights_file=weights, weights_sha256="0" * 64)


def test_the_bundled_trust_files_belong_to_the_bundled_weights() -> None:
    import hashlib

    document = json.loads((MODEL_DIR / TRUST_FILENAME).read_text(encoding="utf-8"))
    for name, digest in document["fitted_for"].items():
        assert hashlib.sha256((MODEL_DIR / name).read_bytes()).hexdigest() == digest, name
    weights = MODEL_DIR / "model.int8.onnx"
    trust = Trust.load(MODEL_DIR, weights_file=weights, weights_sha256=document["fitted_for"][weights.name])
    assert trust.fitted and isinstance(trust.detector, NeutralHead)
    assert document["detector"]["kind"] == "neutral head" and trust.thresholds.no_clear_emotion == 0.0
    with np.load(MODEL_DIR / STATS_FILENAME) as stats:
        assert stats["weights"].shape == (384,) and stats["bias"].shape == ()
