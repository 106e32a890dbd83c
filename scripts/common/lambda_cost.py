"""AWS Lambda's prices and what an invocation costs: the one copy the right-sizing, benchmark and deploy-cost
tables read, so a price changes in one place."""

from __future__ import annotations

import math

#: us-east-1, first pricing tier, as published on aws.amazon.com/lambda/pricing (unchanged since the 1 ms
#: billing of December 2020 and arm64's launch in September 2021); checked 2026-11-27. Provisioned concurrency
#: is billed per GB-second it is configured, on top of the duration of the requests it serves.
PER_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
PER_MILLION_REQUESTS = 0.20
PROVISIONED_PER_GB_SECOND = {"x86_64": 0.0000041667, "arm64": 0.0000033334}
#: The same prices as one record, written beside the figures computed from them (docs/right-size.json).
PRICES: dict[str, object] = {
    "date": "2026-11-27",
    "region": "us-east-1",
    "per_gb_second": PER_GB_SECOND,
    "per_million_requests": PER_MILLION_REQUESTS,
    "provisioned_per_gb_second": PROVISIONED_PER_GB_SECOND,
}
#: Memory that buys one full vCPU (AWS Lambda documentation): CPU is given in proportion to memory.
FULL_VCPU_MB = 1769


def billed_seconds(duration_ms: float) -> float:
    """Lambda bills duration in whole milliseconds, rounded up (at least 1 ms)."""
    return max(1, math.ceil(duration_ms)) / 1000


def invocation_cost(duration_ms: float, memory_mb: int, arch: str = "x86_64") -> float:
    """Dollars for one invocation: its billed duration x GB x the GB-second price, plus the request fee."""
    compute = billed_seconds(duration_ms) * memory_mb / 1024 * PER_GB_SECOND[arch]
    return compute + PER_MILLION_REQUESTS / 1e6


def cost_per_million(duration_ms: float, memory_mb: int, arch: str, *, texts: int = 1) -> dict[str, float]:
    """Dollars per million texts at ``texts`` a call: the compute part and the total with the request fees."""
    calls = 1e6 / texts
    compute = calls * billed_seconds(duration_ms) * memory_mb / 1024 * PER_GB_SECOND[arch]
    return {"compute": compute, "total": compute + calls * PER_MILLION_REQUESTS / 1e6}


def provisioned_cost(instances: int, memory_mb: int, seconds: float, arch: str = "x86_64") -> float:
    """Dollars for keeping ``instances`` environments of ``memory_mb`` initialised for ``seconds``."""
    return instances * memory_mb / 1024 * seconds * PROVISIONED_PER_GB_SECOND[arch]


def dollars(value: float) -> str:
    """A price as written on AWS's pricing pages: every digit, no exponent."""
    return "$" + f"{value:.10f}".rstrip("0").rstrip(".")
