"""The benchmark's arithmetic: ratios to the naive baseline, interleaved rounds, medians, Lambda cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scripts.perf import bench

FIGURES = {
    "cold_start_s": 4.0,
    "short_p50_ms": 8.0,
    "short_p99_ms": 10.0,
    "long_p50_ms": 12.0,
    "long_p99_ms": 15.0,
    "batch32_texts_per_s": 500.0,
    "peak_rss_mb": 500.0,
    "dependency_mb": 1200.0,
}


def test_ratios_read_as_times_better_than_naive() -> None:
    results = {variant: dict(FIGURES) for variant in ("naive", "pipeline", "torch", "onnx")}
    results["onnx"] |= {"short_p50_ms": 2.0, "batch32_texts_per_s": 1000.0}
    rows = {line.split(" | ")[0].strip("| "): line for line in bench.table(results).splitlines()}
    assert rows["warm p50 short (ms)"].endswith("| 2.0 (4.0x) |")  # lower latency: naive / ours
    assert rows["batch-32 (texts/s)"].endswith("| 1,000.0 (2.0x) |")  # higher throughput: ours / naive


def test_variants_run_interleaved_and_figures_are_medians(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    p50s = iter([9.0, 1.0, 5.0] * len(bench.VARIANTS))

    def fake_child(variant: str, model_dir: Path, mode: str, iterations: int) -> tuple[float, dict[str, Any]]:
        calls.append((variant, mode))
        return 1.0, {"first_prediction_at": 0.0, **FIGURES, "short_p50_ms": next(p50s) if mode == "warm" else 0.0}

    monkeypatch.setattr(bench, "_run_child", fake_child)
    variants = list(bench.VARIANTS)
    results = bench.measure(dict.fromkeys(variants, Path("model")), launches=2, iterations=1, rounds=3)
    warm_order = [(v, "warm") for _ in range(3) for v in variants]
    assert calls == warm_order + [(v, "cold") for _ in range(2) for v in variants]
    # each variant saw 9, 1 and 5 ms in some order: the slow and the fast round both drop out
    assert [results[v]["short_p50_ms"] for v in variants] == [5.0] * len(variants)
    assert [len(results[v]["warm_rounds"]) for v in variants] == [3] * len(variants)


def test_a_baseline_model_runs_as_its_own_interleaved_variant(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the ONNX variant on a new model and the baseline variant on the previous one
    seen: list[tuple[str, Path]] = []

    def fake_child(variant: str, model_dir: Path, mode: str, iterations: int) -> tuple[float, dict[str, Any]]:
        seen.append((variant, model_dir))
        return 1.0, {"first_prediction_at": 0.0, **FIGURES}

    monkeypatch.setattr(bench, "_run_child", fake_child)
    results = bench.measure({"onnx": Path("new"), "baseline": Path("old")}, launches=1, iterations=1, rounds=2)
    # THEN each runs on its own folder, in turn, and the table has no ratio to a naive run that did not happen
    assert seen == [("onnx", Path("new")), ("baseline", Path("old"))] * 3
    assert "x)" not in bench.table(results)


def test_cost_is_billed_per_started_millisecond_and_scaled_to_lambda_cpu() -> None:
    results = {variant: dict(FIGURES) for variant in bench.VARIANTS} | {"onnx": {**FIGURES, "short_p50_ms": 2.2}}
    rows = [line for line in bench.cost_table(results, measured_cpus=2).splitlines() if "onnx" in line]
    by_memory = {row.split(" | ")[1]: row for row in rows}
    # 1,024 MB is 0.58 of a vCPU: 2.2 ms on 2 cores takes 7.6 ms there, billed as 8 ms.
    assert "| 7.6 | 8,000 |" in by_memory["1024"]
