"""The parsed template and its inference function, shared by the template tests."""

from __future__ import annotations

from typing import Any

import pytest
from template_support import FUNCTION_ID, TEMPLATE_PATH

from scripts.common.sam_template import load_template, with_globals


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """template.yaml parsed with cfn-lint's decoder, so !Ref, !Sub, !If ... tags load."""
    return load_template(TEMPLATE_PATH)


@pytest.fixture(scope="module")
def function(template: dict[str, Any]) -> dict[str, Any]:
    """The inference function resource, with the Globals it inherits merged in (what SAM deploys)."""
    resource = template["Resources"][FUNCTION_ID]
    assert resource["Type"] == "AWS::Serverless::Function"
    return with_globals(template, resource)
