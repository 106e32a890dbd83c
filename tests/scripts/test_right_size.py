"""The right-sizing benchmark's arithmetic: Lambda's CPU share, billing, the recommendation and oversubscription."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.common.lambda_cost import PRICES, cost_per_million
from scripts.perf.right_size import MEMORY_SIZES, cpus_for, oversubscription, recommend


def test_cpu_share_follows_memory_and_stops_at_the_hosts_cores() -> None:
    assert cpus_for(1769, 2) == pytest.approx(1.0)
    assert cpus_for(512, 2) == pytest.approx(0.289, abs=1e-3)
    assert cpus_for(10240, 2) == 2.0


def test_billing_rounds_up_to_the_millisecond_and_adds_the_request_fee() -> None:
    # 2.1 ms is billed as 3 ms: 1M x 0.003 s x 1 GB x $0.0000166667 = $0.05, plus $0.20 of requests
    cost = cost_per_million(2.1, 1024, "x86_64")
    assert cost["compute"] == pytest.approx(1e6 * 0.003 * PRICES["per_gb_second"]["x86_64"])
    assert cost["total"] == pytest.approx(cost["compute"] + 0.20)
    # a batch of 32 costs one request and one duration for 32 texts
    batch = cost_per_million(32.0, 1024, "arm64", texts=32)
    assert batch["total"] == pytest.approx((1e6 / 32) * (0.032 * PRICES["per_gb_second"]["arm64"]) + 0.20 / 32)


def _row(memory: int, threads: str, p50: float, *, cold: float = 0.8, p99: float = 5.0) -> dict[str, Any]:
    row: dict[str, Any] = {
        "memory_mb": memory,
        "threads": threads,
        "warm_p50_ms": p50,
        "interleaved_p50_ms": p50,
        "warm_p99_ms": p99,
        "cold_s": cold,
    }
    row["cost"] = {"x86_64": cost_per_million(p50, memory, "x86_64")}
    return row


def test_the_recommendation_is_the_cheapest_size_that_is_fast_enough() -> None:
    rows = [
        _row(512, "auto", 9.0, cold=2.5),  # cheapest, but its cold start is too slow
        _row(1024, "auto", 4.0),
        _row(2048, "auto", 2.0),  # the same money as 1024 MB: the faster one wins the tie
        _row(3008, "auto", 1.9),
    ]
    assert recommend(rows) == 2048


def test_oversubscription_compares_the_automatic_choice_with_the_best_fixed_setting() -> None:
    rows = [
        _row(size, threads, p50) for size in MEMORY_SIZES for threads, p50 in (("1", 4.0), ("2", 5.0), ("auto", 4.4))
    ]
    assert list(oversubscription(rows).values()) == pytest.approx([1.1] * len(MEMORY_SIZES))
