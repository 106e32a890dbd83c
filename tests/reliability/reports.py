"""Collects what the reliability tests tried and measured into artifacts/reliability/*.json.

``scripts/perf/reliability_report.py`` turns those files into the tables of docs/reliability.md, so the figures in
the document come from test runs rather than from hand.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ARTIFACTS = Path(os.environ.get("RELIABILITY_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts/reliability"))
_results: dict[str, dict[str, dict[str, Any]]] = {}


def record(section: str, name: str, **figures: Any) -> None:
    """Remember one row (``name``) of a section (``fuzz``, ``corpus``, ``faults``, ``load``) and write it out."""
    _results.setdefault(section, {})[name] = figures
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{section}.json"
    existing: dict[str, Any] = {}
    if path.is_file():
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            existing = {}
    existing.update(_results[section])
    path.write_text(json.dumps(existing, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
