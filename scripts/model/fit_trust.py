"""Fit the trust checks of a model folder (calibration, "no clear emotion" detector, thresholds) and report them.

    python -m scripts.model.fit_trust --model-dir functions/inference/model \\
        --train-file data/emotion/train.txt --validation-file data/emotion/validation.txt \\
        --doc docs/model.md

Through the API's own ONNX backend (the features it serves), this script
1. fits the "no clear emotion" detector: for an emotion model the neutral head (``neutral_head.py``: logistic
   regression on the final layer's [CLS] vectors, hand-written neutral statements, and any ``--neutral-file``,
   against the training split, any ``--extra-train-file`` and everyday emotional sentences, ``data/trust/``),
   stored as weights and bias in ``trust.npz``; for a model of
   other labels a distance on the training split (the vectors projected on their top principal components, class
   means and a shared covariance), stored as one whitening matrix and the whitened class means;
2. fits the softmax temperature on the validation split (minimum negative log-likelihood) and reports the
   expected calibration error before and after, cross-validated over folds of the validation split;
3. sets the thresholds (the head's at even odds, a distance's at a chosen share of validation texts) and
   records them in ``trust.json`` with the sha256 of the weights they were fitted for;
4. scores the hand-written sets in tests/data through the runtime's own checks (app/trust.py) and writes the
   figures into the model card's and docs/model.md's GENERATED ``trust`` blocks and ``calibration.png``.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import log_loss

from app.backends import ModelOutput
from app.backends.base import ONNX_FILENAME
from app.schemas import WARNING_CODES
from app.trust import (
    STATS_FILENAME,
    TRUST_FILENAME,
    Detector,
    LanguageCheck,
    NeutralHead,
    Thresholds,
    Trust,
    softmax,
)
from scripts.common.docs_blocks import render
from scripts.common.service import load_classifier, model_labels, raw_outputs
from scripts.model.emotion_data import LABELS, Example, read_examples, sha256_file
from scripts.model.neutral_head import (
    EVERYDAY_FILE,
    EVERYDAY_SHARE,
    EXTRA_NEUTRAL_SHARE,
    HEAD_DATA,
    NEUTRAL_FILE,
    THRESHOLD,
    choose_c,
    fit_head,
    head_texts,
)

if TYPE_CHECKING:
    from app.classifier import Classifier

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "tests" / "data"
NEUTRAL = (DATA_DIR / "neutral_statements.txt", DATA_DIR / "neutral_statements_extra.txt")
NATURAL = DATA_DIR / "natural_sentences.txt"
NON_ENGLISH = DATA_DIR / "non_english_sentences.tsv"
SHORT_ENGLISH = DATA_DIR / "short_english.txt"
#: Texts the issue names: short or mixed English that must stay reliable.
MUST_STAY_RELIABLE = ("OK!", "lol", "I'm so happy 😊")
ECE_BINS = 15
FOLDS = 5
#: Component counts tried for the record (the sweep table on the model card), the chosen one included.
SWEEP = (8, 16, 24, 32, 48, 64, 128)


def lines(path: Path) -> list[str]:
    return [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --------------------------------------------------------------------------- fitting


def fit_detector(features: np.ndarray, gold: np.ndarray, components: int) -> tuple[np.ndarray, np.ndarray]:
    """(whitening, whitened class means) of the Mahalanobis distance in the top principal components.

    The training features are nearly collapsed onto a handful of directions (5 components carry 95% of the
    variance); in the hundreds of others the training texts are far tighter than any held-out text, so a
    full-rank distance flags ordinary sentences. Keeping the top components keeps the directions the classes
    live in.
    """
    data = features.astype(np.float64)
    centre = data.mean(axis=0)
    _, _, rows = np.linalg.svd(data - centre, full_matrices=False)
    basis = rows[:components].T  # (hidden, components)
    projected = data @ basis
    classes = int(gold.max()) + 1
    means = np.stack([projected[gold == label].mean(axis=0) for label in range(classes)])
    within = projected - means[gold]
    covariance = within.T @ within / len(projected)
    cholesky = np.linalg.cholesky(np.linalg.inv(covariance))  # precision = L Lᵀ
    whitening = basis @ cholesky
    return whitening, means @ cholesky


def negative_log_likelihood(logits: np.ndarray, gold: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of the gold labels at ``temperature`` (scikit-learn's log loss)."""
    return float(log_loss(gold, softmax(logits, temperature), labels=list(range(logits.shape[1]))))


def fit_temperature(logits: np.ndarray, gold: np.ndarray) -> float:
    """The temperature of least negative log-likelihood (golden-section search on log T in [1/8, 8])."""
    low, high = math.log(0.125), math.log(8.0)
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(60):
        left, right = high - ratio * (high - low), low + ratio * (high - low)
        if negative_log_likelihood(logits, gold, math.exp(left)) < negative_log_likelihood(
            logits, gold, math.exp(right)
        ):
            high = right
        else:
            low = left
    return math.exp((low + high) / 2)


def calibration_bins(probabilities: np.ndarray, gold: np.ndarray, bins: int = ECE_BINS) -> list[dict[str, float]]:
    """Equal-width confidence bins, each (low, high]: how many texts, their mean confidence and their accuracy.

    Accuracy and confidence per bin are scikit-learn's reliability curve of the top label; the counts bin the
    same way (``searchsorted`` on the inner edges, as ``calibration_curve`` does).
    """
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == gold).astype(int)
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], confidence), minlength=bins)
    accuracy, mean_confidence = calibration_curve(correct, confidence, n_bins=bins, strategy="uniform", pos_label=1)
    filled = np.flatnonzero(counts)
    return [
        {
            "low": float(edges[index]),
            "high": float(edges[index + 1]),
            "count": int(counts[index]),
            "confidence": float(mean_confidence[row]),
            "accuracy": float(accuracy[row]),
        }
        for row, index in enumerate(filled)
    ]


def expected_calibration_error(probabilities: np.ndarray, gold: np.ndarray) -> float:
    """Sum over bins of |accuracy - confidence| weighted by the bin's share of texts (15 equal-width bins)."""
    total = len(gold)
    return sum(
        row["count"] / total * abs(row["accuracy"] - row["confidence"]) for row in calibration_bins(probabilities, gold)
    )


def stratified_folds(gold: np.ndarray, folds: int, *, seed: int = 0) -> list[np.ndarray]:
    """Indices of each fold, every label spread evenly over the folds."""
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(gold), dtype=int)
    for label in np.unique(gold):
        members = rng.permutation(np.flatnonzero(gold == label))
        assignment[members] = np.arange(len(members)) % folds
    return [np.flatnonzero(assignment == fold) for fold in range(folds)]


def cross_validate_calibration(logits: np.ndarray, gold: np.ndarray) -> dict[str, Any]:
    """ECE before and after temperature scaling, each fold scored with a temperature fitted on the others."""
    before = np.zeros((len(gold), logits.shape[1]))
    after = np.zeros_like(before)
    folds = []
    for held in stratified_folds(gold, FOLDS):
        rest = np.setdiff1d(np.arange(len(gold)), held)
        temperature = fit_temperature(logits[rest], gold[rest])
        before[held] = softmax(logits[held])
        after[held] = softmax(logits[held], temperature)
        folds.append(
            {
                "texts": len(held),
                "temperature": temperature,
                "ece_before": expected_calibration_error(before[held], gold[held]),
                "ece_after": expected_calibration_error(after[held], gold[held]),
            }
        )
    return {
        "folds": folds,
        "ece_before": expected_calibration_error(before, gold),
        "ece_after": expected_calibration_error(after, gold),
        "bins_before": calibration_bins(before, gold),
        "bins_after": calibration_bins(after, gold),
        "mean_confidence_before": float(before.max(axis=1).mean()),
        "mean_confidence_after": float(after.max(axis=1).mean()),
        "accuracy": float((after.argmax(axis=1) == gold).mean()),
    }


# --------------------------------------------------------------------------- scoring through the runtime checks


def judged(trust: Trust, texts: Sequence[str], logits: np.ndarray, features: np.ndarray) -> list[list[str]]:
    """The warnings the service would send for each text, judged alone as the service judges it (a matrix
    product over many rows may round a distance differently from one over a single row)."""
    found = []
    for index, text in enumerate(texts):
        rows = slice(index, index + 1)
        output = ModelOutput(logits=logits[rows], features=features[rows], truncated=[False])
        [codes] = trust.warnings([text], output, trust.probabilities(logits[rows]).max(axis=1))
        found.append(list(codes))
    return found


def judge_cost(
    trust: Trust, texts: Sequence[str], logits: np.ndarray, features: np.ndarray, labels: Sequence[str]
) -> float:
    """Median microseconds ``Trust.judge`` adds to one text's request (calibration, detector, language check,
    building the prediction): the checks' cost on the warm path, the model call left out."""
    import time

    timings = []
    for index, text in enumerate(texts):
        output = ModelOutput(logits=logits[index : index + 1], features=features[index : index + 1], truncated=[False])
        started = time.perf_counter()
        trust.judge([text], output, labels)
        timings.append(time.perf_counter() - started)
    return float(np.median(timings) * 1e6)


def rates(warnings: list[list[str]]) -> dict[str, Any]:
    counts = Counter(code for codes in warnings for code in codes)
    flagged = sum(bool(codes) for codes in warnings)
    return {
        "texts": len(warnings),
        "flagged": flagged,
        "flagged_rate": flagged / len(warnings),
        **{f"{code}_rate": counts[code] / len(warnings) for code in WARNING_CODES},
    }


def _outputs(classifier: Classifier, model_dir: Path, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(logits, features) of the served graph; a graph without the features output cannot be fitted."""
    logits, features = raw_outputs(classifier, texts)
    if features is None:
        raise SystemExit(f"{model_dir / ONNX_FILENAME} has no features output: re-export it (export_onnx.py)")
    return logits, features


def hand_written_sets() -> tuple[dict[str, list[str]], list[Example], list[list[str]]]:
    """The trust sets' texts by name, the natural sentences with their labels, and the (language, text) pairs."""
    natural = read_examples(NATURAL)
    foreign = [line.split("\t", 1) for line in lines(NON_ENGLISH)]
    sets: dict[str, list[str]] = {
        "neutral": [text for path in NEUTRAL for text in lines(path)],
        "natural": [example.text for example in natural],
        "short_english": lines(SHORT_ENGLISH),
        "non_english": [text for _, text in foreign],
    }
    return sets, natural, foreign


def detector_at(
    train: tuple[np.ndarray, np.ndarray], val_features: np.ndarray, count: int, rate: float
) -> tuple[Detector, float, dict[str, np.ndarray]]:
    """The detector on ``count`` components, the distance that flags ``rate`` of validation texts, its stats."""
    whitening, means = fit_detector(train[0], train[1], count)
    detector = Detector(whitening, means)
    stats = {"whitening": whitening.astype(np.float32), "means": means.astype(np.float32)}
    return detector, float(np.quantile(detector.scores(val_features), 1 - rate)), stats


def detector_sweep(
    train: tuple[np.ndarray, np.ndarray],
    val_features: np.ndarray,
    set_outputs: dict[str, tuple[np.ndarray, np.ndarray]],
    counts: Sequence[int],
    rate: float,
) -> list[dict[str, Any]]:
    """How often each component count flags each set (short English is the language check's, not the detector's)."""
    sweep = []
    for count in counts:
        detector, threshold, _ = detector_at(train, val_features, count, rate)
        row: dict[str, Any] = {"components": count}
        for name, features in {"validation": val_features, **{k: v[1] for k, v in set_outputs.items()}}.items():
            if name != "short_english":
                row[name] = float((detector.scores(features) > threshold).mean())
        sweep.append(row)
    return sweep


def natural_figures(
    details: list[dict[str, Any]], natural: Sequence[Example], logits: np.ndarray, order: Sequence[str]
) -> dict[str, Any]:
    """Whether a warning marks an answer not to trust: how often flagged and unflagged answers miss the label."""
    wrong = [order[index] != example.label for index, example in zip(logits.argmax(axis=1), natural, strict=True)]
    flagged = [
        {"text": row["text"], "label": example.label, "warnings": row["warnings"]}
        for row, example in zip(details, natural, strict=True)
        if row["warnings"]
    ]
    return {
        "interval": wilson_interval(len(flagged), len(natural)),
        "flagged_wrong": sum(miss for miss, row in zip(wrong, details, strict=True) if row["warnings"]),
        "unflagged_wrong": sum(miss for miss, row in zip(wrong, details, strict=True) if not row["warnings"]),
        "flagged_texts": flagged,
    }


def evaluate_sets(
    trust: Trust,
    sets: dict[str, list[str]],
    set_outputs: dict[str, tuple[np.ndarray, np.ndarray]],
    natural: Sequence[Example],
    foreign: Sequence[Sequence[str]],
    order: Sequence[str],
) -> dict[str, Any]:
    """Each hand-written set's warning rates, with the texts the report lists."""
    evaluation: dict[str, Any] = {}
    details: dict[str, list[dict[str, Any]]] = {}
    for name, texts in sets.items():
        warnings = judged(trust, texts, *set_outputs[name])
        evaluation[name] = rates(warnings)
        details[name] = [{"text": text, "warnings": codes} for text, codes in zip(texts, warnings, strict=True)]
    evaluation["natural"].update(natural_figures(details["natural"], natural, set_outputs["natural"][0], order))
    by_language: dict[str, list[bool]] = {}
    for (code, _), row in zip(foreign, details["non_english"], strict=True):
        by_language.setdefault(code, []).append(bool(row["warnings"]))
    evaluation["non_english"]["by_language"] = {
        code: sum(flags) / len(flags) for code, flags in sorted(by_language.items())
    }
    evaluation["neutral"]["missed_texts"] = [
        row["text"] for row in details["neutral"] if "no_clear_emotion" not in row["warnings"]
    ]
    evaluation["short_english"]["not_english_texts"] = [
        row["text"] for row in details["short_english"] if "not_english" in row["warnings"]
    ]
    evaluation["must_stay_reliable"] = {
        row["text"]: row["warnings"] for row in details["short_english"] if row["text"] in MUST_STAY_RELIABLE
    }
    return evaluation


def write_trust(
    model_dir: Path, trust: Trust, stats: dict[str, np.ndarray], detector: dict[str, Any], validation_file: Path
) -> dict[str, Any]:
    """Write trust.json and trust.npz beside the weights they were fitted for; returns trust.json's document."""
    document = {
        "fitted_for": {name: sha256_file(model_dir / name) for name in (ONNX_FILENAME, "model.safetensors")},
        "temperature": trust.temperature,
        "thresholds": asdict(trust.thresholds),
        "detector": detector,
        "validation_sha256": sha256_file(validation_file),
    }
    np.savez(model_dir / STATS_FILENAME, **stats)
    (model_dir / TRUST_FILENAME).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return document


def distance_detector(
    train_fit: tuple[np.ndarray, np.ndarray], val_features: np.ndarray, *, components: int, rate: float
) -> tuple[Detector, float, dict[str, np.ndarray], dict[str, Any]]:
    """The Mahalanobis detector for a model of other labels, its threshold at ``rate`` of validation."""
    detector, distance, stats = detector_at(train_fit, val_features, components, rate)
    info = {"kind": "distance", "components": components, "validation_rate": rate}
    return detector, distance, stats, info


def emotion_head(
    classifier: Classifier,
    model_dir: Path,
    train_features: np.ndarray,
    head_data: Path,
    neutral_files: Sequence[Path] = (),
) -> tuple[NeutralHead, float, dict[str, np.ndarray], dict[str, Any]]:
    """The neutral head of an emotion model, fitted on the hand-written sets in ``head_data`` and any files of
    neutral texts (GoEmotions' neutral comments)."""
    neutral, everyday = head_texts(head_data)
    _, neutral_features = _outputs(classifier, model_dir, neutral)
    _, everyday_features = _outputs(classifier, model_dir, everyday)
    extra_texts = [text for path in neutral_files for text in lines(path)]
    extra = _outputs(classifier, model_dir, extra_texts)[1] if extra_texts else None
    c, cross_validation = choose_c(train_features, everyday_features, neutral_features, extra_neutral=extra)
    weights, bias = fit_head(train_features, everyday_features, neutral_features, c, extra)
    stats = {"weights": weights, "bias": np.asarray(bias, dtype=np.float32)}
    info: dict[str, Any] = {
        "kind": "neutral head",
        "c": c,
        "everyday_share": EVERYDAY_SHARE,
        "cross_validation": cross_validation,
        "neutral_texts": len(neutral),
        "everyday_texts": len(everyday),
        "neutral_sha256": sha256_file(head_data / NEUTRAL_FILE),
        "everyday_sha256": sha256_file(head_data / EVERYDAY_FILE),
        "extra_neutral": {
            "files": {path.name: sha256_file(path) for path in neutral_files},
            "texts": len(extra_texts),
            "share": EXTRA_NEUTRAL_SHARE if extra_texts else 0.0,
        },
    }
    return NeutralHead(weights, bias), THRESHOLD, stats, info


def fit(
    model_dir: Path,
    files: tuple[Path, Path],
    *,
    components: int,
    detector_rate: float,
    thresholds: Thresholds,
    head_data: Path | None,
    extra_train: Sequence[Path] = (),
    neutral_files: Sequence[Path] = (),
) -> dict[str, Any]:
    """Fit, write trust.json and trust.npz into the model folder, and return the report.

    An emotion model (the six labels) with ``head_data`` gets the neutral head; any other the distance detector.
    ``extra_train`` (texts of other registers the model was trained on) joins the training split.
    """
    train_file, validation_file = files
    classifier = load_classifier(model_dir, backend="onnx")
    order = model_labels(classifier)
    train = [*read_examples(train_file), *(example for path in extra_train for example in read_examples(path))]
    validation = read_examples(validation_file)
    _, train_features = _outputs(classifier, model_dir, [example.text for example in train])
    train_fit = (train_features, np.array([order.index(example.label) for example in train]))
    val_texts = [example.text for example in validation]
    val_gold = np.array([order.index(example.label) for example in validation])
    val_logits, val_features = _outputs(classifier, model_dir, val_texts)

    sets, natural, foreign = hand_written_sets()
    set_outputs = {name: _outputs(classifier, model_dir, texts) for name, texts in sets.items()}
    sweep = detector_sweep(train_fit, val_features, set_outputs, sorted({*SWEEP, components}), detector_rate)
    detector: Detector | NeutralHead
    if head_data is not None and sorted(order) == sorted(LABELS):
        detector, limit, stats, info = emotion_head(classifier, model_dir, train_features, head_data, neutral_files)
    else:
        detector, limit, stats, info = distance_detector(
            train_fit, val_features, components=components, rate=detector_rate
        )
    info = {"features": "final layer [CLS] vector (the graph's 'features' output)", **info,
            "train_sha256": sha256_file(train_file),
            "extra_train": {path.name: sha256_file(path) for path in extra_train}}  # fmt: skip
    language = LanguageCheck(threshold=thresholds.not_english, min_letters=thresholds.min_letters)
    chosen = Thresholds(**{**asdict(thresholds), "no_clear_emotion": limit})
    trust = Trust(language, fit_temperature(val_logits, val_gold), detector, chosen)

    evaluation: dict[str, Any] = {"validation": rates(judged(trust, val_texts, val_logits, val_features))}
    evaluation.update(evaluate_sets(trust, sets, set_outputs, natural, foreign, order))
    evaluation["cost_us_per_text"] = judge_cost(trust, val_texts, val_logits, val_features, order)
    document = write_trust(model_dir, trust, stats, info, validation_file)
    calibration = cross_validate_calibration(val_logits, val_gold)
    return {**document, "calibration": calibration, "evaluation": evaluation, "sweep": sweep}


# --------------------------------------------------------------------------- figures


def plot_reliability(calibration: dict[str, Any], target: Path) -> None:
    """Reliability diagram: accuracy against confidence per bin, before and after scaling, cross-validated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 5), dpi=100)
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    for key, name, marker in (("before", "softmax", "o"), ("after", "temperature-scaled", "s")):
        bins = calibration[f"bins_{key}"]
        x, y = [row["confidence"] for row in bins], [row["accuracy"] for row in bins]
        (line,) = axis.plot(x, y, alpha=0.6, label=f"{name} (ECE {calibration[f'ece_{key}']:.3f})")
        # Marker area follows the bin's share of texts: the low-confidence bins hold a handful each.
        sizes = [max(8.0, 600 * row["count"] / sum(r["count"] for r in bins)) for row in bins]
        axis.scatter(x, y, s=sizes, marker=marker, color=line.get_color(), alpha=0.8)
    axis.set_xlabel("confidence (top probability)")
    axis.set_ylabel("accuracy")
    axis.set_xlim(0.2, 1.0)
    axis.set_ylim(0.2, 1.0)
    axis.set_title(f"validation, {FOLDS}-fold cross-validated (marker area: share of texts)", fontsize=10)
    axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(target)
    plt.close(figure)


def wilson_interval(successes: int, trials: int, *, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a rate: honest near 0 and for a few hundred texts, unlike the normal one."""
    rate = successes / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def _bars_table(report: dict[str, Any]) -> list[str]:
    """Every bar of the trust checks with the rate measured, one table row each."""
    evaluation, calibration = report["evaluation"], report["calibration"]
    worst_fold = max(fold["ece_after"] for fold in calibration["folds"])
    rows = [
        ("validation split (2,000 texts): any warning", evaluation["validation"]["flagged_rate"], "at most 3 %"),
        (
            f"neutral statements ({evaluation['neutral']['texts']}): `no_clear_emotion`",
            evaluation["neutral"]["no_clear_emotion_rate"],
            "at least 85 %",
        ),
        (
            f"non-English emotional sentences ({evaluation['non_english']['texts']}, "
            f"{len(evaluation['non_english']['by_language'])} languages): not reliable",
            evaluation["non_english"]["flagged_rate"],
            "at least 80 %",
        ),
        (
            f"ordinary emotional English sentences ({evaluation['natural']['texts']}): any warning",
            evaluation["natural"]["flagged_rate"],
            "at most 10 %",
        ),
        (
            f"short or informal English ({evaluation['short_english']['texts']}): `not_english`",
            evaluation["short_english"]["not_english_rate"],
            "(lower is better)",
        ),
    ]
    natural = evaluation["natural"]
    notes = {
        3: f" ({natural['flagged']} of {natural['texts']}; 95 % Wilson interval {pct(natural['interval'][0])} to "
        f"{pct(natural['interval'][1])})"
    }
    table = ["| set | rate | bar |", "|---|---|---|"]
    table += [f"| {name} | **{pct(value)}**{notes.get(index, '')} | {bar} |" for index, (name, value, bar) in
              enumerate(rows)]  # fmt: skip
    table.append(
        f"| expected calibration error, validation, {FOLDS}-fold cross-validated | "
        f"**{calibration['ece_before']:.4f} → {calibration['ece_after']:.4f}** (worst fold {worst_fold:.4f}) | "
        "at most 0.02 (0.035 on any fold) |"
    )
    return table


def _detector_rule(report: dict[str, Any]) -> str:
    """When ``no_clear_emotion`` is raised, in words, for either kind of detector."""
    detector = report["detector"]
    if detector.get("kind") == "neutral head":
        extra = detector.get("extra_neutral", {}).get("texts", 0)
        goemotions = f" and {extra:,} comments GoEmotions' raters labelled neutral alone" if extra else ""
        return (
            f"when the neutral head's log-odds are above {report['thresholds']['no_clear_emotion']:.1f} (even odds; "
            f"logistic regression, C = {detector['c']:g} by cross-validation, on {detector['neutral_texts']} neutral "
            f"statements written for the project{goemotions} against the training split and "
            f"{detector['everyday_texts']} everyday emotional sentences written for the project, `data/trust/`)"
        )
    return (
        f"above squared distance {report['thresholds']['no_clear_emotion']:.1f} in {detector['components']} "
        "principal components"
    )


def trust_block(report: dict[str, Any]) -> str:
    """The model card's and docs/model.md's table: every bar of the trust checks, with the rate measured."""
    evaluation, thresholds = report["evaluation"], report["thresholds"]
    natural, validation, must = evaluation["natural"], evaluation["validation"], evaluation["must_stay_reliable"]
    unflagged = natural["texts"] - natural["flagged"]
    wrong = natural["flagged_wrong"] + natural["unflagged_wrong"]
    lines_ = [
        *_bars_table(report),
        "",
        f"Ordinary English sentences: {natural['flagged_wrong']} of the {natural['flagged']} flagged got another "
        f"label than the one they were written as ({pct(natural['flagged_wrong'] / max(natural['flagged'], 1))}), "
        f"{natural['unflagged_wrong']} of the {unflagged} others "
        f"({pct(natural['unflagged_wrong'] / max(unflagged, 1))}). The model misses the written label on "
        f"{pct(wrong / natural['texts'])} of these sentences, most of them with high confidence: the warnings mark "
        "text the model cannot judge (no emotion, another language, a close call), not its confident mistakes on "
        "everyday wording, which only a better model removes.",
        "",
        f"Temperature **{report['temperature']:.3f}** (fitted on all of validation); thresholds: "
        f"`low_confidence` under {thresholds['low_confidence']:.2f} calibrated top probability "
        f"({pct(validation['low_confidence_rate'])} of validation), `no_clear_emotion` {_detector_rule(report)} "
        f"({pct(validation['no_clear_emotion_rate'])} of validation, texts of {thresholds['min_words']}+ words), "
        f"`not_english` at fastText probability {thresholds['not_english']:.2f} for texts of "
        f"{thresholds['min_letters']}+ letters ({pct(validation['not_english_rate'])} of validation). "
        f"The checks add {evaluation['cost_us_per_text']:.0f} us to a text's request (median over validation, "
        "one text per call, the model call left out; bar 200 us). "
        + ", ".join(f"{text!r}: {codes if codes else 'reliable'}" for text, codes in must.items())
        + ".",
    ]
    return "\n".join(lines_) + "\n"


def detail_block(report: dict[str, Any]) -> str:
    """The model card's longer record: per language, what was missed and flagged, the component sweep."""
    evaluation = report["evaluation"]
    languages = evaluation["non_english"]["by_language"]
    parts = [
        "Non-English sentences flagged, per language: "
        + ", ".join(f"{code} {pct(rate)}" for code, rate in languages.items())
        + ".",
        "",
        "Ordinary English sentences flagged: "
        + (
            "; ".join(
                f"{row['text']!r} ({row['label']}: {', '.join(row['warnings'])})"
                for row in evaluation["natural"]["flagged_texts"]
            )
            or "none"
        )
        + ".",
        "",
        "Neutral statements missed: "
        + ("; ".join(repr(text) for text in evaluation["neutral"]["missed_texts"]) or "none")
        + ".",
        "",
        "Short English texts taken for another language: "
        + ("; ".join(repr(text) for text in evaluation["short_english"]["not_english_texts"]) or "none")
        + ".",
        "",
        *_head_lines(report["detector"]),
        "The distance detector (what a model of other labels uses) on this model, by the principal components it "
        "keeps (share of each set flagged `no_clear_emotion`, the threshold always at the same share of validation)."
        " More components catch more neutral text and flag more ordinary sentences; the evaluation sets are ours, "
        "so a row chosen from this table would be tuned on them:",
        "",
        "| components | validation | neutral | non-English | ordinary English |",
        "|---|---|---|---|---|",
    ]
    for row in report["sweep"]:
        mark = " (chosen)" if row["components"] == report["detector"].get("components") else ""
        parts.append(
            f"| {row['components']}{mark} | {pct(row['validation'])} | {pct(row['neutral'])} | "
            f"{pct(row['non_english'])} | {pct(row['natural'])} |"
        )
    return "\n".join(parts) + "\n"


def _head_lines(detector: dict[str, Any]) -> list[str]:
    """The neutral head's cross-validation over its own hand-written training sets (none for a distance)."""
    if detector.get("kind") != "neutral head":
        return []
    rows = [
        f"| {row['c']:g}{' (chosen)' if row['c'] == detector['c'] else ''} | {pct(row['neutral_missed'])} | "
        f"{pct(row['everyday_flagged'])} |"
        for row in detector["cross_validation"]
    ]
    return [
        f"The neutral head's regularisation, {FOLDS}-fold cross-validated over `data/trust/` (never over the "
        "evaluation sets above):",
        "",
        "| C | neutral statements missed | everyday emotional sentences flagged |",
        "|---|---|---|",
        *rows,
        "",
    ]


def too_small(train_file: Path, validation_file: Path, *, components: int) -> str | None:
    """Why this data cannot fit the checks honestly (None when it can): a detector of ``components`` directions needs
    ten training texts a direction and a few of every label; a temperature needs a validation split to fit on."""
    train, validation = read_examples(train_file), read_examples(validation_file)
    fewest = min(Counter(example.label for example in train).values())
    if len(train) < 10 * components:
        return f"{len(train)} training texts; the detector needs at least {10 * components} ({components} components)"
    if fewest < 5:
        return f"a label has {fewest} training texts; the detector needs at least 5 of each"
    if len(validation) < 50:
        return f"{len(validation)} validation texts; calibration needs at least 50"
    return None


def not_fitted(model_dir: Path, reason: str) -> dict[str, Any]:
    """Serve without trust checks rather than with ones fitted on too little: the API then reports
    ``trust_fitted: false`` and judges language and confidence alone."""
    for name in (TRUST_FILENAME, STATS_FILENAME):
        (model_dir / name).unlink(missing_ok=True)
    return {"fitted": False, "reason": reason}


def write_report(args: argparse.Namespace, report: dict[str, Any], sections: dict[str, str]) -> None:
    """trust_report.json, the model card's blocks and, when asked, a docs page's (docs/model.md)."""
    (args.model_dir / "trust_report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    card = args.model_dir / "README.md"
    card.write_text(render(card.read_text(encoding="utf-8"), sections, where=card), encoding="utf-8")
    if args.doc:
        doc = args.doc.read_text(encoding="utf-8")
        args.doc.write_text(render(doc, {"trust": sections["trust"]}, where=args.doc), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "functions" / "inference" / "model")
    parser.add_argument("--train-file", type=Path, required=True)
    parser.add_argument("--validation-file", type=Path, required=True)
    parser.add_argument(
        "--extra-train-file", type=Path, action="append", default=[], help="more texts the model trained on"
    )
    parser.add_argument(
        "--neutral-file", type=Path, action="append", default=[], help="more neutral texts for the head, one a line"
    )
    parser.add_argument("--components", type=int, default=32, help="principal components the detector keeps")
    parser.add_argument("--detector-rate", type=float, default=0.01, help="share of validation flagged")
    parser.add_argument(
        "--head-data",
        default=str(HEAD_DATA),
        help=f"{NEUTRAL_FILE} and {EVERYDAY_FILE} for an emotion model's neutral head ('': the distance detector)",
    )
    defaults = Thresholds()
    parser.add_argument("--low-confidence", type=float, default=defaults.low_confidence)
    parser.add_argument("--not-english", type=float, default=defaults.not_english)
    parser.add_argument("--doc", type=Path, help="also fill this page's GENERATED block 'trust' (docs/model.md)")
    args = parser.parse_args(argv)
    thresholds = Thresholds(low_confidence=args.low_confidence, not_english=args.not_english)
    config = json.loads((args.model_dir / "config.json").read_text(encoding="utf-8"))
    components = min(args.components, int(config.get("dim", config.get("hidden_size", args.components))))
    reason = too_small(args.train_file, args.validation_file, components=components)
    if reason is not None:
        note = f"Trust checks not fitted: {reason}. The API serves this model uncalibrated, without the detector."
        write_report(args, not_fitted(args.model_dir, reason), {"trust": note + "\n", "trust-detail": ""})
        print(note)
        return 0
    report = fit(
        args.model_dir,
        (args.train_file, args.validation_file),
        components=components,
        detector_rate=args.detector_rate,
        thresholds=thresholds,
        head_data=Path(args.head_data) if args.head_data else None,
        extra_train=args.extra_train_file,
        neutral_files=args.neutral_file,
    )
    plot_reliability(report["calibration"], args.model_dir / "calibration.png")
    sections = {"trust": trust_block(report), "trust-detail": detail_block(report)}
    write_report(args, report, sections)
    print(sections["trust"])
    print(sections["trust-detail"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
