"""Right-size the function for Lambda: latency, cold start, memory and cost at each memory size, on the real image.

    make right-size     # python -m scripts.perf.right_size --doc docs/performance.md

Lambda gives a function CPU in proportion to its memory (one full vCPU at 1,769 MB) and bills GB-seconds. This
runs the built image under the Lambda emulator (podman, scripts/perf/lambda_image.py) at each memory size in
``MEMORY_SIZES`` with the matching limits (``--memory``, and ``--cpus`` = memory / 1,769 capped at the host's
cores), once per inference-thread setting (NUM_THREADS=1, 2, and unset: the automatic choice), and measures
through the emulator: the first invoke after the container starts (cold), warm p50/p99 of a short text, the
throughput of 32-text batches, and the container's peak memory. In the same container, with the same limits, a
second process times the handler in-process (no emulator HTTP hop): the duration Lambda would bill. Last, the
service the seed project deploys (a DistilBERT-base-sized classifier, 66M random weights, behind a transformers
pipeline and FastAPI + Mangum) is timed the same way at the recommended size.

Writes docs/right-size.json, docs/right-size.png and, with --doc, that page's GENERATED ``right-size`` and
``bulk-aws`` blocks (docs/performance.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from scripts.common.lambda_cost import FULL_VCPU_MB, PRICES, cost_per_million, dollars, invocation_cost
from scripts.common.stats import percentile
from scripts.perf.lambda_image import (
    ROOT,
    Container,
    Podman,
    available_base,
    base_image,
    build_image,
    ensure_base,
    function_config,
    setup_podman,
)

MEMORY_SIZES = (512, 1024, 1536, 1769, 2048, 3008)
THREAD_SETTINGS = ("1", "2", "auto")
IMAGE_TAG = "localhost/emotion-api:right-size"
SHORT_TEXT = "I am feeling very happy today!"
BATCH = [
    "i feel like i am finally getting somewhere with this project",
    "This traffic makes me so angry.",
    "I'm scared of what the doctor will say tomorrow...",
    "I miss you so much, it hurts.",
    "Wow, I did not expect that at all!",
    "I love spending lazy Sundays with you.",
    "i feel so alone tonight and nobody seems to notice",
    "The meeting is at 3pm in room 204.",
] * 4
WARM_SINGLE = 200
WARM_BATCHES = 8
IN_PROCESS_SINGLE = 300
#: Rounds per size, each with one container per thread setting measured side by side.
ROUNDS = 2


def api_event(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """An HTTP API (payload v2) event, as API Gateway sends it."""
    event: dict[str, Any] = json.loads((ROOT / "events" / "predict.json").read_text(encoding="utf-8"))
    event.update(routeKey=f"POST {path}", rawPath=path, body=json.dumps(body))
    event["requestContext"].update(routeKey=f"POST {path}")
    event["requestContext"]["http"]["path"] = path
    return event


SINGLE_EVENT = api_event("/predict", {"text": SHORT_TEXT})
BATCH_EVENT = api_event("/predict/batch", {"texts": BATCH})

#: Run inside the container (same cgroup, same limits): the handler called in-process, timed.
IN_PROCESS = """
import json, os, sys, time
sys.path.insert(0, os.environ.get("LAMBDA_TASK_ROOT", "/var/task"))
started = time.perf_counter()
from {module} import {handler} as handler
load = time.perf_counter() - started
event, runs = json.loads(sys.argv[1]), int(sys.argv[2])

class Context:
    function_name = "InferenceFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:InferenceFunction"
    memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"))
    aws_request_id = "right-size"
    log_group_name = log_stream_name = "local"
    def get_remaining_time_in_millis(self):
        return 30000

context, times = Context(), []
for index in range(runs + 20):
    started = time.perf_counter()
    answer = handler(event, context)
    if index >= 20:
        times.append(time.perf_counter() - started)
assert answer["statusCode"] == 200, answer
times.sort()
print("RESULT " + json.dumps({{"load_s": load, "p50_ms": times[len(times) // 2] * 1000,
                               "p99_ms": times[int(len(times) * 0.99)] * 1000,
                               "mean_ms": sum(times) / len(times) * 1000}}))
"""

#: The seed's service: a DistilBERT-base-sized sequence classifier behind a transformers pipeline, FastAPI and
#: Mangum; random weights (the timing does not depend on them) and this project's WordPiece vocabulary.
SEED_SERVICE = """
import os, torch
from fastapi import FastAPI
from mangum import Mangum
from pydantic import BaseModel
from transformers import DistilBertConfig, DistilBertForSequenceClassification, PreTrainedTokenizerFast, pipeline

torch.manual_seed(0)
model = DistilBertForSequenceClassification(DistilBertConfig(num_labels=6)).eval()
tokenizer = PreTrainedTokenizerFast(tokenizer_file=os.environ["TOKENIZER_FILE"], unk_token="[UNK]",
                                    pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
classifier = pipeline("text-classification", model=model, tokenizer=tokenizer, top_k=None, device=-1)
app = FastAPI()

class Body(BaseModel):
    text: str

@app.post("/predict")
def predict(body: Body):
    return classifier(body.text)[0]

handler = Mangum(app, lifespan="off")
"""


def cpus_for(memory_mb: int, host_cpus: int) -> float:
    return min(memory_mb / FULL_VCPU_MB, float(host_cpus))


def peak_memory_mb(container: Container) -> float | None:
    """The container's peak memory from its cgroup (v2 memory.peak, else v1 memory.max_usage_in_bytes)."""
    for path in ("/sys/fs/cgroup/memory.peak", "/sys/fs/cgroup/memory/memory.max_usage_in_bytes"):
        result = container.exec("cat", path)
        if result.returncode == 0 and result.stdout.strip().isdigit():
            return int(result.stdout.strip()) / 2**20
    return None


def in_process(container: Container, *, module: str = "app.handler", handler: str = "handler") -> dict[str, float]:
    """The handler timed by a second process inside the running container: the duration Lambda bills."""
    code = IN_PROCESS.format(module=module, handler=handler)
    result = container.exec("/var/lang/bin/python", "-c", code, json.dumps(SINGLE_EVENT), str(IN_PROCESS_SINGLE))
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"in-process timing failed: {result.stderr[-2000:]}")
    figures: dict[str, float] = json.loads(lines[-1].removeprefix("RESULT "))
    return figures


def threads_logged(container: Container) -> int | None:
    """The thread count the function logged at model load."""
    for line in container.logs().splitlines():
        if '"model_loaded"' in line:
            try:
                return int(json.loads(line[line.index("{") :])["threads"])
            except (ValueError, KeyError):
                return None
    return None


def measure_round(podman: Podman, memory_mb: int, host_cpus: int) -> dict[str, dict[str, Any]]:
    """One container per thread setting at one size, measured side by side: each container's first invoke (cold),
    then warm requests and batches sent to the three in turn, so a slow spell of the host hits every setting
    alike (one container's figures otherwise move by 10-15 % from start to start, more than the settings differ).
    """
    config = replace(function_config(), memory_mb=memory_mb)
    figures: dict[str, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        containers = {}
        for threads in THREAD_SETTINGS:
            env = {} if threads == "auto" else {"NUM_THREADS": threads}
            container = Container(podman, IMAGE_TAG, config, cpus=cpus_for(memory_mb, host_cpus), extra_env=env)
            stack.enter_context(container)
            figures[threads] = {"cold_s": container.invoke(SINGLE_EVENT).seconds, "single_ms": [], "batch32_ms": []}
            containers[threads] = container
        for _ in range(10):
            for container in containers.values():
                container.invoke(SINGLE_EVENT)
        for _ in range(WARM_SINGLE):
            for threads, container in containers.items():
                figures[threads]["single_ms"].append(container.invoke(SINGLE_EVENT).seconds * 1000)
        for _ in range(WARM_BATCHES):
            for threads, container in containers.items():
                invocation = container.invoke(BATCH_EVENT)
                if invocation.payload["statusCode"] != 200:
                    raise RuntimeError(f"a batch failed at {memory_mb} MB: {invocation.payload}")
                figures[threads]["batch32_ms"].append(invocation.seconds * 1000)
        # The automatic setting alone, back to back: an environment that is never idle, the CPU quota's worst case.
        figures["auto"]["burst_ms"] = [
            containers["auto"].invoke(SINGLE_EVENT).seconds * 1000 for _ in range(WARM_SINGLE)
        ]
        for threads, container in containers.items():
            figures[threads]["threads_used"] = threads_logged(container)
            figures[threads]["peak_memory_mb"] = peak_memory_mb(container)
            figures[threads]["in_process"] = in_process(container) if threads == "auto" else None
    return figures


def summarise(memory_mb: int, threads: str, host_cpus: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from the rounds of one size and setting: samples pooled, cold starts and in-process medians."""
    single = [value for run in runs for value in run["single_ms"]]
    burst = [value for run in runs for value in run.get("burst_ms", [])]
    batches = [value for run in runs for value in run["batch32_ms"]]
    row: dict[str, Any] = {
        "memory_mb": memory_mb,
        "cpus": round(cpus_for(memory_mb, host_cpus), 3),
        "threads": threads,
        "threads_used": runs[0]["threads_used"],
        "cold_s": statistics.median(run["cold_s"] for run in runs),
        "cold_starts_s": [run["cold_s"] for run in runs],
        "interleaved_p50_ms": statistics.median(single),
        "interleaved_p99_ms": percentile(single, 0.99),
        "batch32_ms": statistics.mean(batches),
        "batch32_texts_per_s": len(BATCH) / (statistics.mean(batches) / 1000),
        "peak_memory_mb": max(run["peak_memory_mb"] or 0 for run in runs) or None,
    }
    if threads == "auto":
        row["warm_p50_ms"] = statistics.median(burst)
        row["warm_p99_ms"] = percentile(burst, 0.99)
        row["in_process"] = {
            key: statistics.median(run["in_process"][key] for run in runs)
            for key in ("load_s", "p50_ms", "p99_ms", "mean_ms")
        }
    return row


def seed_service(podman: Podman, memory_mb: int, host_cpus: int) -> dict[str, Any]:
    """The seed's service at one size: the host's torch/transformers, mounted read-only into the base image."""
    venv = Path(sys.prefix)
    python_home = Path(os.path.realpath(sys.base_prefix))
    seed_dir = ROOT / "artifacts" / "right-size" / "seed"
    seed_dir.mkdir(parents=True, exist_ok=True)
    (seed_dir / "seed_service.py").write_text(SEED_SERVICE, encoding="utf-8")
    tokenizer = ROOT / "functions" / "inference" / "model" / "tokenizer.json"
    name = f"emotion-seed-{memory_mb}"
    base = available_base(podman, base_image())
    podman("rm", "--force", name, check=False)
    podman("run", "--detach", "--name", name, "--memory", f"{memory_mb}m", "--memory-swap", f"{memory_mb}m",
           "--cpus", f"{cpus_for(memory_mb, host_cpus):.3f}", "--env", "TOKENIZER_FILE=/opt/tokenizer.json",
           # One torch thread: the seed's best setting under a fractional CPU (see the thread comparison above).
           "--env", f"LAMBDA_TASK_ROOT={seed_dir}", "--env", "OMP_NUM_THREADS=1",
           "-v", f"{python_home}:{python_home}:ro", "-v", f"{venv}:{venv}:ro", "-v", f"{seed_dir}:{seed_dir}:ro",
           "-v", f"{tokenizer}:/opt/tokenizer.json:ro", "--entrypoint", "sleep", base, "3600")  # fmt: skip
    try:
        code = IN_PROCESS.format(module="seed_service", handler="handler")
        result = podman("exec", name, str(venv / "bin" / "python"), "-c", code, json.dumps(SINGLE_EVENT),
                        str(IN_PROCESS_SINGLE // 3), check=False, timeout=900)  # fmt: skip
        lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
        if result.returncode != 0 or not lines:
            return {"memory_mb": memory_mb, "error": (result.stderr or result.stdout)[-1500:]}
        peak = podman("exec", name, "cat", "/sys/fs/cgroup/memory/memory.max_usage_in_bytes", check=False)
        figures = json.loads(lines[-1].removeprefix("RESULT "))
        parameters = 66_958_086  # DistilBertForSequenceClassification(DistilBertConfig(num_labels=6))
        return {
            "memory_mb": memory_mb,
            "parameters": parameters,
            **figures,
            "peak_memory_mb": int(peak.stdout.strip()) / 2**20 if peak.stdout.strip().isdigit() else None,
        }
    finally:
        podman("rm", "--force", "--time", "1", name, check=False)


#: Step Functions, us-east-1, as published on 2026-11-27: a Distributed Map is charged one Standard state
#: transition per child workflow it starts; Express child workflows, per request and per GB-second of duration
#: (billed in 64 MB and 100 ms steps).
STEP_FUNCTIONS = {"per_transition": 0.000025, "per_express_request": 0.000001, "per_express_gb_second": 0.00001667}
BULK_BATCH_SIZES = (100, 250, 500)
BULK_CONCURRENCY = 50
BULK_TEXTS = 1_000_000


def batch_event(size: int) -> dict[str, Any]:
    """A Distributed Map batch of ``size`` rows, as the state machine's ItemBatcher and ItemSelector build it."""
    items = [{"index": index, "row": {"text": BATCH[index % len(BATCH)]}} for index in range(size)]
    return {"Items": items, "BatchInput": {"text_field": "text"}}


def bulk_benchmark(podman: Podman, memory_mb: int, host_cpus: int) -> dict[str, Any]:
    """Distributed Map batches through the emulator at one size: each batch size's duration and the estimated
    cost and wall time of a million texts at BULK_CONCURRENCY concurrent batches."""
    config = replace(function_config(), memory_mb=memory_mb)
    rows = []
    with Container(podman, IMAGE_TAG, config, cpus=cpus_for(memory_mb, host_cpus)) as container:
        for size in BULK_BATCH_SIZES:
            event = batch_event(size)
            container.invoke(event)
            durations = []
            for _ in range(3):
                invocation = container.invoke(event)
                if len(invocation.payload.get("results", [])) != size:
                    raise RuntimeError(f"a batch of {size} did not answer every row: {str(invocation.payload)[:300]}")
                durations.append(invocation.seconds * 1000)
            rows.append({"batch_size": size, "duration_ms": statistics.median(durations),
                         "output_bytes": len(json.dumps(invocation.payload))})  # fmt: skip
    for row in rows:
        batches = math.ceil(BULK_TEXTS / row["batch_size"])
        lambda_cost = batches * invocation_cost(row["duration_ms"], memory_mb)
        express_s = math.ceil((row["duration_ms"] + 50) / 100) / 10  # the task plus the child's own steps
        step_cost = batches * (STEP_FUNCTIONS["per_transition"] + STEP_FUNCTIONS["per_express_request"]
                               + express_s * 0.0625 * STEP_FUNCTIONS["per_express_gb_second"])  # fmt: skip
        row.update(
            batches=batches,
            lambda_dollars=lambda_cost,
            step_functions_dollars=step_cost,
            total_dollars=lambda_cost + step_cost,
            wall_seconds=math.ceil(batches / BULK_CONCURRENCY) * row["duration_ms"] / 1000,
        )
    return {"memory_mb": memory_mb, "concurrency": BULK_CONCURRENCY, "texts": BULK_TEXTS, "rows": rows}


def bulk_table(bulk: dict[str, Any]) -> str:
    lines = [
        f"A million texts at {bulk['memory_mb']} MB, {bulk['concurrency']} batches at a time (estimates from batch "
        "durations measured through the emulator; AWS itself not measured):",
        "",
        "| rows per batch | batch duration (ms) | batch result (kB) | Lambda $ | Step Functions $ | total $ | "
        "wall time (s, lower bound) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in bulk["rows"]:
        lines.append(
            f"| {row['batch_size']} | {row['duration_ms']:.0f} | {row['output_bytes'] / 1000:.0f} | "
            f"{row['lambda_dollars']:.3f} | {row['step_functions_dollars']:.3f} | **{row['total_dollars']:.3f}** | "
            f"{row['wall_seconds']:.0f} |"
        )
    lines += [
        "",
        "Lambda at the prices of the right-sizing table (one request per batch, its duration billed per started "
        f"millisecond); Step Functions at {dollars(STEP_FUNCTIONS['per_transition'])} per state transition (one "
        f"per child workflow), {dollars(STEP_FUNCTIONS['per_express_request'])} per Express request and "
        f"{dollars(STEP_FUNCTIONS['per_express_gb_second'])} per GB-s of Express duration (64 MB, 100 ms steps), "
        "us-east-1, 2026-11-27. S3 requests (a few per batch) are left out. The wall time ignores child-workflow "
        "start-up and the Lambda scaling ramp, so read it as a floor. A batch's result must stay under Step "
        "Functions' 256 kB: the template's defaults are 500 rows and at most 200 kB of input per batch.",
    ]
    return "\n".join(lines) + "\n"


RECOMMENDATION = (
    "the cheapest size per million single predictions whose cold start is under 1.5 s and warm p99 (back to "
    "back) under 20 ms; a tie to the cent goes to the larger, faster size"
)


def recommend(rows: list[dict[str, Any]]) -> int:
    """The cheapest size per million single predictions whose cold start is under 1.5 s and warm p99 under 20 ms.

    Ties (the same cost to the cent) go to the larger size: the same money buys a faster function.
    """
    auto = [row for row in rows if row["threads"] == "auto"]
    fit = [row for row in auto if row["cold_s"] < 1.5 and row["warm_p99_ms"] < 20] or auto
    cheapest = min(round(row["cost"]["x86_64"]["total"], 2) for row in fit)
    return max(row["memory_mb"] for row in fit if round(row["cost"]["x86_64"]["total"], 2) == cheapest)


def run(host_cpus: int) -> dict[str, Any]:
    podman = setup_podman()
    ensure_base(podman, base_image())
    build = build_image(podman, IMAGE_TAG)
    started = time.perf_counter()
    runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for size in MEMORY_SIZES:
        for _ in range(ROUNDS):
            for threads, figures in measure_round(podman, size, host_cpus).items():
                runs.setdefault((size, threads), []).append(figures)
    rows = [summarise(size, threads, host_cpus, found) for (size, threads), found in runs.items()]
    for row in rows:  # every container of a size loads the same model: its cold start is all their starts'
        starts = [start for other in rows if other["memory_mb"] == row["memory_mb"] for start in other["cold_starts_s"]]
        row["cold_s"] = statistics.median(starts)
    for row in rows:
        if "in_process" in row:
            duration = row["in_process"]["mean_ms"]
            batch = row["batch32_ms"]
            row["cost"] = {arch: cost_per_million(duration, row["memory_mb"], arch) for arch in ("x86_64", "arm64")}
            row["batch_cost"] = {
                arch: cost_per_million(batch, row["memory_mb"], arch, texts=len(BATCH)) for arch in ("x86_64", "arm64")
            }
    best = recommend(rows)
    bulk = bulk_benchmark(podman, best, host_cpus)
    seed = seed_service(podman, best, host_cpus)
    if "error" in seed:  # the seed's torch service does not fit: measure it where it does
        for size in (size for size in MEMORY_SIZES if size > best):
            seed = seed_service(podman, size, host_cpus)
            if "error" not in seed:
                break
    if "mean_ms" in seed:
        seed["cost"] = {
            arch: cost_per_million(seed["mean_ms"], seed["memory_mb"], arch) for arch in ("x86_64", "arm64")
        }
    return {
        "machine": {"host_cpus": host_cpus, "cgroup": _cgroup_version()},
        "image": {"tag": IMAGE_TAG, "build_seconds": round(build.seconds, 1)},
        "prices": PRICES,
        "rows": rows,
        "recommended_mb": best,
        "seed_service": seed,
        "bulk": bulk,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _cgroup_version() -> str:
    return "v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "v1"


# --------------------------------------------------------------------------- report


def oversubscription(rows: list[dict[str, Any]]) -> dict[int, float]:
    """Per size: the automatic choice's warm p50 over the best fixed setting's (1.0 = as good as the best)."""
    ratios = {}
    for size in MEMORY_SIZES:
        by_threads = {row["threads"]: row["interleaved_p50_ms"] for row in rows if row["memory_mb"] == size}
        ratios[size] = by_threads["auto"] / min(by_threads["1"], by_threads["2"])
    return ratios


def _size_table(record: dict[str, Any]) -> list[str]:
    """One row per memory size (the automatic thread setting): latency, memory and cost."""
    rows, best = record["rows"], record["recommended_mb"]
    ratios = oversubscription(rows)
    lines = [
        "| memory (MB) | vCPU | threads (auto) | cold start (s) | warm p50 / p99 (ms) | in-process p50 (ms) | "
        "auto vs best fixed (p50) | peak memory (MB) | $ per 1M single, x86 / arm | $ per 1M texts in batches of 32, "
        "x86 / arm |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in (row for row in rows if row["threads"] == "auto"):
        size = row["memory_mb"]
        cold = row["cold_s"]
        mark = " **(recommended)**" if size == best else ""
        lines.append(
            f"| {size}{mark} | {row['cpus']:.2f} | {row['threads_used']} | {cold:.2f} | "
            f"{row['warm_p50_ms']:.1f} / {row['warm_p99_ms']:.1f} | {row['in_process']['p50_ms']:.1f} | "
            f"{ratios[size]:.2f} | {row['peak_memory_mb']:.0f} | "
            f"{row['cost']['x86_64']['total']:.3f} / {row['cost']['arm64']['total']:.3f} | "
            f"{row['batch_cost']['x86_64']['total']:.4f} / {row['batch_cost']['arm64']['total']:.4f} |"
        )
    return lines


def _seed_comparison(seed: dict[str, Any], recommended: dict[str, Any]) -> str:
    """The seed's service against ours at the same size, in the same run."""
    if "p50_ms" not in seed:
        return f"The seed's service did not run at any size: {seed.get('error', '')[:300]}"
    ours_cost = recommended["cost"]["x86_64"]
    return (
        f"The seed's service (DistilBERT-base-sized, {seed['parameters'] / 1e6:.0f}M parameters, transformers "
        f"pipeline behind FastAPI + Mangum, its best setting of one torch thread) measured at "
        f"{seed['memory_mb']} MB in the same run: in-process p50 "
        f"**{seed['p50_ms']:.1f} ms** against our {recommended['in_process']['p50_ms']:.1f} ms "
        f"(ours **{seed['p50_ms'] / recommended['in_process']['p50_ms']:.1f}x faster**), peak memory "
        f"{seed['peak_memory_mb']:.0f} MB against our {recommended['peak_memory_mb']:.0f} MB; per million "
        "single predictions on x86_64 "
        f"${seed['cost']['x86_64']['total']:.3f} against ${ours_cost['total']:.3f} "
        f"(ours **{seed['cost']['x86_64']['total'] / ours_cost['total']:.1f}x cheaper** with the request fee, "
        f"**{seed['cost']['x86_64']['compute'] / ours_cost['compute']:.1f}x** on compute alone)."
    )


def table(record: dict[str, Any]) -> str:
    rows, best, prices = record["rows"], record["recommended_mb"], record["prices"]
    recommended = next(row for row in rows if row["memory_mb"] == best and row["threads"] == "auto")
    two = {row["memory_mb"]: row for row in rows if row["threads"] == "2"}
    auto = {row["memory_mb"]: row for row in rows if row["threads"] == "auto"}
    largest = MEMORY_SIZES[-1]
    summary = [
        "",
        f"Recommended: {RECOMMENDATION}. Two threads instead of the automatic one make a batch of 32 faster where "
        f"there is more than one CPU's quota to share ({two[largest]['batch32_ms']:.0f} against "
        f"{auto[largest]['batch32_ms']:.0f} ms at {largest} MB) but single requests no faster and their p99 worse "
        f"below two CPUs ({two[best]['interleaved_p99_ms']:.0f} against {auto[best]['interleaved_p99_ms']:.0f} ms at "
        f"{best} MB): set NUM_THREADS=2 only for batch-heavy traffic on large sizes.",
        "",
        f"Prices: {prices['region']}, first tier, as published on {prices['date']}: "
        f"{dollars(prices['per_gb_second']['x86_64'])} per GB-s on x86_64, "
        f"{dollars(prices['per_gb_second']['arm64'])} on arm64, "
        f"${prices['per_million_requests']:.2f} per million requests (included in every $ figure). Billed "
        "duration is the in-process handler's mean over back-to-back requests (throttling under the CPU quota "
        "included), rounded up to the millisecond: Lambda bills the handler, not the emulator's HTTP hop; a "
        "batch's is its mean round trip through the emulator. Warm p50/p99: the automatic setting's container "
        f"answering {WARM_SINGLE} requests back to back, {ROUNDS} rounds pooled (an environment never idle: the "
        "CPU quota's worst case). The thread comparison: one container per setting, started together, "
        f"{WARM_SINGLE} requests sent to the three in turn (so a slow spell of the host hits each alike). Cold "
        "start: median of the first invoke after start of the "
        f"{ROUNDS * len(THREAD_SETTINGS)} containers of a size (model load included). "
        "Below one vCPU the p99 is the CPU quota at work: a burst of back-to-back requests uses up the period's "
        "share and waits for the next.",
        "",
        f"At {best} MB, warm p50 through the emulator is **{recommended['warm_p50_ms']:.1f} ms**, "
        f"**{recommended['warm_p50_ms'] / recommended['in_process']['p50_ms']:.2f}x** the in-process "
        f"{recommended['in_process']['p50_ms']:.1f} ms of the same container.",
        _seed_comparison(record["seed_service"], recommended),
    ]
    return "\n".join(_size_table(record) + summary) + "\n"


def chart(record: dict[str, Any], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [row for row in record["rows"] if row["threads"] == "auto"]
    sizes = [row["memory_mb"] for row in rows]
    figure, latency = plt.subplots(figsize=(7, 4), dpi=100)
    latency.plot(sizes, [row["warm_p50_ms"] for row in rows], marker="o", label="warm p50, emulator")
    latency.plot(sizes, [row["warm_p99_ms"] for row in rows], marker="o", linestyle="--", label="warm p99, emulator")
    latency.plot(sizes, [row["in_process"]["mean_ms"] for row in rows], marker="s", label="in-process mean (billed)")
    latency.set_xlabel("Lambda memory (MB); vCPU = memory / 1769")
    latency.set_ylabel("latency of one short text (ms)")
    cost = latency.twinx()
    cost.plot(sizes, [row["cost"]["x86_64"]["total"] for row in rows], color="black", marker="^",
              label="$ per 1M predictions (x86_64)")  # fmt: skip
    cost.set_ylabel("$ per million single predictions")
    cost.set_ylim(bottom=0)
    latency.axvline(record["recommended_mb"], color="grey", linestyle=":")
    handles = latency.get_legend_handles_labels()[0] + cost.get_legend_handles_labels()[0]
    labels = latency.get_legend_handles_labels()[1] + cost.get_legend_handles_labels()[1]
    latency.legend(handles, labels, fontsize=8, loc="upper right")
    latency.set_title(f"The image under Lambda-like limits (recommended: {record['recommended_mb']} MB)")
    figure.tight_layout()
    figure.savefig(target)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "right-size.json")
    parser.add_argument("--chart", type=Path, default=ROOT / "docs" / "right-size.png")
    parser.add_argument("--doc", type=Path, help="fill this page's GENERATED blocks 'right-size', 'bulk-aws'")
    parser.add_argument("--render-only", action="store_true", help="redraw the chart and tables from --json")
    args = parser.parse_args(argv)
    if args.render_only:
        record = json.loads(args.json.read_text(encoding="utf-8"))
        host_cpus = int(record["machine"]["host_cpus"])
    else:
        host_cpus = len(os.sched_getaffinity(0))
        record = run(host_cpus)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    chart(record, args.chart)
    text = table(record)
    print(text)
    if args.doc:
        from scripts.common.docs_blocks import render

        note = (
            f"\n`make right-size` on {host_cpus} cores, {record['seconds']:.0f} s; "
            f"every figure in docs/{args.json.name}.\n"
        )
        doc = args.doc.read_text(encoding="utf-8")
        sections = {"right-size": text + note, "bulk-aws": bulk_table(record["bulk"])}
        args.doc.write_text(render(doc, sections, where=args.doc), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
