"""No function in the developer tools (scripts/) or the functions (functions/) runs over 60 lines: a longer one
holds several steps that want names of their own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 60
CHECKED = ("scripts", "functions")


def long_functions(source: str, *, limit: int = MAX_LINES) -> list[tuple[str, int]]:
    """(name, lines) of each function or method in ``source`` longer than ``limit``, decorators left out."""
    return [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > limit
    ]


def test_the_check_finds_a_function_one_line_over_the_limit() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_LINES))
    assert long_functions(f"def long():\n{body}") == [("long", MAX_LINES + 1)]
    assert long_functions(f"def short():\n{body[: body.rindex('    x')]}") == []


@pytest.mark.parametrize("folder", CHECKED)
def test_no_function_is_longer_than_60_lines(folder: str) -> None:
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, folder
    found = [
        f"{path.relative_to(ROOT)}: {name} ({lines} lines)"
        for path in files
        for name, lines in long_functions(path.read_text(encoding="utf-8"))
    ]
    assert not found, "\n".join(found)
