"""The writer of generated blocks in Markdown files: every figure in the docs is refilled by the script that
measures it, between markers, and the rest of the page is left as written."""

from __future__ import annotations

import re
from pathlib import Path


def replace_between(text: str, begin: str, end: str, body: str, *, where: Path | str) -> str:
    """``text`` with what lies between the ``begin`` and ``end`` marker lines replaced by ``body``.

    Raises SystemExit naming ``where`` when the markers are missing, so a moved page fails loudly.
    """
    pattern = re.compile(rf"({re.escape(begin)}\n).*?({re.escape(end)})", flags=re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{where}: no {begin} ... {end} markers")
    return pattern.sub(lambda match: match.group(1) + body.rstrip("\n") + "\n" + match.group(2), text)


def render(doc: str, sections: dict[str, str], *, where: Path | str) -> str:
    """``doc`` with each ``<!-- BEGIN GENERATED: name -->`` block's content replaced by ``sections[name]``."""
    for name, text in sections.items():
        begin, end = f"<!-- BEGIN GENERATED: {name} -->", f"<!-- END GENERATED: {name} -->"
        if begin not in doc or end not in doc:
            raise SystemExit(f"{where}: no GENERATED block named {name!r}")
        doc = replace_between(doc, begin, end, text, where=where)
    return doc
