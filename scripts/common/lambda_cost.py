"""AWS Lambda's prices and what an invocation costs: the one copy the right-sizing, benchmark and deploy-cost
tables read, so a price changes in one place."""

from __future__ import annotations

import math

#: us-east-1, first pricing tier, as published on aws.amazon.com/lambda/pricing (unchanged since the 1 ms
#: billing of December 2020 and arm64's launch in September 2021); checked 2026-11-27. Provisioned concurrency
#: is billed per GB-second it is configured, on top of the duration of the requests it serves.
PRICES = {
    "date": "2026-11-27",
    "region": "us-east-1",
    "per_gb_second": {"x86_64": 0.0000166667, "arm64": 0.0000133334},
    "per_million_requests": 0.20,
    "provisioned_per_gb_second": {"x86_64": 0.0000041667, "arm64": 0.0000033334},
}
#: Memory that buys one full vCPU (AWS Lambda documentation): CPU is given in proportion to memory.
FULL_VCPU_MB = 1769


def billed_seconds(duration_ms: float) -> float:
    """Lambda bills duration in whole milliseconds, rounded up (at least 1 ms)."""
    return max(1, math.ceil(duration_ms)) / 1000


def invocation_cost(duration_ms: float, memory_mb: int, arch: str = "x86_64") -> float:
    """Dollars for one invocation: its billed duration x GB x the GB-second price, plus the request fee."""
    compute = billed_seconds(duration_ms) * memory_mb / 1024 * PRICES["per_gb_second"][arch]
    return compute + PRICES["per_million_requests"] / 1e6


def cost_per_million(duration_ms: float, memory_mb: int, arch: str, *, texts: int = 1) -> dict[str, float]:
    """Dollars per million texts at ``texts`` a call: the compute part and the total with the request fees."""
    calls = 1e6 / texts
    compute = calls * billed_seconds(duration_ms) * memory_mb / 1024 * PRICES["per_gb_second"][arch]
    return {"compute": compute, "total": compute + calls * PRICES["per_million_requests"] / 1e6}


def provisioned_cost(instances: int, memory_mb: int, seconds: float, arch: str = "x86_64") -> float:
    """Dollars for keeping ``instances`` environments of ``memory_mb`` initialised for ``seconds``."""
    return instances * memory_mb / 1024 * seconds * PRICES["provisioned_per_gb_second"][arch]


def dollars(value: float) -> str:
    """A price as written on AWS's pricing pages: every digit, no exponent."""
    return "$" + f"{value:.10f}".rstrip("0").rstrip(".")
