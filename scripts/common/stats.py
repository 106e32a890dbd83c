"""Percentiles of measured timings: one definition for every table, so a p99 means the same thing everywhere."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0-1), interpolated linearly between the nearest ranks.

    The definition of numpy's default and of ``statistics.quantiles(method="inclusive")``, and it accepts one
    value. Example: ``percentile([10, 20, 30, 40], 0.5) == 25.0``.
    """
    if not values:
        raise ValueError("no values to take a percentile of")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction {fraction} is outside 0-1")
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(values: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99, max and mean of latencies in milliseconds, rounded to 0.01 ms; empty for no values."""
    if not values:
        return {}
    summary = {f"p{round(share * 100)}": percentile(values, share) for share in (0.50, 0.90, 0.99)}
    summary.update(max=max(values), mean=statistics.fmean(values))
    return {name: round(value, 2) for name, value in summary.items()}
