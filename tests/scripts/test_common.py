"""scripts/common: the one percentile, the one Lambda price list and the one docs-block writer every table uses."""

from __future__ import annotations

import statistics

import pytest

from scripts.common.docs_blocks import render
from scripts.common.lambda_cost import PRICES, invocation_cost, provisioned_cost
from scripts.common.stats import latency_summary, percentile


def test_percentile_matches_the_standard_librarys_inclusive_quantiles() -> None:
    values = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.3, 5.8, 9.7, 9.3]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    for share in (0.5, 0.9, 0.99):
        assert percentile(values, share) == pytest.approx(cuts[round(share * 100) - 1])
    assert percentile([7.0], 0.99) == 7.0


def test_a_latency_summary_is_ordered_and_empty_without_values() -> None:
    summary = latency_summary([float(value) for value in range(1, 101)])
    assert summary["p50"] <= summary["p90"] <= summary["p99"] <= summary["max"] == 100.0
    assert summary["mean"] == 50.5
    assert latency_summary([]) == {}


def test_an_invocation_is_billed_by_the_started_millisecond_plus_the_request_fee() -> None:
    # 2.1 ms is billed as 3 ms at 1 GB
    expected = 0.003 * PRICES["per_gb_second"]["x86_64"] + PRICES["per_million_requests"] / 1e6
    assert invocation_cost(2.1, 1024) == pytest.approx(expected)
    assert provisioned_cost(2, 512, 3600) == pytest.approx(3600 * PRICES["provisioned_per_gb_second"]["x86_64"])


def test_render_refills_a_named_block_and_refuses_a_missing_one() -> None:
    doc = "intro\n<!-- BEGIN GENERATED: speed -->\nold\n<!-- END GENERATED: speed -->\noutro\n"
    assert render(doc, {"speed": "new"}, where="doc.md") == doc.replace("old", "new")
    with pytest.raises(SystemExit, match=r"doc\.md: no GENERATED block named 'size'"):
        render(doc, {"size": "x"}, where="doc.md")
