"""Evaluate a model folder on a ``text;label`` file through the API's own backend (the int8 ONNX graph by default),
so the figures are the ones clients get.

Reports accuracy, macro-F1, per-class precision/recall/F1/support, the
confusion matrix (JSON, and PNG when ``--output-dir`` is given) and throughput.
Gold labels are matched to the model's outputs *by name* through
``config.id2label``, so the label order inside the model does not matter.

Example::

    python -m scripts.model.evaluate --model-dir functions/inference/model \\
        --data-file data/emotion/validation.txt --output-dir artifacts/eval

The metrics are scikit-learn's (scripts/model/metrics.py); the model is loaded through the service's offline
entry (scripts/common/service.py).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scripts.common.service import label_probabilities, load_classifier
from scripts.model.emotion_data import read_examples, sha256_file
from scripts.model.metrics import compute_metrics


def plot_confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path, title: str) -> None:
    """Write the confusion matrix as a PNG (counts, row-normalised colours)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.asarray(matrix, dtype=np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    fig, axis = plt.subplots(figsize=(6.4, 5.6), dpi=110)
    image = axis.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0)
    axis.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("gold")
    axis.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            colour = "white" if normalised[i, j] > 0.5 else "black"
            axis.text(j, i, str(int(counts[i, j])), ha="center", va="center", color=colour, fontsize=9)
    fig.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="share of gold row")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def predict(
    model: Any, tokenizer: Any, texts: Sequence[str], batch_size: int = 128, max_length: int = 128, device: str = "cpu"
) -> np.ndarray:
    """Return class probabilities (n, num_labels); batches are sorted by length for speed."""
    import torch

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    probs = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer(
                [texts[i] for i in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            enc = {key: value.to(device) for key, value in enc.items() if key in ("input_ids", "attention_mask")}
            logits = model(**enc).logits.float()
            probs[idx] = torch.softmax(logits, dim=-1).cpu().numpy()
    return probs


def evaluate_model_dir(
    model_dir: str | Path, data_file: str | Path, *, backend: str = "onnx"
) -> tuple[dict[str, Any], list[str], list[str], np.ndarray]:
    """Score a model folder on a file through the API's classifier; returns (metrics, texts, gold, probs)."""
    examples = read_examples(data_file)
    texts = [example.text for example in examples]
    gold = [example.label for example in examples]
    start = time.perf_counter()
    labels, probs = label_probabilities(load_classifier(model_dir, backend=backend), texts)
    elapsed = time.perf_counter() - start
    metrics = compute_metrics(gold, [labels[i] for i in probs.argmax(axis=1)], labels)
    metrics["throughput"] = {
        "examples_per_second": len(texts) / elapsed if elapsed > 0 else float("inf"),
        "seconds": elapsed,
        "backend": backend,
    }
    metrics["data_file"] = str(data_file)
    metrics["data_sha256"] = sha256_file(data_file)
    return metrics, texts, gold, probs


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description="Evaluate an emotion classifier on a text;label file.")
    parser.add_argument("--model-dir", default="functions/inference/model", help="Hugging Face model directory")
    parser.add_argument("--data-file", "--test-file", dest="data_file", required=True, help="text;label file")
    parser.add_argument("--output-dir", help="write metrics.json, confusion_matrix.png and errors.tsv here")
    parser.add_argument("--name", default=None, help="prefix for output files (default: data file stem)")
    parser.add_argument("--backend", default="onnx", help="the API backend to score through: onnx or torch")
    args = parser.parse_args(argv)
    metrics, texts, gold, probs = evaluate_model_dir(args.model_dir, args.data_file, backend=args.backend)
    labels = metrics["labels"]
    print(f"accuracy  {metrics['accuracy']:.4f}")
    print(f"macro-F1  {metrics['macro_f1']:.4f}")
    print(f"{'label':<10}{'prec':>8}{'recall':>8}{'f1':>8}{'support':>9}")
    for label, row in metrics["per_class"].items():
        print(f"{label:<10}{row['precision']:>8.4f}{row['recall']:>8.4f}{row['f1']:>8.4f}{row['support']:>9}")
    print("confusion matrix (rows gold, columns predicted):", labels)
    for label, row in zip(labels, metrics["confusion_matrix"], strict=True):
        print(f"  {label:<10}{row}")
    print(f"throughput {metrics['throughput']['examples_per_second']:.1f} examples/s")
    if args.output_dir:
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        name = args.name or Path(args.data_file).stem
        (out / f"{name}_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        plot_confusion(metrics["confusion_matrix"], labels, out / f"{name}_confusion_matrix.png", f"{name}")
        with open(out / f"{name}_errors.tsv", "w", encoding="utf-8") as handle:
            handle.write("text\tgold\tpredicted\tconfidence\n")
            for text, gold_label, row in zip(texts, gold, probs, strict=True):
                pred = labels[int(row.argmax())]
                if pred != gold_label:
                    handle.write(f"{text}\t{gold_label}\t{pred}\t{row.max():.3f}\n")
        print(f"wrote {out}/{name}_metrics.json, {name}_confusion_matrix.png, {name}_errors.tsv")


if __name__ == "__main__":
    main()
