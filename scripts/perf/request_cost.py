"""The costliest request the API accepts, against a normal batch, in one run: what MAX_REQUEST_TOKENS bounds.

    make request-cost          # python -m scripts.perf.request_cost --doc docs/performance.md

Builds the app as ``make serve`` does, over the bundled model (int8 ONNX on the CPU, one inference thread, so the
other cores' load moves every figure alike), and times ``POST /predict/batch`` in process for a normal batch
(MAX_BATCH everyday messages, ``tests/data/everyday_messages.txt``) and for the requests that cost the most
within the limits, interleaved round by round so that a slow spell of the machine hits every request alike:

- texts of one token per character (``!``), each as long as the model reads, as many as the bound allows;
- prose texts of MAX_TEXT_CHARS (each read up to the model's length), as many as the bound allows: the same
  tokens, plus tokenizing and language-checking every character;
- MAX_BATCH texts sharing the bound, of ``!`` and of prose: the most model calls;
- and what the bound refuses, MAX_BATCH texts of MAX_TEXT_CHARS: its refusal, and its cost on an app without it.

A model call's work grows with its tokens, so no request within the bound costs more than the costliest of these.
The table (median milliseconds, ratio to the normal batch) goes into ``--doc``'s ``request-cost`` block.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "functions" / "inference" / "model"
EVERYDAY = ROOT / "tests" / "data" / "everyday_messages.txt"
BLOCK = "request-cost"
#: A character the tokenizer makes one token of: texts of it reach the model's length in the fewest characters.
MARK = "!"

#: Tokens the model reads of some texts, together.
TokenCounter = Callable[[Sequence[str]], int]


@dataclass(frozen=True)
class Case:
    """One request body to time, the tokens the model reads of it, the app that answers it and with what status."""

    name: str
    texts: list[str]
    tokens: int
    is_bounded: bool = True
    status: int = 200


def everyday_messages(count: int) -> list[str]:
    """``count`` everyday messages, spread over the file's registers (chat, reviews, work e-mail...)."""
    lines = [line.rsplit(";", 1)[0] for line in EVERYDAY.read_text(encoding="utf-8").splitlines() if line.strip()]
    step = max(1, len(lines) // count)
    return lines[::step][:count]


def longest_within(make: Callable[[int], str], count: int, budget: int, tokens: TokenCounter, most: int) -> list[str]:
    """``count`` texts ``make(chars)`` with the most characters (up to ``most``) whose tokens fit ``budget``."""
    low, high = 1, most
    while low < high:  # the largest size that fits: token counts grow with the characters
        size = (low + high + 1) // 2
        low, high = (size, high) if tokens([make(size)] * count) <= budget else (low, size - 1)
    return [make(low)] * count


def filled(make: Callable[[int], str], per_text: int, budget: int, tokens: TokenCounter, most: int) -> list[str]:
    """As many texts ``make(per_text)`` as fit ``budget`` (and ``most``), then the longest that fits what is left."""
    one = make(per_text)
    count = min(most, budget // tokens([one]))
    texts = [one] * count
    left = budget - tokens(texts)
    if count < most and left > tokens([make(1)]):
        texts += longest_within(make, 1, left, tokens, per_text)
    return texts


def cases(
    *, max_batch: int, max_text_chars: int, max_request_tokens: int, model_tokens: int, tokens: TokenCounter
) -> list[Case]:
    """The normal batch first, then the costliest requests within the bound, then the one the bound refuses."""
    normal = everyday_messages(max_batch)
    text = " ".join(normal)

    def prose(chars: int) -> str:
        return (text * (chars // len(text) + 1))[:chars]

    def marks(chars: int) -> str:
        return MARK * chars

    full = model_tokens - 2  # [CLS] and [SEP] take the other two
    budget, chars = max_request_tokens, max_text_chars
    bodies = {
        f"normal batch: {len(normal)} everyday messages": normal,
        f"`{MARK}` texts of {full} characters": filled(marks, full, budget, tokens, max_batch),
        f"prose texts of {chars:,} characters": filled(prose, chars, budget, tokens, max_batch),
        f"{max_batch} `{MARK}` texts": longest_within(marks, max_batch, budget, tokens, chars),
        f"{max_batch} prose texts": longest_within(prose, max_batch, budget, tokens, chars),
    }
    refused, costliest = [prose(chars)] * max_batch, f"{max_batch} prose texts of {chars:,} characters"
    return [
        *(Case(name, texts, tokens(texts)) for name, texts in bodies.items()),
        Case(f"{costliest}: refused (422)", refused, tokens(refused), status=422),
        Case(f"{costliest}, without the bound", refused, tokens(refused), is_bounded=False),
    ]


def measure(model_dir: Path, rounds: int, limits: dict[str, int]) -> tuple[int, list[Case], dict[str, list[float]]]:
    """The bound, the cases and their seconds per request, ``rounds`` interleaved rounds after a warm-up round."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")  # the request log lines are for CloudWatch
    from fastapi.testclient import TestClient

    from app.api import build_app
    from app.services import services_of
    from app.settings import Settings

    options: dict[str, Any] = {"model_path": model_dir, "num_threads": 1, **limits}
    bounded = Settings(**options)
    bounded_app = build_app(bounded)
    classifier = services_of(bounded_app).model_state.classifier
    if classifier is None:
        raise SystemExit(f"the model under {model_dir} did not load")
    unbounded = Settings(**{**options, "max_request_tokens": bounded.max_batch * classifier.info.max_length})
    clients = {True: TestClient(bounded_app), False: TestClient(build_app(unbounded))}
    timed = cases(
        max_batch=bounded.max_batch,
        max_text_chars=bounded.max_text_chars,
        max_request_tokens=bounded.max_request_tokens,
        model_tokens=classifier.info.max_length,
        tokens=classifier.count_tokens,
    )
    seconds: dict[str, list[float]] = {case.name: [] for case in timed}
    for round_number in range(rounds + 1):
        for case in timed:
            started = time.perf_counter()
            response = clients[case.is_bounded].post("/predict/batch", json={"texts": case.texts})
            elapsed = time.perf_counter() - started
            if response.status_code != case.status:
                raise SystemExit(f"{case.name}: {response.status_code} {response.text[:200]}")
            if round_number:  # the first round warms every path up
                seconds[case.name].append(elapsed)
    return bounded.max_request_tokens, timed, seconds


def table(timed: list[Case], seconds: dict[str, list[float]]) -> tuple[str, float]:
    """The Markdown table and the costliest accepted request's ratio to the normal batch."""
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    normal = medians[timed[0].name]
    lines = [
        "| request | texts | characters | tokens | median ms | x normal batch |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case in timed:
        lines.append(
            f"| {case.name} | {len(case.texts)} | {sum(map(len, case.texts)):,} | {case.tokens:,} | "
            f"{medians[case.name] * 1000:,.0f} | {medians[case.name] / normal:.1f} |"
        )
    costliest = max(medians[case.name] for case in timed if case.is_bounded and case.status == 200) / normal
    return "\n".join(lines), costliest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=BUNDLED)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds timed (after one warm-up round)")
    parser.add_argument("--max-request-tokens", type=int, help="the bound to measure (default: the API's default)")
    parser.add_argument("--max-batch", type=int, help="MAX_BATCH, the normal batch's size (default: the API's)")
    parser.add_argument("--doc", type=Path, help=f"write the table into this page's {BLOCK} block")
    args = parser.parse_args(argv)
    limits = {"max_request_tokens": args.max_request_tokens, "max_batch": args.max_batch}
    bound, timed, seconds = measure(
        args.model_dir.resolve(), args.rounds, {name: value for name, value in limits.items() if value}
    )
    body, costliest = table(timed, seconds)
    command = " ".join(["python -m scripts.perf.request_cost", *(sys.argv[1:] if argv is None else argv)])
    summary = (
        f"With `MAX_REQUEST_TOKENS={bound}`, the costliest request accepted took **{costliest:.1f}x** a normal "
        f"batch. Medians of {args.rounds} interleaved rounds, one inference thread, on "
        f"{len(os.sched_getaffinity(0))} cores (`{command}`)."
    )
    print(body + "\n\n" + summary)
    if args.doc:
        from scripts.common.docs_blocks import render

        page = args.doc.read_text(encoding="utf-8")
        args.doc.write_text(render(page, {BLOCK: body + "\n\n" + summary}, where=args.doc), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
