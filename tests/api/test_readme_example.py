"""The README's one request and its response: what the app with the bundled model answers today, as shown.

The README's first curl block is parsed (path and JSON body), sent through the app as `make serve` builds it, and
the JSON block after it compared with the answer: the same keys in the same order, the same strings, booleans
and lists, and every probability equal to the answer's at the rounding the README shows.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api import build_app
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BUNDLED = ROOT / "functions" / "inference" / "model"
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", flags=re.MULTILINE | re.DOTALL)


def readme_example(readme: str) -> tuple[str, dict[str, Any], Any]:
    """The path and body of the README's first curl request, and the JSON response shown right after it."""
    blocks = [(language, body) for language, body in _FENCE.findall(readme)]
    position = next(i for i, (language, body) in enumerate(blocks) if language == "bash" and "curl" in body)
    command = blocks[position][1]
    path = re.search(r"https?://[^/\s]+(/\S*)", command)
    body = re.search(r"-d '([^']*)'", command)
    assert path and body, "the README's curl example names no URL or no -d body"
    language, shown = blocks[position + 1]
    assert language == "json", "the README's curl example is not followed by its JSON response"
    return path.group(1), json.loads(body.group(1)), json.loads(shown, parse_float=Decimal)


def mismatches(shown: Any, actual: Any, where: str = "response") -> list[str]:
    """Where the shown response differs from the actual one; a shown decimal matches the actual value rounded to
    as many places as it shows."""
    if isinstance(shown, Decimal):
        places = -shown.as_tuple().exponent
        ok = isinstance(actual, float) and round(Decimal(repr(actual)), int(places)) == shown
        return [] if ok else [f"{where}: README shows {shown}, the app answers {actual}"]
    if isinstance(shown, dict):
        if not isinstance(actual, dict) or list(shown) != list(actual):
            return [f"{where}: README shows keys {list(shown)}, the app answers {actual}"]
        return [problem for key in shown for problem in mismatches(shown[key], actual[key], f"{where}.{key}")]
    if isinstance(shown, list):
        if not isinstance(actual, list) or len(shown) != len(actual):
            return [f"{where}: README shows {shown}, the app answers {actual}"]
        return [
            p for i, (s, a) in enumerate(zip(shown, actual, strict=True)) for p in mismatches(s, a, f"{where}[{i}]")
        ]
    return (
        []
        if shown == actual and type(shown) is type(actual)
        else [f"{where}: README shows {shown!r}, the app answers {actual!r}"]
    )


def test_the_readme_example_is_what_the_bundled_model_answers_today() -> None:
    # GIVEN the README's request, and the app as `make serve` builds it with the bundled model
    path, body, shown = readme_example(README.read_text(encoding="utf-8"))
    with TestClient(build_app(Settings(model_path=BUNDLED))) as client:
        # WHEN the request is sent
        response = client.post(path, json=body)
    # THEN the answer is the one the README shows, field by field, at its rounding
    assert response.status_code == 200
    assert mismatches(shown, response.json()) == []
    # and it carries every field a response carries, trust included, and the two headers the README names
    assert {"reliable", "warnings"} <= set(shown)
    assert response.headers["x-request-id"] and response.headers["x-model-version"]


@pytest.mark.parametrize(
    ("shown", "actual", "differs"),
    [
        ('{"confidence": 0.993}', {"confidence": 0.99341}, False),
        ('{"confidence": 0.993}', {"confidence": 0.9946}, True),
        ('{"a": 1, "b": true}', {"b": True, "a": 1}, True),
        ('{"warnings": []}', {"warnings": ["low_confidence"]}, True),
        ('{"reliable": true}', {"reliable": 1}, True),
    ],
)
def test_the_comparison_catches_a_stale_example(shown: str, actual: dict[str, Any], differs: bool) -> None:
    # GIVEN a shown response and an actual one; THEN a difference in value, rounding, key order or type is reported
    assert bool(mismatches(json.loads(shown, parse_float=Decimal), actual)) is differs
