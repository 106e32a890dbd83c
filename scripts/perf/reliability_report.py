"""Regenerate the tables of docs/reliability.md from the reliability test runs.

    python -m scripts.perf.reliability_report [--artifacts artifacts/reliability] [--load artifacts/load]

tests/reliability writes one JSON file per section (fuzz, corpus, faults, security, load) into the artifacts
folder; a test writes its row only after its assertions passed. ``make load`` writes each long load run's
summary into artifacts/load/. This script replaces the text between ``<!-- BEGIN GENERATED: name -->`` and
``<!-- END GENERATED: name -->`` in the document and leaves the prose around it alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scripts.common.docs_blocks import render

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _stamp(path: Path) -> str:
    if not path.is_file():
        return "not run yet"
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")


def fuzz_section(artifacts: Path) -> str:
    rows = _load(artifacts / "fuzz.json")
    if not rows:
        return "_No fuzz results yet: run `make reliability` or `make fuzz`._"
    body = [
        [name, figures["examples"], ", ".join(f"{code}: {n}" for code, n in figures["statuses"].items()),
         "none" if not any(int(code) >= 500 for code in figures["statuses"]) else "**yes**", figures["seconds"]]
        for name, figures in sorted(rows.items())
    ]  # fmt: skip
    total = sum(figures["examples"] for figures in rows.values())
    return (
        f"{total} generated requests through the Lambda handler ({_stamp(artifacts / 'fuzz.json')}); "
        "every one passed the checks.\n\n"
        + _table(["operation (mode)", "examples", "status codes seen", "5xx", "seconds"], body)
    )


def corpus_section(artifacts: Path) -> str:
    rows = _load(artifacts / "corpus.json")
    if not rows:
        return "_No corpus results yet: run `make reliability`._"
    by_category: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for name, figures in rows.items():
        by_category[figures["category"]].append((name, figures))
    summary = [
        [category, len(items), ", ".join(sorted({figures["observed"] for _, figures in items})),
         sum(figures["next_good_request"] == 200 for _, figures in items)]
        for category, items in sorted(by_category.items())
    ]  # fmt: skip
    detail = [
        [f"`{name}`" + (" (generated)" if figures["generated"] else ""), figures["what"], figures["expected"],
         figures["observed"], figures["next_good_request"]]
        for category, items in sorted(by_category.items())
        for name, figures in sorted(items)
    ]  # fmt: skip
    return (
        f"{len(rows)} hostile requests ({_stamp(artifacts / 'corpus.json')}); each got the documented answer and "
        "the next good request in the same environment got 200.\n\n"
        + _table(["category", "events", "answers", "next good request 200"], summary)
        + "\n\n<details><summary>Every event</summary>\n\n"
        + _table(["event", "what", "expected", "observed", "next request"], detail)
        + "\n\n</details>"
    )


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return "(" + ", ".join(f"{key}: {item}" for key, item in value.items()) + ")"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def _figures(figures: dict[str, Any], skip: tuple[str, ...] = ("result",)) -> str:
    return "; ".join(
        f"{key.replace('_', ' ')} {_value(value)}" for key, value in sorted(figures.items()) if key not in skip
    )


def faults_section(artifacts: Path) -> str:
    rows = _load(artifacts / "faults.json")
    if not rows:
        return "_No fault results yet: run `make reliability`._"
    body = [[name, figures["result"], _figures(figures)] for name, figures in sorted(rows.items())]
    return f"{len(rows)} faults injected ({_stamp(artifacts / 'faults.json')}).\n\n" + _table(
        ["fault", "answer", "figures"], body
    )


def security_section(artifacts: Path) -> str:
    rows = _load(artifacts / "security.json")
    if not rows:
        return "_No security results yet: run `make reliability`._"
    body = [[name, _figures(figures, skip=())] for name, figures in sorted(rows.items())]
    return _table(["check", "what was tried and seen"], body)


def load_section(artifacts: Path, long_runs: Path) -> str:
    rows = []
    for name, figures in sorted(_load(artifacts / "load.json").items()):
        rows.append(
            [name, figures["requests"], figures["users"], "-", figures["requests_per_second"], figures["errors"],
             figures["mismatched_answers"], figures["p50_ms"], "-", figures["p99_ms"],
             f"{figures['rss_start_mb']} → {figures['rss_end_mb']}", "passed"]
        )  # fmt: skip
    runs = sorted(long_runs.glob("*.json")) if long_runs.is_dir() else []
    for path in runs:
        run = _load(path)
        if not run:
            continue
        model = run.get("model") or {}
        latency = run["latency_ms"]
        rows.append(
            [f"`{path.name}` ({model.get('name', '?')}, {model.get('backend', '?')}, {run.get('cpus')} CPUs, "
             f"{_stamp(path)})",
             run["requests"], run.get("users", "?"), run["seconds"], run["requests_per_second"], run["errors"],
             run["mismatched_answers"], latency["p50"], latency["p90"], latency["p99"],
             f"{run['rss_start']:.1f} → {run['rss_end']:.1f} ({run.get('rss_growth_mb')} MB)",
             "passed" if run.get("passed") else "**failed**: " + "; ".join(run.get("failures", []))]
        )  # fmt: skip
    if not rows:
        return "_No load results yet: run `make reliability` and `make load`._"
    header = ["run", "requests", "users", "seconds", "req/s", "errors", "wrong answers", "p50 ms", "p90 ms", "p99 ms",
              "server RSS MB (after warm-up → end)", "result"]  # fmt: skip
    note = "" if runs else "The long run (`make load`) has not been recorded yet.\n\n"
    return note + _table(header, rows)


SECTIONS = ("fuzz", "corpus", "faults", "security", "load")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=ROOT / "artifacts" / "reliability")
    parser.add_argument("--load", type=Path, default=ROOT / "artifacts" / "load", help="folder of loadtest JSON files")
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument(
        "--only", nargs="+", choices=SECTIONS, help="regenerate these sections and keep the others as they are"
    )
    args = parser.parse_args(argv)
    builders = {
        "fuzz": lambda: fuzz_section(args.artifacts),
        "corpus": lambda: corpus_section(args.artifacts),
        "faults": lambda: faults_section(args.artifacts),
        "security": lambda: security_section(args.artifacts),
        "load": lambda: load_section(args.artifacts, args.load),
    }
    sections = {name: build() for name, build in builders.items() if not args.only or name in args.only}
    args.doc.write_text(render(args.doc.read_text(encoding="utf-8"), sections, where=args.doc), encoding="utf-8")
    print(f"updated {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
