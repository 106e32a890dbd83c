"""The rules a text must meet to be classified, in one place: the request schemas (schemas.py) refuse a text
that breaks them, and the bulk rows (bulk.py, ``make classify``, the Distributed Map) report it per row."""

from __future__ import annotations

from typing import Literal

#: Why a text cannot be classified, in the order the rules are checked.
TextProblem = Literal["empty_text", "invalid_unicode", "text_too_long"]

#: The schema's message for each problem it raises (the length limit is the route's: TextTooLongError).
PROBLEM_MESSAGES: dict[TextProblem, str] = {
    "empty_text": "text must contain at least one non-whitespace character",
    "invalid_unicode": "text must be valid Unicode (no lone surrogates)",
}


def text_problem(text: str, max_chars: int | None = None) -> TextProblem | None:
    """The first rule ``text`` breaks, or None: something to classify, encodable, at most ``max_chars`` long.

    Lone surrogates come from JSON escapes or undecodable bytes. Example: ``text_problem("  ") == "empty_text"``.
    """
    if not text.strip():
        return "empty_text"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "invalid_unicode"
    if max_chars is not None and len(text) > max_chars:
        return "text_too_long"
    return None
