"""Where a cold start goes: imports by package, each model-load step, the app's assembly and the first answer.

    python -m scripts.perf.init_breakdown [--launches 7] [--image localhost/emotion-api:image-test]

Each figure is the median over ``--launches`` fresh processes, of two kinds run in turn:

- *stages*: the init's work one thing after another, each step timed on its own: the imports the entry makes
  (``python -X importtime``, self time summed by top-level package), reading the settings, ONNX Runtime's session,
  the tokenizer, the weights' sha256, the trust data and the language model, the app's assembly and the first
  and second answer through Mangum and FastAPI;
- *entry*: the flavor's Lambda entry as deployed, where the model loads on its own thread while the web framework
  is imported: process start until the first answer, the entry's import (init), the load's own duration on its
  thread, the first invoke. The zip flavor's entry (``app.snapstart``) also runs the warm-up SnapStart runs before
  the snapshot.

Locally the image flavor's entry runs in this checkout's virtual environment; with ``--image`` the same children
also run inside the built image (podman, read-only root, the template's memory limit), as Lambda would run it.
Writes docs/cold-start.json and the GENERATED block of docs/cold-start.md, beside the cold starts bench.py measured
side by side (``BENCH_COMMAND``: (a) the naive service the seed deploys, (d) this handler, (e) the code before), as
last measured; with ``--image-before`` the two images' first invokes under the Runtime Interface Emulator, measured
in turn like ``make image-test`` measures one (fresh containers, runtime start, init and answer).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "cold-start.md"
FLAVORS = {"image": "app.handler", "zip": "app.snapstart"}
EVENT = json.loads((ROOT / "events" / "predict.json").read_text(encoding="utf-8"))

#: Runs in a fresh interpreter, locally or inside the image: no import from this checkout but the app's own.
CHILD = r"""
import json, os, sys, time
started_at = time.time()
T = time.perf_counter
mode, entry, event = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])


class Context:
    function_name, function_version, memory_limit_in_mb = "init-breakdown", "$LATEST", 1536
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:init-breakdown"
    aws_request_id, log_group_name, log_stream_name = "init-breakdown", "local", "local"

    def get_remaining_time_in_millis(self):
        return 30000


def timed(marks, name, call):
    begin = T()
    value = call()
    marks[name] = T() - begin
    return value


marks = {}
if mode == "entry":
    import importlib
    module = timed(marks, "init", lambda: importlib.import_module(entry))
    if hasattr(module, "warm_up_before_snapshot"):
        timed(marks, "snapshot_warmup", module.warm_up_before_snapshot)
    response = timed(marks, "first_invoke", lambda: module.handler(event, Context()))
    marks["load_thread"] = module.services.model_state.classifier.load_seconds
else:
    begin = T()
    import numpy, onnxruntime, tokenizers, fasttext
    from apikey import hold_library_loggers
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from app import api, errors, gateway, services, sources
    from app.backends import ModelConfig, onnx_backend, tokenization
    from app.classifier import load_model
    from app.model_source import sha256_of
    from app.observability import Observability
    from app.settings import get_settings
    from app.trust import LanguageCheck, Trust
    if entry == "app.snapstart":
        import snapshot_restore_py
    marks["imports"] = T() - begin
    sys.stderr.write("IMPORTS DONE\n")
    settings = timed(marks, "settings", get_settings)
    observability = timed(marks, "observability", lambda: Observability(settings))
    config = ModelConfig.read(settings.model_path)
    graph = config.folder / "model.int8.onnx"
    options = onnx_backend._session_options(settings.inference_threads())
    timed(marks, "onnx_session", lambda: onnxruntime.InferenceSession(
        str(graph), sess_options=options, providers=["CPUExecutionProvider"]))
    timed(marks, "tokenizer", lambda: tokenization.TextEncoder(
        config.folder, max_position_embeddings=config.max_position_embeddings))
    digest = timed(marks, "weights_sha256", lambda: sha256_of(graph))
    timed(marks, "language_model", lambda: LanguageCheck(threshold=0.8, min_letters=8))
    timed(marks, "trust", lambda: Trust.load(config.folder, weights_file=graph, weights_sha256=digest))
    marks["trust_data"] = marks.pop("trust") - marks["language_model"]
    load_model(settings, observability)
    app = timed(marks, "app_assembly", lambda: api.build_app(settings, observability=observability))
    source = sources.event_sources(app)[-1]
    invocation = sources.Invocation(request_id="init-breakdown", cold_start=True)
    response = timed(marks, "first_answer", lambda: source.handle(dict(event), Context(), invocation))
    timed(marks, "second_answer", lambda: source.handle(dict(event), Context(), invocation))
assert response["statusCode"] == 200, response
print("RESULT " + json.dumps({"started_at": started_at, "answered_at": time.time(), **marks}))
"""

#: Stages in the order the table lists them, with what each one is.
STAGES = {
    "settings": "settings (pydantic-settings reads the environment)",
    "observability": "Powertools Logger, Metrics and Tracer (the X-Ray SDK where tracing is on)",
    "onnx_session": "ONNX Runtime session (graph optimisation included)",
    "tokenizer": "tokenizer (tokenizer.json)",
    "weights_sha256": "sha256 of the weights (trust data and x-model-version)",
    "trust_data": "trust data (trust.json, trust.npz)",
    "language_model": "language identification model (fastText lid.176)",
    "app_assembly": "FastAPI app, routes and middleware, Mangum",
    "first_answer": "first answer (Mangum, FastAPI, the first model run)",
}


def _run_child(command: list[str], mode: str, entry: str, env: dict[str, str]) -> tuple[dict[str, float], str]:
    spawned = time.time()
    result = subprocess.run(
        [*command, "-X", "importtime", "-c", CHILD, mode, entry, json.dumps(EVENT)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=300,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"{mode} child of {entry} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    marks: dict[str, float] = json.loads(lines[-1].removeprefix("RESULT "))
    marks["python_startup"] = marks.pop("started_at") - spawned
    marks["process_to_answer"] = marks.pop("answered_at") - spawned
    return marks, result.stderr


def _package(module: str) -> str:
    top = module.split(".")[0]
    if top in {"app", "apikey"}:
        return "this service (app, apikey)"
    if top in sys.stdlib_module_names or top.startswith("_") or top == "encodings":
        return "standard library"
    return top


def imports_by_package(stderr: str) -> dict[str, float]:
    """Self time of each import before the marker, in seconds, summed by top-level package."""
    totals: dict[str, float] = defaultdict(float)
    for line in stderr.split("IMPORTS DONE")[0].splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            totals[_package(match.group(2))] += int(match.group(1)) / 1e6
    return dict(totals)


def measure(command: list[str], flavor: str, launches: int, env: dict[str, str]) -> dict[str, Any]:
    """Medians over ``launches`` stage and entry children of one flavor, run in turn."""
    entry = FLAVORS[flavor]
    stages: list[dict[str, float]] = []
    entries: list[dict[str, float]] = []
    packages: list[dict[str, float]] = []
    for _ in range(launches):
        marks, stderr = _run_child(command, "stages", entry, env)
        stages.append(marks)
        packages.append(imports_by_package(stderr))
        entries.append(_run_child(command, "entry", entry, env)[0])

    def median(rows: list[dict[str, float]]) -> dict[str, float]:
        keys = {key for row in rows for key in row}
        return {key: statistics.median(row.get(key, 0.0) for row in rows) for key in sorted(keys)}

    return {"entry_module": entry, "stages": median(stages), "imports": median(packages), "entry": median(entries)}


def image_command(tag: str) -> tuple[list[str], dict[str, str]]:
    """``python`` inside the image, run as Lambda runs it (read-only root, writable /tmp, the template's memory),
    and the environment that points podman at this project's storage."""
    from scripts.perf.lambda_image import function_config, setup_podman

    podman, config = setup_podman(), function_config()
    environment = [f"--env={name}={value}" for name, value in config.environment.items()]
    tmp = "/tmp:rw,size=512m"  # noqa: S108  # nosec B108: the container's own /tmp, writable as in Lambda
    command = [podman.binary, "run", "--rm", "--read-only", "--tmpfs", tmp, "--memory", f"{config.memory_mb}m",
               *environment, "--entrypoint", "/var/lang/bin/python", tag]  # fmt: skip
    return command, podman.env


def _shown(path: Path) -> str:
    return str(path.resolve().relative_to(ROOT)) if path.resolve().is_relative_to(ROOT) else str(path)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def table(runs: dict[str, dict[str, Any]]) -> str:
    """One column per measured flavor: stages one after another, then the entry as deployed."""
    names = list(runs)
    lines = ["| ms (median) | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]

    def row(title: str, values: list[float]) -> None:
        lines.append(f"| {title} | " + " | ".join(_ms(value) for value in values) + " |")

    row("python startup (interpreter, site)", [runs[n]["stages"]["python_startup"] for n in names])
    row("**imports**, one after another", [runs[n]["stages"]["imports"] for n in names])
    packages: dict[str, float] = defaultdict(float)
    for name in names:
        for package, seconds in runs[name]["imports"].items():
            packages[package] = max(packages[package], seconds)
    shown = sorted((p for p, s in packages.items() if s >= 0.005), key=lambda p: -packages[p])
    for package in shown:
        row(f"&nbsp;&nbsp;{package}", [runs[n]["imports"].get(package, 0.0) for n in names])
    row("&nbsp;&nbsp;other packages (under 5 ms each)",
        [sum(s for p, s in runs[n]["imports"].items() if p not in shown) for n in names])  # fmt: skip
    for key, title in STAGES.items():
        row(title, [runs[n]["stages"][key] for n in names])
    row("second answer (warm, for comparison)", [runs[n]["stages"]["second_answer"] for n in names])
    row("**all of it, one after another** (process start to first answer)",
        [runs[n]["stages"]["process_to_answer"] for n in names])  # fmt: skip
    lines.append("| *as deployed: the model loads on its own thread during the framework's imports* |"
                 + " |" * len(names))  # fmt: skip
    row("python startup", [runs[n]["entry"]["python_startup"] for n in names])
    row("init: the entry's import, model loaded", [runs[n]["entry"]["init"] for n in names])
    row("&nbsp;&nbsp;of which the load on its thread", [runs[n]["entry"]["load_thread"] for n in names])
    if any("snapshot_warmup" in runs[n]["entry"] for n in names):
        row("SnapStart's before-snapshot warm-up (zip)", [runs[n]["entry"].get("snapshot_warmup", 0.0) for n in names])
    row("first invoke", [runs[n]["entry"]["first_invoke"] for n in names])
    row("**process start to first answer, as deployed**", [runs[n]["entry"]["process_to_answer"] for n in names])
    return "\n".join(lines)


def first_invokes(images: dict[str, str], launches: int) -> dict[str, list[float]]:
    """Each image's first invoke under the Runtime Interface Emulator (runtime start, init, answer), as make
    image-test times it: fresh containers, the images in turn, so a slow spell of the machine hits each alike."""
    from scripts.perf.lambda_image import Container, function_config, setup_podman

    podman, config = setup_podman(), function_config()
    seconds: dict[str, list[float]] = {name: [] for name in images}
    for _ in range(launches):
        for name, tag in images.items():
            with Container(podman, tag, config) as fresh:
                first = fresh.invoke(EVENT)
                if not isinstance(first.payload, dict) or first.payload.get("statusCode") != 200:
                    raise SystemExit(f"{tag} did not answer the first invoke: {first.payload}")
                seconds[name].append(first.seconds)
    return seconds


def invokes_line(seconds: dict[str, list[float]]) -> str:
    """The side-by-side first invokes as one line of the page."""
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    shown = ", ".join(f"{name} {median:.2f} s" for name, median in medians.items())
    count = len(next(iter(seconds.values())))
    ratio = ""
    if len(medians) == 2:
        before, after = medians.values()
        ratio = f": {before / after:.2f}x"
    return (
        f"- The image's first invoke under the Runtime Interface Emulator (runtime start, init, answer; fresh "
        f"containers, the images in turn, median of {count} each): {shown}{ratio}."
    )


#: The cold-start comparison `make cold-start` reports beside the breakdown, written by this bench.py command.
BENCH_COMMAND = (
    "python -m scripts.perf.bench --variants naive onnx --baseline-code <checkout of main> --rounds 3 "
    "--launches {launches} --json docs/bench-cold-start.json"
)


def references(bench_json: Path) -> str:
    """The last bench.py cold starts: the seed-class naive service, this handler, the code before."""
    lines = []
    if bench_json.is_file():
        results = json.loads(bench_json.read_text(encoding="utf-8"))["results"]
        naive, onnx = results["naive"], results["onnx"]
        command = BENCH_COMMAND.format(launches=len(onnx["cold_starts_s"]))
        lines.append(
            f"- `{command}` ({_shown(bench_json)}): cold start, process start to first prediction, median of "
            f"{len(onnx['cold_starts_s'])} launches interleaved in one run: (a) the naive transformers service "
            f"{naive['cold_start_s']:.2f} s, (d) this handler {onnx['cold_start_s']:.2f} s: "
            f"**{naive['cold_start_s'] / onnx['cold_start_s']:.1f}x**."
        )
        if "baseline" in results:
            before = results["baseline"]
            lines.append(
                f"  The code before this change, (e), in the same run: cold start {before['cold_start_s']:.2f} s "
                f"({naive['cold_start_s'] / before['cold_start_s']:.1f}x); warm p50 / p99 of a short sentence "
                f"{before['short_p50_ms']:.2f} / {before['short_p99_ms']:.2f} ms against (d)'s "
                f"{onnx['short_p50_ms']:.2f} / {onnx['short_p99_ms']:.2f} ms."
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=7, help="fresh processes per kind and flavor (medians)")
    parser.add_argument("--image", help="also run the image flavor inside this built image (podman)")
    parser.add_argument(
        "--image-before", help="with --image: time the first invoke of this image (the code before) beside it"
    )
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "cold-start.json")
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--bench-json", type=Path, default=ROOT / "docs" / "bench-cold-start.json")
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "POWERTOOLS_METRICS_NAMESPACE": "InitBreakdown"}
    runs: dict[str, dict[str, Any]] = {}
    for flavor in FLAVORS:
        runs[f"{flavor} (local)"] = measure([sys.executable], flavor, args.launches, env)
        print(f"{flavor} (local) measured", file=sys.stderr)
    invokes: dict[str, list[float]] = {}
    if args.image:
        command, podman_env = image_command(args.image)
        runs["image (in the image)"] = measure(command, "image", args.launches, {**podman_env, **env})
        images = {"before": args.image_before, "after": args.image} if args.image_before else {"image": args.image}
        invokes = first_invokes(images, args.launches)
    machine = {"affinity": len(os.sched_getaffinity(0)), "python": sys.version.split()[0],
               "load_average": [round(load, 2) for load in os.getloadavg()]}  # fmt: skip
    record = {"machine": machine, "launches": args.launches, "runs": runs, "first_invokes": invokes}
    args.json.write_text(json.dumps(record, indent=2) + "\n")
    from scripts.common.docs_blocks import render

    command = " ".join(["python -m scripts.perf.init_breakdown", *(argv if argv is not None else sys.argv[1:])])
    block = (
        table(runs)
        + f"\n\n`{command}` (`make cold-start`) on {machine['affinity']} cores, load average "
        + f"{machine['load_average'][0]} at the end; medians of {args.launches} fresh processes per row "
        + f"({_shown(args.json)}).\n\n"
        + references(args.bench_json)
        + (f"\n{invokes_line(invokes)}" if invokes else "")
    )
    args.doc.write_text(render(args.doc.read_text(encoding="utf-8"), {"init-breakdown": block}, where=args.doc))
    print(block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
