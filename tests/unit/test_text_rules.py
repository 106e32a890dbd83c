"""One set of text rules: a text the API's request schema refuses is a bulk row's error, with the same reason."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from app.bulk import row_text
from app.schemas import PredictRequest
from app.text_rules import PROBLEM_MESSAGES, text_problem


@pytest.mark.parametrize(
    ("text", "problem"),
    [("I am glad", None), ("   \n\t", "empty_text"), ("broken \ud800 text", "invalid_unicode")],
)
def test_the_schema_and_the_bulk_rows_refuse_the_same_texts_for_the_same_reason(text: str, problem: str | None) -> None:
    assert text_problem(text) == problem
    assert row_text({"text": text}, "text", 5000) == ((text, None) if problem is None else (None, problem))
    if problem is None:
        assert PredictRequest(text=text).text == text
    else:
        with pytest.raises(ValidationError, match=re.escape(PROBLEM_MESSAGES[problem])):
            PredictRequest(text=text)


def test_a_text_over_the_limit_is_too_long_only_where_a_limit_is_given() -> None:
    assert text_problem("a" * 11, max_chars=10) == "text_too_long"
    assert text_problem("a" * 11) is None
    assert row_text({"text": "a" * 11}, "text", 10) == (None, "text_too_long")
