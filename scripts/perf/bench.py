"""Benchmark the service against the naive ways of serving the same model, side by side in one run.

    python -m scripts.perf.bench --model-dir functions/inference/model [--launches 5] [--iterations 200]
    python -m scripts.perf.bench --variants onnx --baseline-dir <previous model>   # a new model against the old one
    python -m scripts.perf.bench --variants onnx --baseline-code <checkout>       # this code against another's
    ... --doc docs/architecture.md --block code-compare                      # also fill that page's block

Variants, all on the same model and texts:
  (a) naive     AutoTokenizer + AutoModelForSequenceClassification, per-request tokenisation with
                padding=True, truncation=True, max_length=512, softmax: how the original service did it
  (b) pipeline  transformers pipeline("text-classification", top_k=None)
  (c) torch     this project's torch backend, through the Lambda handler from API Gateway events
  (d) onnx      this project's int8 ONNX backend, through the Lambda handler from API Gateway events

Each figure comes from fresh child processes, the variants interleaved: cold start (process start until the
first prediction is back, median of --launches), and the medians over --rounds warm processes of latency p50/p99
for a short sentence and a 60-word text, batch-32 throughput, peak RSS, and the on-disk size of every installed
distribution the process imported plus the model files it read. Prints a table with ratios to (a), writes JSON
(every round and launch included) and a PNG chart. ``--baseline-dir`` adds (e) baseline: variant (d) on another
model folder, interleaved with the rest, so two models are compared in one run on one machine state;
``--baseline-code`` runs (e) with another checkout's code instead (its own scripts/perf/bench.py and app/), on the same
model unless ``--baseline-dir`` is given too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from scripts.common.lambda_cost import FULL_VCPU_MB, billed_seconds, cost_per_million
from scripts.common.stats import percentile

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_DIR = ROOT / "functions" / "inference"
VARIANTS = {
    "naive": "(a) naive transformers",
    "pipeline": "(b) transformers pipeline",
    "torch": "(c) handler, torch",
    "onnx": "(d) handler, onnx int8",
    "baseline": "(e) handler, onnx int8, baseline model",
}
SHORT = "I am feeling very happy today!"
LONG = (
    "I have been waiting for this letter for months and when it finally arrived this morning I could not stop "
    "smiling because it means that after all the rejections and the long nights of work I finally got the place "
    "I wanted so much and I cannot wait to tell my family about it tonight at dinner together"
)
BATCH = [
    "i feel so alone tonight",
    "this is the best day of my life",
    "i am furious about the delay",
    "i am scared of the dark",
    "i adore my little sister",
    "wow i did not see that coming",
    "I can't believe they cancelled the show again.",
    "Thank you so much, you made my day!",
] * 4


def _predict_fn(variant: str, model_dir: Path) -> Callable[[list[str]], Any]:
    """Build the variant's predict function; everything here counts towards its cold start."""
    if variant == "naive":
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir)

        def naive(texts: list[str]) -> Any:
            inputs = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=512)
            with torch.no_grad():
                logits = model(**inputs).logits
            return torch.nn.functional.softmax(logits, dim=-1).tolist()

        return naive
    if variant == "pipeline":
        from transformers import pipeline

        classifier = pipeline("text-classification", model=str(model_dir), top_k=None)
        return lambda texts: classifier(texts)
    os.environ["MODEL_BACKEND"] = variant
    os.environ["MODEL_PATH"] = str(model_dir)
    from app.handler import handler
    from scripts.common.lambda_context import LocalLambdaContext

    template = json.loads((ROOT / "events" / "predict.json").read_text())

    def through_handler(texts: list[str]) -> Any:
        event = dict(template)
        if len(texts) == 1:
            event["body"] = json.dumps({"text": texts[0]})
        else:
            event["body"] = json.dumps({"texts": texts})
            event["rawPath"] = "/predict/batch"
            event["requestContext"] = {
                **template["requestContext"],
                "http": {**template["requestContext"]["http"], "path": "/predict/batch"},
            }
        response = handler(event, LocalLambdaContext())
        if response["statusCode"] != 200:
            raise RuntimeError(f"handler answered {response['statusCode']}: {response['body'][:200]}")
        return json.loads(response["body"])

    return through_handler


def _dependency_bytes(model_dir: Path, variant: str) -> int:
    """Installed distributions this process imported, plus the model files the variant reads."""
    top_levels = {name.split(".")[0] for name in list(sys.modules)}
    distributions = metadata.packages_distributions()
    names = {dist for top in top_levels for dist in distributions.get(top, [])}
    total = 0
    for name in names:
        for file in metadata.distribution(name).files or []:
            path = Path(file.locate())
            if path.is_file():
                total += path.stat().st_size
    model_files = ["model.int8.onnx"] if variant == "onnx" else ["model.safetensors"]
    model_files += ["config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"]
    return total + sum((model_dir / f).stat().st_size for f in model_files if (model_dir / f).is_file())


def child(variant: str, model_dir: Path, mode: str, iterations: int, out: Path) -> None:
    """Runs in a fresh process; ``mode`` is cold (first prediction only) or warm (everything else)."""
    variant = "onnx" if variant == "baseline" else variant
    predict = _predict_fn(variant, model_dir)
    predict([SHORT])
    result: dict[str, Any] = {"first_prediction_at": time.time()}
    if mode == "warm":
        for _ in range(10):
            predict([SHORT])
            predict([LONG])
        for _ in range(3):
            predict(BATCH)
        for name, text in (("short", SHORT), ("long", LONG)):
            timings = []
            for _ in range(iterations):
                started = time.perf_counter()
                predict([text])
                timings.append((time.perf_counter() - started) * 1000)
            result[f"{name}_p50_ms"] = statistics.median(timings)
            result[f"{name}_p99_ms"] = percentile(timings, 0.99)
        rounds = max(5, iterations // 10)
        started = time.perf_counter()
        for _ in range(rounds):
            predict(BATCH)
        result["batch32_texts_per_s"] = rounds * len(BATCH) / (time.perf_counter() - started)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["dependency_mb"] = _dependency_bytes(model_dir, variant) / 1e6
    out.write_text(json.dumps(result))


#: Which bench.py runs each variant's children: this one, or another checkout's for (e) with --baseline-code.
CHILD_SCRIPTS: dict[str, Path] = {}


def _checkout_of(script: Path) -> Path:
    """The checkout a bench.py belongs to: the folder holding its ``scripts`` package (any layout)."""
    return next(parent for parent in script.parents if parent.name == "scripts").parent


def _bench_of(checkout: Path) -> Path:
    """A checkout's bench.py: scripts/perf/bench.py, or scripts/bench.py in checkouts from before the packages."""
    candidates = [checkout / "scripts" / "perf" / "bench.py", checkout / "scripts" / "bench.py"]
    return next((path for path in candidates if path.is_file()), candidates[0]).resolve()


def _code_path(script: Path) -> dict[str, str]:
    """PYTHONPATH putting another checkout's ``app`` and ``scripts`` before this editable install's."""
    if script == Path(__file__):
        return {}
    checkout = _checkout_of(script)
    return {"PYTHONPATH": os.pathsep.join([str(checkout / "functions" / "inference"), str(checkout)])}


def _run_child(variant: str, model_dir: Path, mode: str, iterations: int) -> tuple[float, dict[str, Any]]:
    script = CHILD_SCRIPTS.get(variant, Path(__file__))
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "result.json"
        started = time.time()
        subprocess.run(
            [
                sys.executable,
                str(script),
                "--child",
                "onnx" if script != Path(__file__) else variant,
                "--mode",
                mode,
                "--model-dir",
                str(model_dir),
                "--iterations",
                str(iterations),
                "--out",
                str(out),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONWARNINGS": "ignore", **_code_path(script)},
        )
        result = json.loads(out.read_text())
    return result["first_prediction_at"] - started, result


def measure(model_dirs: dict[str, Path], launches: int, iterations: int, rounds: int) -> dict[str, dict[str, Any]]:
    """Every variant's children run interleaved (a, b, c, d, a, b, ...), so a slow spell of the machine hits all
    variants alike instead of whichever happened to run then; each figure is the median over rounds/launches.
    ``model_dirs`` maps each variant to run to its model folder."""
    warm_rounds: dict[str, list[dict[str, float]]] = {variant: [] for variant in model_dirs}
    colds: dict[str, list[float]] = {variant: [] for variant in model_dirs}
    for round_number in range(rounds):
        for variant, model_dir in model_dirs.items():
            _, warm = _run_child(variant, model_dir, "warm", iterations)
            warm.pop("first_prediction_at")
            warm_rounds[variant].append(warm)
        print(f"warm round {round_number + 1}/{rounds} done", file=sys.stderr)
    for _ in range(launches):
        for variant, model_dir in model_dirs.items():
            colds[variant].append(_run_child(variant, model_dir, "cold", iterations)[0])
    print("cold starts done", file=sys.stderr)
    results: dict[str, dict[str, Any]] = {}
    for variant, measured in warm_rounds.items():
        medians = {key: statistics.median(warm[key] for warm in measured) for key in measured[0]}
        results[variant] = {
            "cold_start_s": statistics.median(colds[variant]),
            "cold_starts_s": colds[variant],
            **medians,
            "warm_rounds": measured,
        }
    return results


ROWS = [
    ("cold start (s, median)", "cold_start_s", False),
    ("warm p50 short (ms)", "short_p50_ms", False),
    ("warm p99 short (ms)", "short_p99_ms", False),
    ("warm p50 60 words (ms)", "long_p50_ms", False),
    ("warm p99 60 words (ms)", "long_p99_ms", False),
    ("batch-32 (texts/s)", "batch32_texts_per_s", True),
    ("peak RSS (MB)", "peak_rss_mb", False),
    ("runtime deps + model on disk (MB)", "dependency_mb", False),
]


def table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown table; each cell is the figure and its ratio to (a), written so that >1x means better."""
    header = "| figure | " + " | ".join(VARIANTS[v] for v in results) + " |"
    lines = [header, "|" + " --- |" * (len(results) + 1)]
    base = results.get("naive")
    for title, key, higher_is_better in ROWS:
        cells = []
        for variant in results:
            value = results[variant][key]
            if base is None or variant == "naive":
                cells.append(f"{value:,.1f}")
                continue
            ratio = value / base[key] if higher_is_better else base[key] / value
            cells.append(f"{value:,.1f} ({ratio:.1f}x)")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


MEMORY_SIZES_MB = (1024, 2048, 3008)


def cost_table(results: dict[str, dict[str, Any]], measured_cpus: int) -> str:
    """GB-seconds and dollars per million single-text predictions, from the measured warm p50 latencies.

    Latency measured here with ``measured_cpus`` cores is scaled by how much less CPU Lambda gives at each
    memory size (never scaled down: more memory than our cores buys nothing), then rounded up to Lambda's
    1 ms billing step.
    """
    lines = ["| variant | memory (MB) | est. duration (ms) | GB-s per 1M | $ per 1M predictions |", "|" + " --- |" * 5]
    for variant in ("naive", "onnx"):
        for memory in MEMORY_SIZES_MB:
            vcpus = memory / FULL_VCPU_MB
            duration_ms = results[variant]["short_p50_ms"] * max(1.0, measured_cpus / vcpus)
            gb_seconds = billed_seconds(duration_ms) * memory / 1024 * 1_000_000
            dollars = cost_per_million(duration_ms, memory, "x86_64")["total"]
            lines.append(f"| {VARIANTS[variant]} | {memory} | {duration_ms:.1f} | {gb_seconds:,.0f} | {dollars:,.2f} |")
    return "\n".join(lines)


def chart(results: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("cold start (s)", "cold_start_s"),
        ("warm p50, short (ms)", "short_p50_ms"),
        ("batch-32 (texts/s)", "batch32_texts_per_s"),
        ("peak RSS (MB)", "peak_rss_mb"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 3.4), dpi=100)
    names = [VARIANTS[v].split(" ", 1)[1] for v in results]
    colours = ["#9e9e9e", "#bdbdbd", "#64b5f6", "#1565c0"]
    for axis, (title, key) in zip(axes, panels, strict=True):
        values = [results[v][key] for v in results]
        axis.barh(names, values, color=colours)
        axis.set_title(title, fontsize=10)
        axis.invert_yaxis()
        for y, value in enumerate(values):
            axis.text(value, y, f" {value:,.1f}", va="center", fontsize=8)
        axis.margins(x=0.3)
    for axis in axes[1:]:
        axis.set_yticklabels([])
    fig.suptitle("Same model, same texts: naive serving vs this service (lower is better except throughput)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=FUNCTION_DIR / "model")
    parser.add_argument("--launches", type=int, default=5, help="cold starts per variant (median reported)")
    parser.add_argument("--iterations", type=int, default=200, help="timed warm requests per text")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved warm runs per variant (median reported)")
    parser.add_argument("--json", type=Path, default=ROOT / "artifacts" / "bench" / "bench.json")
    parser.add_argument("--chart", type=Path, default=ROOT / "docs" / "bench.png")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=[v for v in VARIANTS if v != "baseline"],
        default=None,
        help="run only these variants (default: all four)",
    )
    parser.add_argument("--baseline-dir", type=Path, help="also run (d) on this model folder, as (e) baseline")
    parser.add_argument("--baseline-code", type=Path, help="also run (d) with this checkout's code, as (e) baseline")
    parser.add_argument("--block", help="write the table into --doc's GENERATED block of this name")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "performance.md", help="the page --block fills")
    parser.add_argument("--child", choices=list(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["cold", "warm"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    model_dir = args.model_dir.resolve()
    if args.child:
        child(args.child, model_dir, args.mode, args.iterations, args.out)
        return 0
    variants = args.variants or [v for v in VARIANTS if v != "baseline"]
    model_dirs = dict.fromkeys(variants, model_dir)
    if args.baseline_dir or args.baseline_code:
        model_dirs["baseline"] = (args.baseline_dir or model_dir).resolve()
    if args.baseline_code:
        CHILD_SCRIPTS["baseline"] = _bench_of(args.baseline_code)
        VARIANTS["baseline"] = f"(e) handler, onnx int8, code of {args.baseline_code.name}"
    results = measure(model_dirs, args.launches, args.iterations, args.rounds)
    machine = {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "python": sys.version.split()[0]}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "machine": machine,
        "model_dirs": {v: str(d) for v, d in model_dirs.items()},
        "code": {v: str(_checkout_of(CHILD_SCRIPTS.get(v, Path(__file__)))) for v in model_dirs},
        "results": results,
    }
    args.json.write_text(json.dumps(record, indent=2))
    print(table(results))
    if args.block:
        from scripts.common.docs_blocks import render

        note = (
            f"\n\nMedians over {args.rounds} interleaved warm rounds and {args.launches} cold starts on "
            f"{machine['affinity']} cores (`{' '.join(['scripts/perf/bench.py', *(argv or sys.argv[1:])])}`)."
        )
        args.doc.write_text(render(args.doc.read_text(), {args.block: table(results) + note}, where=args.doc))
    if set(results) >= {"naive", "pipeline", "torch", "onnx"}:
        args.chart.parent.mkdir(parents=True, exist_ok=True)
        chart({v: results[v] for v in ("naive", "pipeline", "torch", "onnx")}, args.chart)
        print()
        print(cost_table(results, machine["affinity"]))
    print(f"\nJSON: {args.json}" + (f"\nchart: {args.chart}" if set(results) >= set(VARIANTS) - {"baseline"} else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
