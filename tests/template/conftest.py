"""The parsed template and its inference function, shared by the template tests."""

from __future__ import annotations

from typing import Any

import pytest
from cfnlint.decode import decode_str
from template_support import FUNCTION_ID, TEMPLATE_PATH, with_globals


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """template.yaml parsed with cfn-lint's decoder, so !Ref, !Sub, !If ... tags load."""
    parsed, matches = decode_str(TEMPLATE_PATH.read_text(encoding="utf-8"))
    assert not matches, [str(match) for match in matches]
    assert parsed is not None
    return parsed


@pytest.fixture(scope="module")
def function(template: dict[str, Any]) -> dict[str, Any]:
    """The inference function resource, with the Globals it inherits merged in (what SAM deploys)."""
    resource = template["Resources"][FUNCTION_ID]
    assert resource["Type"] == "AWS::Serverless::Function"
    return with_globals(template, resource)
