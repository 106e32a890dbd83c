"""Rebuild a model from a fresh clone in one command (``make model``): data, train, export, evaluate, trust, card.

Each stage is the project's own tool run as a subprocess, exactly as its make target runs it. A stage is skipped
when its outputs are current: a stamp under ``--work-dir`` records a fingerprint of what the stage read (its
command, the sums of its input files) and the sums of what it wrote; a changed input, a changed setting or an
output edited by hand runs it again, and everything after it. The model goes into ``--out``; the bundled model
(and the README's generated blocks) change only when ``--out`` names the bundled folder. Example::

    python -m scripts.model_pipeline --data-dir data/emotion --out artifacts/model \\
        --teacher-file data/teacher/train-probs.tsv --seed 42 --epochs 5
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from scripts.emotion_data import sha256_file

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "functions" / "inference" / "model"
README = ROOT / "README.md"


@dataclass(frozen=True)
class Stage:
    """One step: the command that runs it, the files it reads and the files it writes."""

    name: str
    command: list[str]
    inputs: list[Path]
    outputs: list[Path]
    prepare: list[tuple[Path, Path]] = field(default_factory=list)  # (source, destination) copied if missing


def python_tool(module: str, *args: str | Path) -> list[str]:
    return [sys.executable, "-m", f"scripts.{module}", *(str(arg) for arg in args)]


def stages(args: argparse.Namespace) -> list[Stage]:
    """The pipeline for these settings, in order."""
    data, out, work = Path(args.data_dir), Path(args.out), Path(args.work_dir)
    train, validation = data / "train.txt", data / "validation.txt"
    bundled = out.resolve() == BUNDLED.resolve()
    readme = ["--readme", str(README)] if bundled else []
    teacher = ["--teacher-file", args.teacher_file] if args.teacher_file else []
    base = ["--base-model", args.base_model] if args.base_model else []
    weights = [out / "model.safetensors", out / "config.json", out / "tokenizer.json", out / "metrics.json"]
    onnx = [out / "model.int8.onnx", out / "onnx_export.json"]
    source = ["--source", args.data_source] if args.data_source else []
    return [
        Stage("data", python_tool("fetch_data", "--data-dir", data, *source, "--splits", "train", "validation"),
              [], [train, validation]),
        Stage("train", python_tool("train", "--train-file", train, "--validation-file", validation, *teacher,
                                   *base, "--seed", str(args.seed), "--epochs", str(args.epochs), "--output-dir", out,
                                   "--log-dir", work / "train"),
              [train, validation, *([Path(args.teacher_file)] if args.teacher_file else [])], weights),
        Stage("export", python_tool("export_onnx", "--model-dir", out, "--validation-file", validation),
              [validation, *weights], onnx),
        Stage("evaluate", python_tool("evaluate", "--model-dir", out, "--data-file", validation,
                                      "--output-dir", work / "eval"),
              [validation, *onnx], [work / "eval" / "validation_metrics.json"]),
        Stage("trust", python_tool("fit_trust", "--model-dir", out, "--train-file", train,
                                   "--validation-file", validation, *readme),
              [train, validation, *onnx], [out / "trust_report.json"],
              prepare=[(BUNDLED / "README.md", out / "README.md")]),
        Stage("card", python_tool("model_report", "--model-dir", out, "--validation-file", validation, *readme),
              [validation, *onnx, out / "trust_report.json"], [out / "serving_metrics.json"]),
    ]  # fmt: skip


def fingerprint(stage: Stage) -> str:
    """What the stage read: its command and its inputs' bytes (a changed file or setting means a rerun)."""
    digest = hashlib.sha256(json.dumps(stage.command[1:]).encode())
    for path in stage.inputs:
        digest.update(f"{path}={sha256_file(path) if path.is_file() else 'missing'}".encode())
    return digest.hexdigest()


def sums(paths: Sequence[Path]) -> dict[str, str] | None:
    """The outputs' sums, or None when one is missing."""
    if not all(path.is_file() for path in paths):
        return None
    return {str(path): sha256_file(path) for path in paths}


class Stamps:
    """One JSON stamp per stage: the fingerprint it ran with and the sums of what it wrote."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def current(self, stage: Stage) -> bool:
        path = self.folder / f"{stage.name}.json"
        if stage.name == "data":  # make data verifies the files itself: present means current
            return sums(stage.outputs) is not None
        if not path.is_file():
            return False
        stamp = json.loads(path.read_text(encoding="utf-8"))
        return stamp["fingerprint"] == fingerprint(stage) and stamp["outputs"] == sums(stage.outputs)

    def record(self, stage: Stage, fingerprint_before: str, seconds: float) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = {"fingerprint": fingerprint_before, "outputs": sums(stage.outputs), "seconds": round(seconds, 1)}
        (self.folder / f"{stage.name}.json").write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")

    def forget(self, stage: Stage) -> None:
        (self.folder / f"{stage.name}.json").unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    plan = stages(args)
    stamps = Stamps(Path(args.work_dir) / "stamps")
    rerun_from: int | None = None
    progress = tqdm(plan, desc="make model", unit="stage", disable=args.no_progress, file=sys.stdout)
    for index, stage in enumerate(progress):
        progress.set_postfix_str(stage.name)
        if rerun_from is None and stamps.current(stage):
            tqdm.write(f"[{index + 1}/{len(plan)}] {stage.name}: current, skipped")
            continue
        rerun_from = index if rerun_from is None else rerun_from
        for source, destination in stage.prepare:
            if not destination.exists():
                shutil.copyfile(source, destination)
        tqdm.write(f"[{index + 1}/{len(plan)}] {stage.name}: {' '.join(stage.command[1:])}")
        stamps.forget(stage)
        before, started = fingerprint(stage), time.perf_counter()
        completed = subprocess.run(stage.command, cwd=ROOT, check=False)
        if completed.returncode != 0:
            tqdm.write(f"make model: stage {stage.name} failed (exit {completed.returncode}); later stages not run")
            return completed.returncode
        stamps.record(stage, before, time.perf_counter() - started)
    tqdm.write(f"make model: {args.out} is current")
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="data/emotion", help="train.txt and validation.txt (text;label)")
    parser.add_argument("--data-source", default="", help="offline mirror for the data stage (see fetch_data)")
    parser.add_argument("--out", default="artifacts/model", help="the model folder to build")
    parser.add_argument("--work-dir", default=None, help="logs, evaluation and stamps (default artifacts/pipeline/..)")
    parser.add_argument("--teacher-file", default="", help="distil from these probabilities; empty: gold labels")
    parser.add_argument("--base-model", default="", help="train from this folder (default: train.py's own base)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.work_dir is None:
        slug = str(Path(args.out)).strip("/").replace("/", "_") or "model"
        args.work_dir = str(Path("artifacts") / "pipeline" / slug)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
