"""Load and soak test: the app served by uvicorn on loopback, hammered by concurrent clients; stops by itself.

    python -m scripts.perf.loadtest [--requests 30000] [--max-seconds 600] [--users 8] [--model-dir DIR]

Starts ``uvicorn app.api:build_app`` in a subprocess (MODEL_PATH=--model-dir, default the bundled model), warms it
up, then runs ``--users`` client threads, each on its own keep-alive connection, mixing single and batch
predictions (``--batch-share`` of requests are batches of 2 to ``--max-batch`` texts, in several scripts), until
``--requests`` are done or ``--max-seconds`` pass, whichever is first. While it runs it samples the server's
resident memory (RSS) every ``--rss-every`` requests. The warm-up is concurrent too, so the server's worker
threads and their allocator arenas exist before the memory baseline is taken.

Pass/fail: zero errors (any non-200, bad body or connection error); every answer equal to the answer the same
request got before the load (the shared model gives the same result under concurrency); RSS growth (the median of
the last third of the samples minus that of the first third) under ``--rss-growth-mb``. Prints p50/p90/p99
latency and writes everything to ``--output`` (default artifacts/load/loadtest.json). Exit status 0 only when every
check passed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from scripts.common.stats import latency_summary

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_DIR = ROOT / "functions" / "inference"
TEXTS = [
    "I am feeling very happy today!",
    "This traffic makes me furious.",
    "I miss you so much, it hurts.",
    "That was completely unexpected!",
    "I'm scared of what the doctor will say.",
    "I love spending evenings with you.",
    "我今天很开心",
    "أنا حزين جدا",
    "😱😱 what was that noise",
    "ok",
    "The meeting moved to Thursday. " * 40,  # long text: truncated by the model
]


@dataclass
class Outcome:
    """What the clients saw; appended to under a lock."""

    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: {"single": [], "batch": []})
    errors: list[str] = field(default_factory=list)
    mismatches: int = 0
    done: int = 0
    rss_mb: list[tuple[int, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _payloads(rng: random.Random, count: int, batch_share: float, max_batch: int) -> list[tuple[str, str, bytes]]:
    """A fixed pool of requests; each will be sent many times, so its answer can be checked against the first."""
    pool = []
    for index in range(count):
        if rng.random() < batch_share:
            texts = [rng.choice(TEXTS) for _ in range(rng.randint(2, max_batch))]
            pool.append(("batch", "/predict/batch", json.dumps({"texts": texts}).encode()))
        else:
            text = f"{rng.choice(TEXTS)} #{index}"
            pool.append(("single", "/predict", json.dumps({"text": text}).encode()))
    return pool


def _same(a: Any, b: Any, tolerance: float = 1e-5) -> bool:
    """Equal answers: same labels, probabilities within float noise."""
    first, second = a.get("predictions", [a]), b.get("predictions", [b])
    return len(first) == len(second) and all(
        x["all_emotions"].keys() == y["all_emotions"].keys()
        and all(abs(x["all_emotions"][k] - y["all_emotions"][k]) <= tolerance for k in x["all_emotions"])
        for x, y in zip(first, second, strict=True)
    )


HEADERS = {"content-type": "application/json"}


def _reference_answers(base_url: str, pool: list[tuple[str, str, bytes]]) -> list[Any]:
    """Each pooled request's answer, sent one at a time: what every later answer must equal."""
    expected: list[Any] = []
    with httpx.Client(base_url=base_url, headers=HEADERS, timeout=60) as client:
        for _, path, body in pool:
            response = client.post(path, content=body)
            response.raise_for_status()
            expected.append(response.json())
    return expected


def _in_threads(target: Any, users: int, name: str) -> None:
    """Run ``target(i)`` in ``users`` threads at once and wait for all of them."""
    threads = [threading.Thread(target=target, args=(i,), name=f"{name}-{i}") for i in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@dataclass
class _Load:
    """One load run's shared state: the request pool and its answers, what was seen, when to stop."""

    base_url: str
    pool: list[tuple[str, str, bytes]]
    expected: list[Any]
    stop_at: float
    requests: int
    seed: int
    rss: Any = None
    rss_every: int = 1000
    outcome: Outcome = field(default_factory=Outcome)
    _sent: int = 0

    def next_index(self) -> int | None:
        with self.outcome.lock:
            if self._sent >= self.requests:
                return None
            self._sent += 1
            return self._sent - 1

    def user(self, user_index: int) -> None:
        """One client sending pooled requests until the count or the time runs out."""
        local = random.Random(self.seed * 1000 + user_index)  # noqa: S311 - request mix, not security
        with httpx.Client(base_url=self.base_url, headers=HEADERS, timeout=60) as client:
            while time.perf_counter() < self.stop_at and (index := self.next_index()) is not None:
                choice = local.randrange(len(self.pool))
                kind, path, body = self.pool[choice]
                sent = time.perf_counter()
                try:
                    response = client.post(path, content=body)
                    elapsed = (time.perf_counter() - sent) * 1000
                    ok = response.status_code == 200
                    same = ok and _same(response.json(), self.expected[choice])
                    problem = None if ok else f"{response.status_code} {response.text[:200]}"
                except (httpx.HTTPError, ValueError) as exc:
                    elapsed, same, problem = (time.perf_counter() - sent) * 1000, False, repr(exc)
                self.record(index, kind, elapsed, same=same, problem=problem)

    def record(self, index: int, kind: str, elapsed: float, *, same: bool, problem: str | None) -> None:
        outcome = self.outcome
        with outcome.lock:
            outcome.done += 1
            outcome.latencies_ms[kind].append(elapsed)
            if problem:
                outcome.errors.append(problem)
            elif not same:
                outcome.mismatches += 1
            if self.rss and index and index % self.rss_every == 0:
                outcome.rss_mb.append((index, self.rss()))


def run_load(
    base_url: str,
    *,
    requests: int,
    max_seconds: float,
    users: int,
    batch_share: float = 0.3,
    max_batch: int = 8,
    warmup: int = 200,
    pool_size: int = 64,
    rss: Any = None,
    rss_every: int = 1000,
    seed: int = 7,
) -> dict[str, Any]:
    """Run the load against ``base_url``; ``rss`` is a callable giving the server's RSS in MB (or None)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible request mix, not security
    pool = _payloads(rng, pool_size, batch_share, max_batch)
    expected = _reference_answers(base_url, pool)

    def warm(worker: int) -> None:
        """Concurrent, like the run: the server's threads and their allocator arenas exist before the baseline."""
        with httpx.Client(base_url=base_url, headers=HEADERS, timeout=60) as client:
            for index in range(worker, warmup, users):
                _, path, body = pool[index % len(pool)]
                client.post(path, content=body).raise_for_status()

    _in_threads(warm, users, "warm")
    rss_start = rss() if rss else None
    started = time.perf_counter()
    load = _Load(base_url, pool, expected, started + max_seconds, requests, seed, rss=rss, rss_every=rss_every)
    if rss_start is not None:
        load.outcome.rss_mb.append((0, rss_start))
    _in_threads(load.user, users, "user")
    seconds = time.perf_counter() - started
    rss_end = rss() if rss else None
    if rss_end is not None:
        load.outcome.rss_mb.append((load.outcome.done, rss_end))
    return _summary(load.outcome, seconds, users=users, warmup=warmup, rss_start=rss_start, rss_end=rss_end)


def _summary(outcome: Outcome, seconds: float, **extra: Any) -> dict[str, Any]:
    every = outcome.latencies_ms["single"] + outcome.latencies_ms["batch"]
    return {
        "requests": outcome.done,
        "single": len(outcome.latencies_ms["single"]),
        "batch": len(outcome.latencies_ms["batch"]),
        "errors": len(outcome.errors),
        "error_samples": outcome.errors[:5],
        "mismatched_answers": outcome.mismatches,
        "seconds": round(seconds, 1),
        "requests_per_second": round(outcome.done / seconds, 1) if seconds else 0.0,
        "latency_ms": latency_summary(every),
        "latency_ms_single": latency_summary(outcome.latencies_ms["single"]),
        "latency_ms_batch": latency_summary(outcome.latencies_ms["batch"]),
        "rss_mb_series": [[index, round(mb, 1)] for index, mb in outcome.rss_mb],
        **extra,
    }


def verdict(result: dict[str, Any], *, min_requests: int, rss_growth_mb: float) -> list[str]:
    """The failed checks (empty when all passed)."""
    failures = []
    if result["requests"] < min_requests:
        failures.append(f"only {result['requests']} requests ran (wanted {min_requests})")
    if result["errors"]:
        failures.append(f"{result['errors']} errors, e.g. {result['error_samples'][:2]}")
    if result["mismatched_answers"]:
        failures.append(f"{result['mismatched_answers']} answers differed from the same request's reference answer")
    if result.get("rss_start") is not None and result.get("rss_end") is not None:
        growth = rss_growth(result)
        result["rss_growth_mb"] = round(growth, 1)
        if growth > rss_growth_mb:
            failures.append(f"RSS grew {growth:.1f} MB (limit {rss_growth_mb} MB)")
    return failures


def rss_growth(result: dict[str, Any]) -> float:
    """Memory growth over the run: the median of the last third of the samples minus that of the first third.

    RSS moves up and down by tens of MB as the allocator serves tensors of different shapes; medians of thirds
    see a trend (a leak) through that noise, where end minus start would see the noise. With fewer than six
    samples: end minus start.
    """
    samples = [mb for _, mb in result.get("rss_mb_series", [])[1:]]
    if len(samples) < 6:
        return float(result["rss_end"] - result["rss_start"])
    third = len(samples) // 3
    return statistics.median(samples[-third:]) - statistics.median(samples[:third])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(model_dir: Path | None, port: int, env_extra: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, **env_extra}
    if model_dir is not None:
        env["MODEL_PATH"] = str(model_dir)
    command = [
        sys.executable, "-m", "uvicorn", "--app-dir", str(FUNCTION_DIR), "--factory", "app.api:build_app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_healthy(base_url: str, server: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited: {server.stderr.read().decode()[-2000:] if server.stderr else ''}")
        try:
            response = httpx.get(f"{base_url}/health", timeout=2)
            if response.status_code == 200:
                return
            raise RuntimeError(f"/health answered {response.status_code}: {response.text}")
        except httpx.TransportError:
            time.sleep(0.25)
    raise RuntimeError("the server did not start in time")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30_000, help="stop after this many requests")
    parser.add_argument("--max-seconds", type=float, default=600, help="stop after this long, whatever the count")
    parser.add_argument("--min-requests", type=int, default=20_000, help="fail when fewer requests ran")
    parser.add_argument("--users", type=int, default=8, help="concurrent clients")
    parser.add_argument("--batch-share", type=float, default=0.3, help="share of requests that are batches")
    parser.add_argument("--max-batch", type=int, default=8, help="largest batch sent")
    parser.add_argument("--warmup", type=int, default=300, help="requests before the RSS baseline is taken")
    parser.add_argument("--rss-every", type=int, default=1000, help="sample the server's RSS every N requests")
    parser.add_argument("--rss-growth-mb", type=float, default=50.0, help="most RSS growth accepted after warm-up")
    parser.add_argument("--model-dir", type=Path, default=None, help="MODEL_PATH for the server (default: bundled)")
    parser.add_argument("--backend", default=None, help="MODEL_BACKEND for the server (default: the app's)")
    parser.add_argument("--output", type=Path, default=ROOT / "artifacts" / "load" / "loadtest.json")
    return parser


def _load_a_server(args: argparse.Namespace) -> dict[str, Any]:
    """Start uvicorn on a free port, run the load against it, stop it; the result names the model served."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {"LOG_LEVEL": "WARNING", "POWERTOOLS_TRACE_DISABLED": "true"}
    if args.backend:
        env["MODEL_BACKEND"] = args.backend
    server = _serve(args.model_dir, port, env)
    try:
        _wait_healthy(base_url, server, timeout=180)
        process = psutil.Process(server.pid)
        health = httpx.get(f"{base_url}/health", timeout=5).json()
        result = run_load(
            base_url,
            requests=args.requests,
            max_seconds=args.max_seconds,
            users=args.users,
            batch_share=args.batch_share,
            max_batch=args.max_batch,
            warmup=args.warmup,
            rss=lambda: process.memory_info().rss / 2**20,
            rss_every=args.rss_every,
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    result["model"] = health.get("model")
    return result


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    result = _load_a_server(args)
    result["cpus"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    failures = verdict(result, min_requests=args.min_requests, rss_growth_mb=args.rss_growth_mb)
    result["failures"] = failures
    result["passed"] = not failures
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    latency = result["latency_ms"]
    print(
        f"{result['requests']} requests ({result['single']} single, {result['batch']} batch) by {args.users} users "
        f"in {result['seconds']} s ({result['requests_per_second']}/s); errors {result['errors']}, "
        f"mismatched answers {result['mismatched_answers']}\n"
        f"latency ms: p50 {latency.get('p50')} p90 {latency.get('p90')} p99 {latency.get('p99')} "
        f"max {latency.get('max')}\n"
        f"server RSS MB: after warm-up {result['rss_start']:.1f}, end {result['rss_end']:.1f}, "
        f"growth (median of the last third of samples minus the first third) {result.get('rss_growth_mb')}\n"
        f"{'PASSED' if not failures else 'FAILED: ' + '; '.join(failures)} -> {args.output}"
    )
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
