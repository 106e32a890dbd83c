"""Score a model folder through the serving path (its int8 ONNX graph) and regenerate its model card's figures.

    python -m scripts.model.model_report --model-dir functions/inference/model \\
        --validation-file data/emotion/validation.txt \\
        [--baseline-dir <the previous model>] [--seed-metrics artifacts/model-seed*/metrics.json] \\
        [--bench-json artifacts/bench/compare.json]

Validation accuracy and macro-F1 come with 95% bootstrap intervals (2,000 resamples of the 2,000 texts): on
this split a half-point difference is within the noise, which the intervals make visible. Also scored: the
hand-written natural sentences (tests/data/natural_sentences.txt, with every miss listed as a known failure) and
neutral statements (tests/data/neutral_statements.txt), where a lower top probability is better because none of
the six emotions applies. With ``--baseline-dir`` the same figures are computed for another model, and with
``--seed-metrics`` the training runs of other seeds are averaged; ``--bench-json`` (from ``bench.py --variants
onnx --baseline-dir ...``) adds the two models' cold start and warm latency, measured in one run. Writes
``serving_metrics.json`` and ``confusion_matrix.png`` into the model folder and the GENERATED blocks of its
README.md; with ``--doc``, the ``model`` summary block of that page (docs/model.md).

An emotion model is also scored per source of text, each set through the same path: the hand-written everyday
messages of nine registers (tests/data/everyday_messages.txt, held out from every fit), the project's messages dev
set (data/messages/dev.txt, which picks the training epoch), and with ``--goemotions-dir`` GoEmotions' dev split
mapped onto the six (with its per-label table; its ``test.tsv`` too when the folder holds the held-back test
split). ``--test-file`` scores the emotion data's held-back test split for anyone holding it. Test figures go to the
card only when given.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scripts.common.docs_blocks import render
from scripts.common.service import label_probabilities, load_classifier, model_labels
from scripts.model.emotion_data import LABELS, Example, read_examples, sha256_file
from scripts.model.evaluate import plot_confusion
from scripts.model.goemotions import mapped_examples, read_tsv
from scripts.model.metrics import compute_metrics

if TYPE_CHECKING:
    from app.classifier import Classifier

ROOT = Path(__file__).resolve().parents[2]

DATA_DIR = ROOT / "tests" / "data"
NATURAL = DATA_DIR / "natural_sentences.txt"
NEUTRAL = DATA_DIR / "neutral_statements.txt"
EVERYDAY = DATA_DIR / "everyday_messages.txt"
MESSAGES_DEV = ROOT / "data" / "messages" / "dev.txt"
REPORT_FILENAME = "serving_metrics.json"
#: The card's blocks scored from the model folder alone (the others need the seeds' runs or a previous model).
SCORED_SECTIONS = ("summary", "validation", "natural")
#: A rebuild's validation figures next to this folder's, written by ``--rebuilt-dir`` and kept for later cards.
REBUILD_FILENAME = "rebuild.json"
RESAMPLES = 2000


def macro_f1_from_confusion(matrices: np.ndarray) -> np.ndarray:
    """Macro-F1 of each confusion matrix in a stack (k, n, n); a class never predicted nor present scores 0."""
    true_pos = np.diagonal(matrices, axis1=1, axis2=2)
    predicted = matrices.sum(axis=1)
    support = matrices.sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(predicted + support > 0, 2 * true_pos / (predicted + support), 0.0)
    return f1.mean(axis=1)


def bootstrap_intervals(gold: np.ndarray, predicted: np.ndarray, classes: int, *, seed: int = 0) -> dict[str, Any]:
    """95% percentile intervals for accuracy and macro-F1 over resamples of the examples (with replacement)."""
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, len(gold), size=(RESAMPLES, len(gold)))
    cells = gold[samples] * classes + predicted[samples]
    matrices = np.stack([np.bincount(row, minlength=classes * classes) for row in cells]).reshape(-1, classes, classes)
    accuracy = np.trace(matrices, axis1=1, axis2=2) / len(gold)
    macro_f1 = macro_f1_from_confusion(matrices.astype(np.float64))
    return {
        "resamples": RESAMPLES,
        "accuracy": [float(np.percentile(accuracy, 2.5)), float(np.percentile(accuracy, 97.5))],
        "macro_f1": [float(np.percentile(macro_f1, 2.5)), float(np.percentile(macro_f1, 97.5))],
    }


def score_labelled(classifier: Classifier, path: Path, *, intervals: bool) -> dict[str, Any]:
    """A labelled set's figures: a ``text;label`` file, or a GoEmotions release file (``.tsv``) mapped to the six."""
    if path.suffix == ".tsv":
        examples = [Example(text, label) for text, label in mapped_examples(read_tsv(path)) if label in LABELS]
    else:
        examples = read_examples(path)
    texts, gold = [e.text for e in examples], [e.label for e in examples]
    labels, probabilities = label_probabilities(classifier, texts)
    predicted = [labels[i] for i in probabilities.argmax(axis=1)]
    metrics = compute_metrics(gold, predicted, labels)
    result: dict[str, Any] = {
        "file": path.name,
        "sha256": sha256_file(path),
        "examples": len(texts),
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "per_class": metrics["per_class"],
        "labels": labels,
        "confusion_matrix": metrics["confusion_matrix"],
        "misses": [
            {"text": text, "gold": g, "predicted": p, "confidence": round(float(row.max()), 3)}
            for text, g, p, row in zip(texts, gold, predicted, probabilities, strict=True)
            if g != p
        ],
    }
    if intervals:
        index = {label: i for i, label in enumerate(labels)}
        result["interval_95"] = bootstrap_intervals(
            np.array([index[g] for g in gold]), probabilities.argmax(axis=1), len(labels)
        )
    return result


def score_neutral(classifier: Classifier, path: Path = NEUTRAL) -> dict[str, Any]:
    """How sure the model is when no emotion applies: its top probability on neutral statements."""
    texts = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    _, probabilities = label_probabilities(classifier, texts)
    top = probabilities.max(axis=1)
    return {
        "file": path.name,
        "examples": len(texts),
        "median_top_probability": float(np.median(top)),
        "share_at_least_0_9": float((top >= 0.9).mean()),
    }


def seed_summary(paths: Sequence[Path]) -> dict[str, Any] | None:
    """Validation figures of each training run (train.py's own evaluation, fp16 weights in torch), and their mean."""
    runs = []
    for path in paths:
        metrics = json.loads(path.read_text(encoding="utf-8"))
        validation = metrics["validation"]
        seed = metrics["training"]["seed"]
        runs.append({"seed": seed, "accuracy": validation["accuracy"], "macro_f1": validation["macro_f1"]})
    if not runs:
        return None
    summary: dict[str, Any] = {"runs": sorted(runs, key=lambda run: run["seed"])}
    for metric in ("accuracy", "macro_f1"):
        values = [run[metric] for run in runs]
        summary[metric] = {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0}
    return summary


def latency_comparison(bench_json: Path) -> dict[str, Any]:
    """Cold start and warm latency of this model (bench variant onnx) and the baseline, from one bench run."""
    record = json.loads(bench_json.read_text(encoding="utf-8"))
    keys = ("cold_start_s", "short_p50_ms", "long_p50_ms", "batch32_texts_per_s")
    return {
        "rounds": len(record["results"]["onnx"]["warm_rounds"]),
        "machine": record["machine"],
        **{variant: {key: record["results"][variant][key] for key in keys} for variant in ("onnx", "baseline")},
    }


def build_report(
    model_dir: Path,
    validation_file: Path,
    *,
    baseline_dir: Path | None,
    seed_metrics: Sequence[Path],
    bench_json: Path | None = None,
    sources: dict[str, Path] | None = None,
) -> dict[str, Any]:
    classifier = load_classifier(model_dir)
    # The hand-written sentences carry the six emotions: a model trained on other labels is not scored on them.
    emotions = model_labels(classifier) == list(LABELS)
    report: dict[str, Any] = {
        "path": "int8 ONNX graph through the API's onnx backend",
        "weights_sha256": sha256_file(model_dir / "model.int8.onnx"),
        "validation": score_labelled(classifier, validation_file, intervals=True),
        "natural_sentences": score_labelled(classifier, NATURAL, intervals=False) if emotions else None,
        "neutral_statements": score_neutral(classifier),
        "seeds": seed_summary(seed_metrics),
    }
    source_files = source_sets(validation_file, sources or {}) if emotions else {}
    scored = {"validation": report["validation"], "natural": report["natural_sentences"]}
    report["sources"] = score_sources(classifier, source_files, scored)
    if baseline_dir is not None and emotions:
        baseline = load_classifier(baseline_dir)
        validation = score_labelled(baseline, validation_file, intervals=True)
        natural = score_labelled(baseline, NATURAL, intervals=False)
        report["baseline"] = {
            "weights_sha256": sha256_file(baseline_dir / "model.int8.onnx"),
            "validation": {key: validation[key] for key in ("accuracy", "macro_f1", "interval_95")},
            "natural_sentences": {"accuracy": natural["accuracy"]},
            "neutral_statements": score_neutral(baseline),
            "sources": score_sources(baseline, source_files, {"validation": validation, "natural": natural}),
        }
        if bench_json is not None:
            report["baseline"]["latency"] = latency_comparison(bench_json)
    return report


#: The per-source table's rows, in order: the set's name on the card and what it is.
SOURCE_NAMES = {
    "validation": "emotion data, validation split (tweets)",
    "natural": "ordinary sentences, `tests/data/natural_sentences.txt`",
    "everyday": "everyday messages of nine registers, `tests/data/everyday_messages.txt` (held out)",
    "goemotions_dev": "GoEmotions dev, mapped to the six (Reddit comments)",
    "messages_dev": "messages dev, `data/messages/dev.txt` (picks the epoch)",
    "test": "emotion data, held-back test split",
    "goemotions_test": "GoEmotions test, mapped to the six",
}


def source_sets(validation_file: Path, given: dict[str, Path]) -> dict[str, Path]:
    """Every set an emotion model is scored on, by source: the validation split, the hand-written sets, and the
    GoEmotions and test files given on the command line."""
    sets = {"validation": validation_file, "natural": NATURAL, "everyday": EVERYDAY}
    if MESSAGES_DEV.is_file():
        sets["messages_dev"] = MESSAGES_DEV
    return {name: path for name, path in {**sets, **given}.items() if name in SOURCE_NAMES}


def score_sources(
    classifier: Classifier, files: dict[str, Path], scored: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Each set's accuracy, macro-F1, per-label figures and misses; the sets already ``scored`` are not run again."""
    keys = ("file", "sha256", "examples", "accuracy", "macro_f1", "per_class", "misses")
    figures = {
        name: scored.get(name) or score_labelled(classifier, path, intervals=False) for name, path in files.items()
    }
    return {name: {key: result[key] for key in keys} for name, result in figures.items()}


def reproduction(model_dir: Path, rebuilt_dir: Path, validation_file: Path, ours: dict[str, Any]) -> dict[str, Any]:
    """How far a rebuild of this model (``make model`` from a fresh clone) lands from it, both through the API."""
    theirs = score_labelled(load_classifier(rebuilt_dir), validation_file, intervals=False)
    metrics = ("accuracy", "macro_f1")
    return {
        "weights_sha256": sha256_file(model_dir / "model.int8.onnx"),
        "rebuilt_weights_sha256": sha256_file(rebuilt_dir / "model.int8.onnx"),
        # The trained weights themselves: identical bytes mean training reproduced exactly, export aside.
        "trained_weights_identical": sha256_file(model_dir / "model.safetensors")
        == sha256_file(rebuilt_dir / "model.safetensors"),
        "validation_sha256": sha256_file(validation_file),
        "shipped": {key: ours[key] for key in metrics},
        "rebuilt": {key: theirs[key] for key in metrics},
        "difference": {key: theirs[key] - ours[key] for key in metrics},
    }


# --------------------------------------------------------------------------- the model card's blocks


def pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def interval(bounds: Sequence[float]) -> str:
    return f"{100 * bounds[0]:.1f}-{100 * bounds[1]:.1f}"


def card_sections(report: dict[str, Any], metrics: dict[str, Any], export: dict[str, Any]) -> dict[str, str]:
    validation, natural, neutral = report["validation"], report["natural_sentences"], report["neutral_statements"]
    sections = {
        "summary": "\n".join(
            [
                "| | through the API (int8 ONNX) |",
                "|---|---|",
                f"| validation accuracy | **{pct(validation['accuracy'])}** "
                f"(95 % interval {interval(validation['interval_95']['accuracy'])}) |",
                f"| validation macro-F1 | **{pct(validation['macro_f1'])}** "
                f"(95 % interval {interval(validation['interval_95']['macro_f1'])}) |",
                *(
                    [
                        f"| hand-written ordinary sentences ({natural['examples']}) "
                        f"| **{pct(natural['accuracy'])}** accuracy |"
                    ]
                    if natural
                    else []
                ),
                f"| neutral statements ({neutral['examples']}): median top probability "
                f"| {neutral['median_top_probability']:.2f} (lower is better: no emotion applies) |",
            ]
        ),
        "validation": _validation_block(validation),
        "natural": _natural_block(natural),
        "comparison": _comparison_block(report),
        "training": _training_block(metrics),
        "onnx": _onnx_block(export),
    }
    if report.get("sources"):
        sections["sources"] = sources_block(report)
        sections["goemotions"] = goemotions_block(report)
        sections["everyday-misses"] = misses_block(report["sources"]["everyday"])
    return sections


#: How many of the everyday set's misses the card quotes (the most confident first; serving_metrics.json has all).
QUOTED_MISSES = 12


def misses_block(everyday: dict[str, Any]) -> str:
    """What the model still gets wrong on everyday messages: the commonest confusions and the most confident
    misses, quoted."""
    pairs: dict[tuple[str, str], int] = {}
    for miss in everyday["misses"]:
        pairs[(miss["gold"], miss["predicted"])] = pairs.get((miss["gold"], miss["predicted"]), 0) + 1
    common = sorted(pairs.items(), key=lambda item: -item[1])[:6]
    quoted = sorted(everyday["misses"], key=lambda miss: -miss["confidence"])[:QUOTED_MISSES]
    return "\n".join(
        [
            f"{len(everyday['misses'])} of the {everyday['examples']} everyday messages get another label than the "
            "one they were written as. The commonest confusions (written as → answered):",
            "",
            *(f"- {gold} → {predicted}: {count}" for (gold, predicted), count in common),
            "",
            f"The {len(quoted)} most confident misses:",
            "",
            *(f'- "{m["text"]}" → {m["predicted"]} ({m["confidence"]:.2f}; written as {m["gold"]})' for m in quoted),
        ]
    )


def sources_block(report: dict[str, Any]) -> str:
    """Accuracy and macro-F1 on each source of text, beside the previous model's when it was scored."""
    previous = (report.get("baseline") or {}).get("sources", {})
    head = "| set | texts | " + ("previous model: accuracy / macro-F1 | " if previous else "")
    rows = [head + "this model: accuracy / macro-F1 |", "|---|---|" + ("---|" if previous else "") + "---|"]
    for name, title in SOURCE_NAMES.items():
        ours = report["sources"].get(name)
        if ours is None:
            continue
        theirs = previous.get(name)
        before = f"{pct(theirs['accuracy'])} / {pct(theirs['macro_f1'])} | " if previous and theirs else ""
        before = before or ("n/a | " if previous else "")
        rows.append(
            f"| {title} | {ours['examples']:,} | {before}**{pct(ours['accuracy'])}** / {pct(ours['macro_f1'])} |"
        )
    return "\n".join(rows)


def goemotions_block(report: dict[str, Any]) -> str:
    """GoEmotions dev per label (precision, recall, F1), recall beside the previous model's."""
    ours = report["sources"].get("goemotions_dev")
    if ours is None:
        return "_GoEmotions dev not scored (pass `--goemotions-dev`)._"
    theirs = ((report.get("baseline") or {}).get("sources") or {}).get("goemotions_dev")
    rows = [
        "| label | texts | precision | recall | F1 |" + (" previous model's recall / F1 |" if theirs else ""),
        "|---|---|---|---|---|" + ("---|" if theirs else ""),
    ]
    for label, figures in ours["per_class"].items():
        before = ""
        if theirs:
            old = theirs["per_class"][label]
            before = f" {pct(old['recall'])} / {pct(old['f1'])} |"
        rows.append(
            f"| {label} | {int(figures['support'])} | {pct(figures['precision'])} | {pct(figures['recall'])} | "
            f"{pct(figures['f1'])} |{before}"
        )
    return "\n".join(rows)


def rebuild_block(metrics: dict[str, Any], rebuild: dict[str, Any] | None) -> str:
    """The command that rebuilds this folder, what it reads, the versions it ran with, and how close a rebuild came."""
    training, environment, data = metrics["training"], metrics["environment"], metrics["data"]
    teacher = metrics.get("distillation")
    lines = [
        "From a fresh clone (`make data` fetches and verifies the data; the teacher ships in `data/teacher/`):",
        "",
        "```bash",
        "make data",
        f"make model OUT=functions/inference/model SEED={training['seed']} EPOCHS={training['epochs']}"
        + ("" if teacher else " TEACHER="),
        "```",
        "",
        "| input | sha256 |",
        "|---|---|",
        *(f"| `{entry['file']}` ({name}) | `{entry['sha256']}` |" for name, entry in data.items()),
        *([f"| `{teacher['teacher_file']}` (teacher) | `{teacher['teacher_sha256']}` |"] if teacher else []),
        "",
        f"Trained with torch {environment['torch']}, Python {environment['python']} on {environment['device']} "
        f"({environment['threads']} threads, {environment['machine']}); exported and scored with onnxruntime "
        f"{version('onnxruntime')} and onnx {version('onnx')}.",
        "",
    ]
    if rebuild is None:
        lines.append(
            "No rebuild measured yet: `make model` into another folder, then `make model-report REBUILT=<it>`."
        )
    else:
        rows = [("accuracy", "accuracy"), ("macro_f1", "macro-F1")]
        lines += [
            "A rebuild by that command, scored through the API on the same validation file (measured):",
            "",
            "| validation | this folder | rebuild | difference |",
            "|---|---|---|---|",
            *(
                f"| {label} | {pct(rebuild['shipped'][key])} | {pct(rebuild['rebuilt'][key])} | "
                f"{100 * rebuild['difference'][key]:+.2f} points |"
                for key, label in rows
            ),
            "",
            "The rebuild's trained weights (`model.safetensors`) are "
            + ("byte for byte this folder's." if rebuild.get("trained_weights_identical") else "other bytes.")
            + " Training on a CPU is deterministic for a seed and a machine, not across machines and library builds; "
            "the difference is within the 95 % intervals above when it is smaller than about one point.",
        ]
    return "\n".join(lines) + "\n"


def _onnx_block(export: dict[str, Any]) -> str:
    """The export report (onnx_export.json): size, fidelity to torch, and the accuracy gate's two scores."""
    validation = export.get("validation", {})
    rows = [
        "| | validation accuracy | validation macro-F1 |",
        "|---|---|---|",
        *(
            f"| {name} | {pct(validation[kind]['accuracy'])} | {pct(validation[kind]['macro_f1'])} |"
            for kind, name in (("torch", "fp32 (torch backend)"), ("onnx", "int8 (ONNX backend)"))
            if kind in validation
        ),
    ]
    return "\n".join(
        [
            f"`{export['file']}` is {export['bytes'] / 1e6:.1f} MB ({export['fp32_bytes'] / 1e6:.1f} MB before "
            f"quantisation), {export['parameters']:,} weights, {export['fused_attention_nodes']} fused attention "
            f"nodes. The fp32 graph matches torch within {export['max_abs_logit_diff_fp32']:.1e} in the logits (the "
            f"export fails above 1e-3); the int8 graph differs by at most {export['max_abs_logit_diff_int8']:.2f} on "
            f"{export['check_sentences']} check sentences. Through the serving backends:",
            "",
            *rows,
        ]
    )


def _validation_block(validation: dict[str, Any]) -> str:
    rows = [
        f"| {label} | {pct(v['precision'])} | {pct(v['recall'])} | {pct(v['f1'])} | {int(v['support'])} |"
        for label, v in validation["per_class"].items()
    ]
    labels = validation["labels"]
    matrix = [
        f"| **{label}** | " + " | ".join(str(count) for count in row) + " |"
        for label, row in zip(labels, validation["confusion_matrix"], strict=True)
    ]
    return "\n".join(
        [
            f"Accuracy **{pct(validation['accuracy'])}**, macro-F1 **{pct(validation['macro_f1'])}** on "
            f"{validation['examples']:,} texts; 95 % bootstrap intervals ({validation['interval_95']['resamples']:,} "
            f"resamples): accuracy {interval(validation['interval_95']['accuracy'])}, macro-F1 "
            f"{interval(validation['interval_95']['macro_f1'])}.",
            "",
            "| label | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
            *rows,
            "",
            "Confusion matrix (rows gold, columns predicted; also `confusion_matrix.png`):",
            "",
            "| | " + " | ".join(labels) + " |",
            "|---|" + "---|" * len(labels),
            *matrix,
        ]
    )


def _natural_block(natural: dict[str, Any] | None) -> str:
    if natural is None:
        return "Not scored: the hand-written sentences carry the six emotion labels, and this model has others.\n"
    recall = [
        f"| {label} | {round(v['recall'] * v['support'])}/{int(v['support'])} |"
        for label, v in natural["per_class"].items()
    ]
    misses = [
        f'- "{miss["text"]}" → {miss["predicted"]} ({miss["confidence"]:.2f}; written as {miss["gold"]})'
        for miss in natural["misses"]
    ]
    return "\n".join(
        [
            f"Accuracy **{pct(natural['accuracy'])}** (macro-F1 {pct(natural['macro_f1'])}) on "
            f"{natural['examples']} sentences.",
            "",
            "| label | correct |",
            "|---|---|",
            *recall,
            "",
            "Known failure cases (every sentence of the set the model gets wrong):",
            "",
            *(misses or ["- none"]),
        ]
    )


def _comparison_block(report: dict[str, Any]) -> str:
    lines = []
    seeds = report.get("seeds")
    if seeds:
        runs = ", ".join(
            f"seed {run['seed']}: {pct(run['accuracy'])} / {pct(run['macro_f1'])}" for run in seeds["runs"]
        )
        lines += [
            f"Training runs of this recipe (train.py's own validation score, fp16 weights in torch): {runs}; "
            f"mean accuracy {pct(seeds['accuracy']['mean'])} (sd {100 * seeds['accuracy']['sd']:.2f}), mean "
            f"macro-F1 {pct(seeds['macro_f1']['mean'])} (sd {100 * seeds['macro_f1']['sd']:.2f}).",
            "",
        ]
    baseline = report.get("baseline")
    if baseline:
        v, b = report["validation"], baseline["validation"]
        n, bn = report["neutral_statements"], baseline["neutral_statements"]
        lines += [
            "Against the previous bundled model, both through the API's int8 ONNX path:",
            "",
            "| | previous model | this model |",
            "|---|---|---|",
            f"| validation accuracy (95 % interval) | {pct(b['accuracy'])} ({interval(b['interval_95']['accuracy'])}) "
            f"| {pct(v['accuracy'])} ({interval(v['interval_95']['accuracy'])}) |",
            f"| validation macro-F1 (95 % interval) | {pct(b['macro_f1'])} ({interval(b['interval_95']['macro_f1'])}) "
            f"| {pct(v['macro_f1'])} ({interval(v['interval_95']['macro_f1'])}) |",
            f"| ordinary sentences, accuracy | {pct(baseline['natural_sentences']['accuracy'])} "
            f"| {pct(report['natural_sentences']['accuracy'])} |",
            f"| neutral statements, median top probability | {bn['median_top_probability']:.3f} "
            f"| {n['median_top_probability']:.3f} |",
            f"| neutral statements with a top probability ≥ 0.9 | {pct(bn['share_at_least_0_9'])} "
            f"| {pct(n['share_at_least_0_9'])} |",
        ]
        latency = baseline.get("latency")
        if latency:
            old, new = latency["baseline"], latency["onnx"]
            lines += [
                f"| cold start through the handler, s | {old['cold_start_s']:.2f} | {new['cold_start_s']:.2f} |",
                f"| warm p50, short text, ms | {old['short_p50_ms']:.2f} | {new['short_p50_ms']:.2f} |",
                f"| warm p50, 60 words, ms | {old['long_p50_ms']:.2f} | {new['long_p50_ms']:.2f} |",
                "",
                f"Latency: `scripts/perf/bench.py --variants onnx --baseline-dir`, both models interleaved in one run "
                f"({latency['rounds']} warm rounds, {latency['machine']['cpus']} cores).",
            ]
    return "\n".join(lines) if lines else "_No comparison recorded._"


def _training_block(metrics: dict[str, Any]) -> str:
    training, distillation = metrics["training"], metrics.get("distillation")
    history = [
        f"| {record['epoch']} | {pct(record['accuracy'])} | {pct(record['macro_f1'])} |"
        for record in metrics["history"]
    ]
    loss = "cross-entropy on the gold labels"
    if training.get("label_smoothing"):
        loss += f", label smoothing {training['label_smoothing']}"
    if training.get("class_weight_power"):
        loss += f", class weights ∝ count^-{training['class_weight_power']}"
    if distillation:
        loss = (
            f"{1 - distillation['weight']:.1f} · {loss} + {distillation['weight']} · T² · KL(teacher ‖ student) "
            f"at temperature T = {distillation['temperature']} (teacher file `{distillation['teacher_file']}`, "
            f"sha256 `{distillation['teacher_sha256'][:16]}…`)"
        )
    rows = [
        ("seed", training["seed"]),
        ("epochs", training["epochs"]),
        ("batch size", f"{training['batch_size']}, length-bucketed batches, dynamic padding"),
        ("optimiser", f"AdamW, lr {training['lr']}, weight decay {training['weight_decay']} (not on biases/LayerNorm), "
                      "grad-norm clip 1.0"),
        ("schedule", f"linear warm-up over {100 * training['warmup_ratio']:.0f} % of the steps, then linear decay"),
        ("loss", loss),
        ("max length", f"{training['max_length']} tokens"),
        ("augmentation", f"with probability {training['augment_prob']} per text and epoch, a text of the training "
                         "file is \"naturalised\" (apostrophes, commas, capitals, end punctuation)"),
        ("selection", f"best validation macro-F1 (the mean over every validation set) among the epochs and the mean "
                      f"of the last {training['average_last']}: **{metrics['selected']}**"),
        ("wall time", f"{metrics['train_wall_seconds'] / 60:.0f} min on {metrics['environment']['threads']} CPU "
                      f"threads ({metrics['environment']['device']})"),
    ]  # fmt: skip
    return "\n".join(
        [
            "| setting | value |",
            "|---|---|",
            *(f"| {name} | {value} |" for name, value in rows),
            "",
            "Per-epoch validation (train.py, fp32 torch):",
            "",
            "| epoch | accuracy | macro-F1 |",
            "|---|---|---|",
            *history,
        ]
    )


#: The card's blocks that docs/model.md also holds, by the page's name for them.
PAGE_BLOCKS = {
    "model": "summary",
    "sources": "sources",
    "goemotions": "goemotions",
    "everyday-misses": "everyday-misses",
}


def write_page(doc: Path, sections: dict[str, str]) -> None:
    """Fill the page's copies of the card's blocks (docs/model.md)."""
    page = {name: sections[card] for name, card in PAGE_BLOCKS.items() if card in sections}
    doc.write_text(render(doc.read_text(encoding="utf-8"), page, where=doc), encoding="utf-8")


def given_sources(release: Path | None, test_file: Path | None) -> dict[str, Path]:
    """The sets named on the command line: GoEmotions' dev (and test, when the folder holds it), the test split."""
    given = {"test": test_file}
    if release is not None:
        given["goemotions_dev"] = release / "dev.tsv"
        given["goemotions_test"] = release / "test.tsv" if (release / "test.tsv").is_file() else None
    return {name: path for name, path in given.items() if path is not None}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "functions" / "inference" / "model")
    parser.add_argument("--validation-file", type=Path, required=True)
    parser.add_argument("--baseline-dir", type=Path, help="another model folder with model.int8.onnx, to compare")
    parser.add_argument("--seed-metrics", type=Path, nargs="*", default=[], help="metrics.json of each seed's run")
    parser.add_argument("--bench-json", type=Path, help="bench.py output with the onnx and baseline variants")
    parser.add_argument("--doc", type=Path, help="also fill this page's GENERATED block 'model' (docs/model.md)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SCORED_SECTIONS,
        help="refill only these blocks of the card, scored again; the seeds' and the baseline's figures of the "
        "last full run are kept (for a changed evaluation set, without the previous model folder at hand)",
    )
    parser.add_argument("--rebuilt-dir", type=Path, help="a rebuild of this model by make model: measure how close")
    parser.add_argument("--goemotions-dir", type=Path, help="GoEmotions' release files: dev.tsv (and test.tsv)")
    parser.add_argument("--test-file", type=Path, help="the emotion data's held-back test split, if you hold it")
    args = parser.parse_args(argv)
    given = given_sources(args.goemotions_dir, args.test_file)
    report = build_report(
        args.model_dir,
        args.validation_file,
        baseline_dir=args.baseline_dir,
        seed_metrics=args.seed_metrics,
        bench_json=args.bench_json,
        sources=given,
    )
    if args.only:
        previous = json.loads((args.model_dir / REPORT_FILENAME).read_text(encoding="utf-8"))
        report = {**{key: previous[key] for key in ("seeds", "baseline") if key in previous}, **report}
        report["seeds"] = report["seeds"] or previous.get("seeds")
    (args.model_dir / REPORT_FILENAME).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    validation = report["validation"]
    plot_confusion(
        validation["confusion_matrix"],
        validation["labels"],
        args.model_dir / "confusion_matrix.png",
        f"validation ({validation['examples']:,} texts, int8 ONNX)",
    )
    metrics = json.loads((args.model_dir / "metrics.json").read_text(encoding="utf-8"))
    card = args.model_dir / "README.md"
    export = json.loads((args.model_dir / "onnx_export.json").read_text(encoding="utf-8"))
    sections = card_sections(report, metrics, export)
    rebuild_path = args.model_dir / REBUILD_FILENAME
    if args.rebuilt_dir is not None:
        rebuild = reproduction(args.model_dir, args.rebuilt_dir, args.validation_file, validation)
        rebuild_path.write_text(json.dumps(rebuild, indent=2) + "\n", encoding="utf-8")
    kept = json.loads(rebuild_path.read_text(encoding="utf-8")) if rebuild_path.is_file() else None
    current = kept is not None and kept["weights_sha256"] == report["weights_sha256"]
    sections["rebuild"] = rebuild_block(metrics, kept if current else None)
    if args.only:
        sections = {name: text for name, text in sections.items() if name in args.only or name == "rebuild"}
    card.write_text(render(card.read_text(encoding="utf-8"), sections, where=card), encoding="utf-8")
    if args.doc and "summary" in sections:
        write_page(args.doc, sections)
    print(json.dumps({key: report[key] for key in ("neutral_statements", "seeds")}, indent=2))
    print(f"validation accuracy {validation['accuracy']:.4f} macro-F1 {validation['macro_f1']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
